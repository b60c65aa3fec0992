//! A conversation's end and return: resolved (by a person, the AI agent or the scheduler)
//! with its owner pointer freed and its assignee's load lowered, in one transaction; reopened
//! when the contact has no other open one. Snoozing is in `snooze.rs`.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::update::status_condition;
use super::*;
use crate::domain::{ConversationStatus, EventType};
use crate::{Error, Result};

/// Who resolves a conversation (its `resolved_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    Person,
    AiAgent,
    Auto,
}

impl Resolver {
    fn as_str(self) -> &'static str {
        match self {
            Resolver::Person => "agent",
            Resolver::AiAgent => "ai_agent",
            Resolver::Auto => "auto",
        }
    }
}

/// What resolving found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Resolved,
    NotOpen,
    /// The AI agent asked, and the conversation is no longer with it.
    NotWithAiAgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenRefused {
    NotResolved,
    ContactHasOpenConversation,
}

impl Store {
    /// The condition that the conversation still has the assignee `conv` shows.
    fn same_assignee(
        u: aws_sdk_dynamodb::types::builders::UpdateBuilder,
        conv: &ConversationItem,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        match &conv.assignee {
            Some(a) => u.expression_attribute_values(":as", s(a)),
            None => u,
        }
    }

    fn assignee_condition(conv: &ConversationItem) -> &'static str {
        if conv.assignee.is_some() {
            "assignee = :as"
        } else {
            "attribute_not_exists(assignee)"
        }
    }

    /// Resolves an open conversation, frees the contact for a new one and takes it off its
    /// assignee's load, in one transaction. `Ok(false)` when it was not open.
    pub async fn resolve_conversation(&self, conv: &ConversationItem, now: i64) -> Result<bool> {
        Ok(self.resolve(conv, now, Resolver::Person).await? == Resolution::Resolved)
    }

    /// The scheduler resolving a conversation that waited on the person: only if nothing was
    /// written to it since `conv` was read (its `last_message_at`), and never retried on a
    /// changed conversation (the next team reply schedules it again).
    pub async fn resolve_automatically(&self, conv: &ConversationItem, now: i64) -> Result<bool> {
        Ok(self.try_resolve(conv, now, Resolver::Auto).await? == Some(true))
    }

    /// The AI agent resolving: only while the conversation is with it, as the write finds it
    /// (a person who claimed it after the caller's read keeps it open), and at every retry.
    pub async fn resolve_as_ai_agent(
        &self,
        conv: &ConversationItem,
        now: i64,
    ) -> Result<Resolution> {
        self.resolve(conv, now, Resolver::AiAgent).await
    }

    async fn resolve(&self, conv: &ConversationItem, now: i64, by: Resolver) -> Result<Resolution> {
        let mut conv = conv.clone();
        for _ in 0..5 {
            if by == Resolver::AiAgent && !conv.with_ai_agent() {
                return Ok(Resolution::NotWithAiAgent);
            }
            match self.try_resolve(&conv, now, by).await? {
                Some(true) => return Ok(Resolution::Resolved),
                Some(false) => return Ok(Resolution::NotOpen),
                // Reassigned meanwhile: resolve what it is now (if it is still the caller's).
                None => match self.get_conversation(&conv.account, &conv.id).await? {
                    Some(c) if c.status.is_active() => conv = c,
                    _ => return Ok(Resolution::NotOpen),
                },
            }
        }
        Err(Error::Corrupt(
            "conversation kept changing during resolve".into(),
        ))
    }

    async fn try_resolve(
        &self,
        conv: &ConversationItem,
        now: i64,
        by: Resolver,
    ) -> Result<Option<bool>> {
        let upd = |with_contact: bool| -> Result<Vec<TransactWriteItem>> {
            // A snoozed conversation may be resolved by a person; the scheduler resolves only
            // what is open and still waits on the person.
            let (status, values) = status_condition(if by == Resolver::Auto {
                &[ConversationStatus::Open]
            } else {
                ConversationStatus::ACTIVE
            });
            let mut condition = format!("{status} AND {}", Self::assignee_condition(conv));
            let mut u = Update::builder();
            for (p, v) in values {
                u = u.expression_attribute_values(p, v);
            }
            match by {
                Resolver::AiAgent => {
                    condition.push_str(" AND bot_active = :bot");
                    u = u.expression_attribute_values(":bot", AttributeValue::Bool(true));
                }
                Resolver::Auto => {
                    condition.push_str(" AND last_message_at = :lm");
                    u = u.expression_attribute_values(
                        ":lm",
                        n(conv.last_message_at.unwrap_or_default()),
                    );
                }
                Resolver::Person => {}
            }
            let u = u
                .table_name(&self.table)
                .key("pk", s(&conv.pk))
                .key("sk", s(keys::META))
                .update_expression(
                    "SET #st = :r, gsi2pk = :g, resolved_at = :u, updated_at = :u, resolved_by = :by REMOVE snoozed_until",
                )
                .expression_attribute_values(":by", s(by.as_str()))
                .condition_expression(condition)
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":r", s(ConversationStatus::Resolved.as_str()))
                .expression_attribute_values(
                    ":g",
                    s(keys::conversations_by_status(
                        &conv.account,
                        ConversationStatus::Resolved,
                    )),
                )
                .expression_attribute_values(":u", n(now));
            let mut out = vec![
                TransactWriteItem::builder()
                    .update(
                        Self::same_assignee(u, conv)
                            .build()
                            .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                    )
                    .build(),
            ];
            out.push(
                EventItem::new(
                    &conv.account,
                    EventType::ConversationUpdated,
                    Some(&conv.id),
                    serde_json::json!({"status": "resolved", "resolved_by": by.as_str()}),
                    now,
                )
                .put(&self.table)?,
            );
            if with_contact {
                out.push(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(&self.table)
                                .key("pk", s(keys::account(&conv.account)))
                                .key("sk", s(conv.owner_sk()))
                                .update_expression(
                                    "REMOVE active_conversation_id SET updated_at = :u",
                                )
                                .condition_expression("active_conversation_id = :c")
                                .expression_attribute_values(":c", s(&conv.id))
                                .expression_attribute_values(":u", n(now))
                                .build()
                                .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                        )
                        .build(),
                );
            }
            if let Some(a) = &conv.assignee {
                out.push(self.load_item(&conv.account, a, -1)?);
            }
            Ok(out)
        };
        for with_contact in [true, false] {
            match self.transact(upd(with_contact)?).await? {
                None => return Ok(Some(true)),
                Some(c) if c.first() == Some(&true) => {
                    return Ok(if conv.status.is_active() {
                        None
                    } else {
                        Some(false)
                    });
                }
                // The contact already moved on to another conversation: resolve this one alone.
                Some(c) if c.get(2) == Some(&true) => continue,
                Some(_) => return Ok(Some(false)),
            }
        }
        Ok(Some(false))
    }

    /// Reopens a resolved conversation if the contact has no other open one; it counts again on
    /// its assignee's load.
    pub async fn reopen_conversation(
        &self,
        conv: &ConversationItem,
        now: i64,
    ) -> Result<Result<(), ReopenRefused>> {
        let conv_upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .update_expression(
                "SET #st = :o, gsi2pk = :g, updated_at = :u REMOVE resolved_at, resolved_by",
            )
            .condition_expression(format!("#st = :r AND {}", Self::assignee_condition(conv)))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":r", s(ConversationStatus::Resolved.as_str()))
            .expression_attribute_values(":o", s(ConversationStatus::Open.as_str()))
            .expression_attribute_values(
                ":g",
                s(keys::conversations_by_status(
                    &conv.account,
                    ConversationStatus::Open,
                )),
            )
            .expression_attribute_values(":u", n(now));
        let conv_upd = Self::same_assignee(conv_upd, conv)
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let contact_upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(&conv.account)))
            .key("sk", s(conv.owner_sk()))
            .update_expression(
                "SET active_conversation_id = :c, last_conversation_id = :c, updated_at = :u",
            )
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(active_conversation_id)",
            )
            .expression_attribute_values(":c", s(&conv.id))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let mut items = vec![
            TransactWriteItem::builder().update(conv_upd).build(),
            TransactWriteItem::builder().update(contact_upd).build(),
            EventItem::new(
                &conv.account,
                EventType::ConversationUpdated,
                Some(&conv.id),
                serde_json::json!({"status": "open"}),
                now,
            )
            .put(&self.table)?,
        ];
        if let Some(a) = &conv.assignee {
            items.push(self.load_item(&conv.account, a, 1)?);
        }
        match self.transact(items).await? {
            None => Ok(Ok(())),
            Some(c) if c.first() == Some(&true) => Ok(Err(ReopenRefused::NotResolved)),
            Some(c) if c.get(1) == Some(&true) => {
                Ok(Err(ReopenRefused::ContactHasOpenConversation))
            }
            Some(_) => Ok(Err(ReopenRefused::NotResolved)),
        }
    }
}
