//! DynamoDB adapter: the access patterns of DESIGN.md as narrow operations. Dedupe and state
//! transitions use conditional writes and transactions, never read-then-write.

pub mod agents;
pub mod events;
pub mod feed;
pub mod items;
pub mod keys;
pub mod outbound;
pub mod schedule;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ConversationStatus;
use crate::{Error, Result};
pub use agents::{AgentItem, AgentPatch, AssignOutcome, Assignment, Capacity, CsatItem, RulesItem};
pub use events::EventItem;
pub use items::*;
pub use outbound::QueueOutcome;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Serialises an item, leaving out absent optional attributes instead of storing NULLs.
pub fn to_item<T: Serialize>(v: &T) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(v).map_err(|e| Error::Corrupt(e.to_string()))?;
    // Empty lists are left out too: sets added later (`ADD window_marks`) must not meet a list.
    item.retain(|_, v| {
        !matches!(v, AttributeValue::Null(_)) && !matches!(v, AttributeValue::L(l) if l.is_empty())
    });
    Ok(item)
}

/// An update expression that sets and removes the given attributes (`set` is never empty:
/// every update stamps `updated_at`).
pub(crate) fn set_remove<S: AsRef<str>>(set: &[S], remove: &[&str]) -> String {
    let set: Vec<&str> = set.iter().map(AsRef::as_ref).collect();
    let mut expr = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    expr
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn is_conditional<E>(e: &SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// `Ok(true)` when a conditional write happened, `Ok(false)` when its condition did not hold.
pub(crate) fn written<O, E>(
    res: std::result::Result<O, SdkError<E, aws_smithy_runtime_api::http::Response>>,
    op: &'static str,
) -> Result<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata
        + aws_smithy_runtime_api::client::result::CreateUnhandledError
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_conditional(&e) => Ok(false),
        Err(e) => Err(Error::dynamo(op, e.into_service_error())),
    }
}

/// Which items of a cancelled transaction failed their condition.
pub(crate) fn cancelled_conditions(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Stored,
    /// The mid guard already exists: this event was handled before.
    Duplicate,
    /// The conversation was resolved (or vanished) meanwhile.
    ConversationNotOpen,
}

/// How a new message moves its conversation.
#[derive(Debug, Clone, Copy)]
pub struct Touch {
    pub at: i64,
    /// The person wrote: the messaging window restarts.
    pub inbound: bool,
    pub require_open: bool,
    pub now: i64,
}

/// The message a new conversation is created with.
pub struct FirstMessage<'a> {
    pub msg: &'a MessageItem,
    pub mid: Option<&'a str>,
    pub touch: Touch,
    pub events: &'a [EventItem],
    /// Entries stored before it in the same transaction (the post a comment conversation is
    /// about).
    pub preface: &'a [MessageItem],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The first message's mid was stored before: nothing was created.
    Duplicate,
    /// The contact's active conversation changed meanwhile: read it again.
    ContactChanged,
}

/// When the first window mark of a window opened at `at` falls due (never in the past).
fn first_due(touch: &Touch) -> i64 {
    crate::domain::window::marks(&crate::domain::window::DEFAULT_WARNINGS_MIN, false)
        .first()
        .map_or(touch.at + crate::domain::window::STANDARD_MS, |m| {
            m.at(touch.at)
        })
        // A message that arrives late (or an old one replayed) is due now, not in a minute the
        // scheduler has already passed.
        .max(touch.now)
}

/// A new conversation item as `append_message`'s update would leave it.
fn apply_touch(c: &mut ConversationItem, t: &Touch) {
    let activity = keys::activity_sk(t.at, &c.id);
    c.gsi1sk = activity.clone();
    c.gsi2sk = activity.clone();
    c.gsi3sk = activity;
    c.last_message_at = Some(t.at);
    c.last_activity_at = t.at;
    c.updated_at = t.now;
    if t.inbound {
        let due = first_due(t);
        c.last_inbound_at = Some(t.at);
        c.window_epoch = Some(t.at);
        c.duepk = Some(keys::due_pk(due));
        c.duesk = Some(keys::due_sk(due, &c.account, &c.id));
        c.window_marks.clear();
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    /// `None`: anyone; `Some(None)`: unassigned; `Some(Some(agent))`.
    pub assignee: Option<Option<String>>,
    pub page_id: Option<String>,
    pub channel: Option<String>,
    pub limit: i32,
    pub cursor: Option<String>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenRefused {
    NotResolved,
    ContactHasOpenConversation,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid cursor")]
pub struct BadCursor;

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
        consistent: bool,
    ) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| Error::dynamo("GetItem", e.into_service_error()))?;
        out.item.map(from_item).transpose()
    }

    /// Every item a query returns, following its pages.
    pub(crate) async fn query_all<T: DeserializeOwned>(
        &self,
        q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let res = q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::dynamo("Query", e.into_service_error()))?;
            for item in res.items.unwrap_or_default() {
                out.push(from_item(item)?);
            }
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    // ---- pages ----------------------------------------------------------------------------

    pub async fn get_page(&self, page_id: &str) -> Result<Option<PageItem>> {
        self.get(keys::page(page_id), "PAGE".into(), false).await
    }

    /// Registers or updates a Page for `account`. A Page belongs to one account at a time:
    /// returns `Ok(false)` when another account holds it.
    pub async fn put_page(&self, page: &PageItem) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(page)?))
            .condition_expression("attribute_not_exists(pk) OR account = :a")
            .expression_attribute_values(":a", s(&page.account))
            .send()
            .await;
        written(res, "PutItem")
    }

    pub async fn delete_page(&self, account: &str, page_id: &str) -> Result<bool> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s("PAGE"))
            .condition_expression("account = :a")
            .expression_attribute_values(":a", s(account))
            .send()
            .await;
        written(res, "DeleteItem")
    }

    pub async fn list_pages(&self, account: &str) -> Result<Vec<PageItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(keys::account_pages(account))),
        )
        .await
    }

    // ---- settings -------------------------------------------------------------------------

    pub async fn get_settings(&self, account: &str) -> Result<Settings> {
        let item: Option<Item> = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::SETTINGS_SK))
            .send()
            .await
            .map_err(|e| Error::dynamo("GetItem", e.into_service_error()))?
            .item;
        match item {
            Some(i) => from_item(i),
            None => Ok(Settings::default()),
        }
    }

    pub async fn put_settings(&self, account: &str, settings: &Settings) -> Result<()> {
        let mut item = to_item(settings)?;
        item.insert("pk".into(), s(keys::account(account)));
        item.insert("sk".into(), s(keys::SETTINGS_SK));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::dynamo("PutItem", e.into_service_error()))?;
        Ok(())
    }

    // ---- contacts -------------------------------------------------------------------------

    pub async fn get_contact(
        &self,
        account: &str,
        contact_id: &str,
    ) -> Result<Option<ContactItem>> {
        self.get(keys::account(account), keys::contact_sk(contact_id), true)
            .await
    }

    /// Creates the contact unless it exists; `Ok(false)` when it already did.
    pub async fn create_contact(&self, c: &ContactItem) -> Result<bool> {
        self.put_if_absent(c).await
    }

    /// Stores `item` unless its key is taken; `Ok(false)` when it was.
    pub(crate) async fn put_if_absent<T: Serialize>(&self, item: &T) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(res, "PutItem")
    }

    /// Records the outcome of a User Profile API call on the contact.
    pub async fn update_contact_profile(&self, c: &ContactItem, now: i64) -> Result<()> {
        let mut set = vec![
            "profile_status = :ps".to_owned(),
            "updated_at = :u".to_owned(),
        ];
        let mut remove = vec![];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&c.pk))
            .key("sk", s(&c.sk))
            .expression_attribute_values(":ps", s(&c.profile_status))
            .expression_attribute_values(":u", n(now));
        for (attr, val) in [
            ("first_name", &c.first_name),
            ("last_name", &c.last_name),
            ("name", &c.name),
            ("picture_url", &c.picture_url),
        ] {
            if let Some(v) = val {
                set.push(format!("#{attr} = :{attr}"));
                req = req
                    .expression_attribute_names(format!("#{attr}"), attr)
                    .expression_attribute_values(format!(":{attr}"), s(v));
            }
        }
        match c.profile_retry_at {
            Some(t) => {
                set.push("profile_retry_at = :r".into());
                req = req.expression_attribute_values(":r", n(t));
            }
            None => remove.push("profile_retry_at"),
        }
        let expr = set_remove(&set, &remove);
        req.update_expression(expr)
            .send()
            .await
            .map_err(|e| Error::dynamo("UpdateItem", e.into_service_error()))?;
        Ok(())
    }

    // ---- conversations --------------------------------------------------------------------

    pub async fn get_conversation(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Option<ConversationItem>> {
        self.get(keys::conversation(account, id), keys::META.into(), true)
            .await
    }

    /// Creates a conversation, makes it the contact's active one and (usually) stores its
    /// first message, all in one transaction: nobody sees a conversation without the message
    /// that opened it, and a redelivered event cannot open a second one. `replaces` is the stale
    /// active id the caller saw (a conversation that is no longer open).
    pub async fn create_conversation(
        &self,
        conv: &ConversationItem,
        replaces: Option<&str>,
        now: i64,
        first: Option<FirstMessage<'_>>,
    ) -> Result<CreateOutcome> {
        let mut conv = conv.clone();
        if let Some(f) = &first {
            apply_touch(&mut conv, &f.touch);
        } else {
            let activity = keys::activity_sk(conv.last_activity_at.max(now), &conv.id);
            conv.gsi1sk = activity.clone();
            conv.gsi2sk = activity.clone();
            conv.gsi3sk = activity;
            conv.last_activity_at = conv.last_activity_at.max(now);
        }
        let created = EventItem::new(
            &conv.account,
            "conversation.created",
            Some(&conv.id),
            serde_json::json!({"page_id": conv.page_id, "channel": conv.channel}),
            now,
        );
        let put = self.put_new(&conv)?;
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(&conv.account)))
            .key("sk", s(conv.owner_sk()))
            .update_expression(
                "SET active_conversation_id = :c, last_conversation_id = :c, updated_at = :u",
            )
            .expression_attribute_values(":c", s(&conv.id))
            .expression_attribute_values(":u", n(now));
        upd = match replaces {
            Some(old) => upd
                .condition_expression("active_conversation_id = :old")
                .expression_attribute_values(":old", s(old)),
            None => upd.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(active_conversation_id)",
            ),
        };
        let upd = upd
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let mut items = vec![
            put,
            TransactWriteItem::builder().update(upd).build(),
            created.put(&self.table)?,
        ];
        let mut guard_index = None;
        if let Some(f) = &first {
            if let Some(mid) = f.mid {
                guard_index = Some(items.len());
                items.push(self.mid_guard_put(f.msg, mid)?);
            }
            items.push(self.put_new(f.msg)?);
            for e in f.events {
                items.push(e.put(&self.table)?);
            }
            for m in f.preface {
                items.push(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(to_item(m)?))
                                .build()
                                .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
                        )
                        .build(),
                );
            }
        }
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => match cancelled_conditions(&e) {
                Some(c) if guard_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                    Ok(CreateOutcome::Duplicate)
                }
                Some(c) if c.iter().any(|x| *x) => Ok(CreateOutcome::ContactChanged),
                _ => Err(Error::dynamo("TransactWriteItems", e.into_service_error())),
            },
        }
    }

    /// A transaction item that creates `item` and fails if its key is already taken.
    pub(crate) fn put_new<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn mid_guard_put(&self, msg: &MessageItem, mid: &str) -> Result<TransactWriteItem> {
        self.put_new(&MidItem::for_message(msg, mid))
    }

    /// One conditional update and the event it causes, in one transaction. `Ok(false)` when
    /// the update's condition did not hold (then nothing was written).
    pub(crate) async fn update_with_event(
        &self,
        upd: Update,
        event: Option<&EventItem>,
    ) -> Result<bool> {
        let mut req = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(upd).build());
        if let Some(e) = event {
            req = req.transact_items(e.put(&self.table)?);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if cancelled_conditions(&e).is_some_and(|c| c.first() == Some(&true)) => {
                Ok(false)
            }
            Err(e) => Err(Error::dynamo("TransactWriteItems", e.into_service_error())),
        }
    }

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
        let mut conv = conv.clone();
        for _ in 0..5 {
            match self.try_resolve(&conv, now).await? {
                Some(done) => return Ok(done),
                // Reassigned meanwhile: resolve what it is now.
                None => match self.get_conversation(&conv.account, &conv.id).await? {
                    Some(c) if c.status == "open" => conv = c,
                    _ => return Ok(false),
                },
            }
        }
        Err(Error::Corrupt(
            "conversation kept changing during resolve".into(),
        ))
    }

    async fn try_resolve(&self, conv: &ConversationItem, now: i64) -> Result<Option<bool>> {
        let upd = |with_contact: bool| -> Result<Vec<TransactWriteItem>> {
            let u = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&conv.pk))
                .key("sk", s(keys::META))
                .update_expression("SET #st = :r, gsi2pk = :g, resolved_at = :u, updated_at = :u")
                .condition_expression(format!(
                    "#st = :open AND {}",
                    Self::assignee_condition(conv)
                ))
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":r", s("resolved"))
                .expression_attribute_values(":open", s("open"))
                .expression_attribute_values(
                    ":g",
                    s(keys::conversations_by_status(&conv.account, "resolved")),
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
                    "conversation.updated",
                    Some(&conv.id),
                    serde_json::json!({"status": "resolved"}),
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
                    return Ok(if conv.status == "open" {
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

    /// The agent's item and `:d`, `:id`, `#load` for an update of their open-conversation count.
    pub(crate) fn load_update(
        &self,
        account: &str,
        agent: &str,
        delta: i64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::agent_sk(agent)))
            .expression_attribute_names("#load", "load")
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":id", s(agent))
    }

    /// An unconditional change of an agent's open-conversation count.
    pub(crate) fn load_item(
        &self,
        account: &str,
        agent: &str,
        delta: i64,
    ) -> Result<TransactWriteItem> {
        let u = self
            .load_update(account, agent, delta)
            .update_expression("ADD #load :d SET id = :id")
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
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
            .update_expression("SET #st = :o, gsi2pk = :g, updated_at = :u REMOVE resolved_at")
            .condition_expression(format!("#st = :r AND {}", Self::assignee_condition(conv)))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":r", s("resolved"))
            .expression_attribute_values(":o", s("open"))
            .expression_attribute_values(
                ":g",
                s(keys::conversations_by_status(&conv.account, "open")),
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
                "conversation.updated",
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

    /// Stores a message, its mid guard (when it has a Meta id) and moves the conversation, in one
    /// transaction: either all happen or none, so a redelivery after a crash cannot lose it and
    /// a second delivery cannot store it twice.
    pub async fn append_message(
        &self,
        msg: &MessageItem,
        mid: Option<&str>,
        touch: Touch,
        events: &[EventItem],
    ) -> Result<AppendOutcome> {
        let mut req = self.client.transact_write_items();
        let mut guard_index = None;
        if let Some(mid) = mid {
            req = req.transact_items(self.mid_guard_put(msg, mid)?);
            guard_index = Some(0);
        }
        req = req.transact_items(self.put_new(msg)?);
        let activity = keys::activity_sk(touch.at, &msg.conversation_id);
        let mut expr = "SET last_message_at = :t, last_activity_at = :t, gsi1sk = :a, gsi2sk = :a, gsi3sk = :a, updated_at = :u".to_owned();
        if touch.inbound {
            // A new message from the person opens a new window: reschedule its marks.
            expr.push_str(", last_inbound_at = :t, window_epoch = :t, duepk = :dp, duesk = :ds REMOVE window_marks");
        }
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&msg.pk))
            .key("sk", s(keys::META))
            .update_expression(expr)
            .expression_attribute_values(":t", n(touch.at))
            .expression_attribute_values(":a", s(activity))
            .expression_attribute_values(":u", n(touch.now));
        if touch.inbound {
            let first = first_due(&touch);
            upd = upd
                .expression_attribute_values(":dp", s(keys::due_pk(first)))
                .expression_attribute_values(
                    ":ds",
                    s(keys::due_sk(first, &msg.account, &msg.conversation_id)),
                );
        }
        upd = if touch.require_open {
            upd.condition_expression("attribute_exists(pk) AND #st = :open")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":open", s("open"))
        } else {
            upd.condition_expression("attribute_exists(pk)")
        };
        let upd = upd
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let conv_index = guard_index.map_or(1, |_| 2);
        req = req.transact_items(TransactWriteItem::builder().update(upd).build());
        for e in events {
            req = req.transact_items(e.put(&self.table)?);
        }
        match req.send().await {
            Ok(_) => Ok(AppendOutcome::Stored),
            Err(e) => match cancelled_conditions(&e) {
                Some(c) if guard_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                    Ok(AppendOutcome::Duplicate)
                }
                Some(c) if c.get(conv_index) == Some(&true) => {
                    Ok(AppendOutcome::ConversationNotOpen)
                }
                // The message key itself exists: same id and time, i.e. a duplicate.
                Some(c) if c.iter().any(|x| *x) => Ok(AppendOutcome::Duplicate),
                _ => Err(Error::dynamo("TransactWriteItems", e.into_service_error())),
            },
        }
    }

    /// Copies earlier messages into a new conversation as context (idempotent puts).
    pub async fn put_context_messages(&self, msgs: &[MessageItem]) -> Result<()> {
        for chunk in msgs.chunks(25) {
            let mut req = self.client.batch_write_item();
            let mut writes = Vec::with_capacity(chunk.len());
            for m in chunk {
                writes.push(
                    aws_sdk_dynamodb::types::WriteRequest::builder()
                        .put_request(
                            aws_sdk_dynamodb::types::PutRequest::builder()
                                .set_item(Some(to_item(m)?))
                                .build()
                                .map_err(|e| Error::dynamo("BatchWriteItem", e))?,
                        )
                        .build(),
                );
            }
            req = req.request_items(&self.table, writes);
            let mut out = req
                .send()
                .await
                .map_err(|e| Error::dynamo("BatchWriteItem", e.into_service_error()))?;
            // Unprocessed items are retried a few times; context is best effort beyond that.
            for _ in 0..3 {
                let Some(left) = out.unprocessed_items.filter(|m| !m.is_empty()) else {
                    break;
                };
                out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(left))
                    .send()
                    .await
                    .map_err(|e| Error::dynamo("BatchWriteItem", e.into_service_error()))?;
            }
        }
        Ok(())
    }

    /// The latest `limit` messages of a conversation, oldest first.
    pub async fn latest_messages(
        &self,
        account: &str,
        conv: &str,
        limit: i32,
    ) -> Result<Vec<MessageItem>> {
        let res = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":p", s(keys::conversation(account, conv)))
            .expression_attribute_values(":m", s("MSG#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| Error::dynamo("Query", e.into_service_error()))?;
        let mut items: Vec<MessageItem> = res
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        items.reverse();
        Ok(items)
    }

    /// Moves a watermark forward only: out-of-order receipts cannot move it back. The status
    /// event is written only by the receipt that moved it.
    pub async fn advance_watermark(
        &self,
        account: &str,
        conv: &str,
        attr: &'static str,
        watermark: i64,
        now: i64,
    ) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::conversation(account, conv)))
            .key("sk", s(keys::META))
            .update_expression("SET #w = :w, updated_at = :u")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#w) OR #w < :w)")
            .expression_attribute_names("#w", attr)
            .expression_attribute_values(":w", n(watermark))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let status = if attr == "read_watermark" {
            "read"
        } else {
            "delivered"
        };
        let event = EventItem::new(
            account,
            "message.status",
            Some(conv),
            serde_json::json!({"status": status, "up_to": crate::clock::rfc3339(watermark)}),
            now,
        );
        self.update_with_event(upd, Some(&event)).await
    }

    pub async fn get_mid(&self, account: &str, mid: &str) -> Result<Option<MidItem>> {
        self.get(keys::mid(account, mid), keys::MID_SK.into(), true)
            .await
    }

    /// Sets or clears the person's reaction on a message; older events cannot override newer.
    pub async fn set_reaction(
        &self,
        account: &str,
        guard: &MidItem,
        reaction: Option<serde_json::Value>,
        at: i64,
    ) -> Result<()> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::conversation(account, &guard.conversation_id)))
            .key("sk", s(&guard.message_sk))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(reaction_at) OR reaction_at <= :t)",
            )
            .expression_attribute_values(":t", n(at));
        req = match reaction {
            Some(r) => req
                .update_expression("SET reaction = :r, reaction_at = :t")
                .expression_attribute_values(
                    ":r",
                    serde_dynamo::to_attribute_value(r)
                        .map_err(|e| Error::Corrupt(e.to_string()))?,
                ),
            None => req.update_expression("SET reaction_at = :t REMOVE reaction"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional(&e) => Ok(()),
            Err(e) => Err(Error::dynamo("UpdateItem", e.into_service_error())),
        }
    }

    /// Applies an edit unless a later edit was already applied.
    pub async fn edit_message(
        &self,
        account: &str,
        guard: &MidItem,
        text: &str,
        num_edit: i64,
        at: i64,
    ) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::conversation(account, &guard.conversation_id)))
            .key("sk", s(&guard.message_sk))
            .update_expression("SET #t = :t, edit_count = :n, edited_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(edit_count) OR edit_count < :n)",
            )
            .expression_attribute_names("#t", "text")
            .expression_attribute_values(":t", s(text))
            .expression_attribute_values(":n", n(num_edit))
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    pub async fn list_conversations(
        &self,
        account: &str,
        q: &ConversationQuery,
    ) -> Result<Result<Page<ConversationItem>, BadCursor>> {
        let (index, pk_attr, pk) = match (&q.assignee, q.status) {
            (Some(a), _) => (
                "gsi3",
                "gsi3pk",
                keys::conversations_by_assignee(account, a.as_deref()),
            ),
            (None, Some(st)) => (
                "gsi2",
                "gsi2pk",
                keys::conversations_by_status(account, st.as_str()),
            ),
            (None, None) => ("gsi1", "gsi1pk", keys::conversations_all(account)),
        };
        let mut start = match q.cursor.as_deref().map(|c| decode_cursor(c, pk_attr, &pk)) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => return Ok(Err(e)),
            None => None,
        };
        let mut filters = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":p".into(), s(pk));
        if let (Some(_), Some(st)) = (&q.assignee, q.status) {
            filters.push("#st = :st");
            names.insert("#st".into(), "status".into());
            values.insert(":st".into(), s(st.as_str()));
        }
        if let Some(p) = &q.page_id {
            filters.push("page_id = :pg");
            values.insert(":pg".into(), s(p));
        }
        if let Some(c) = &q.channel {
            filters.push("channel = :ch");
            values.insert(":ch".into(), s(c));
        }
        let limit = q.limit.clamp(1, 100);
        let mut items = Vec::new();
        let mut next = None;
        // A filter can leave a page short; read on a bounded number of pages, then hand back a
        // cursor so the caller continues.
        for _ in 0..10 {
            let remaining = limit - items.len() as i32;
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(format!("{pk_attr} = :p"))
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names((!names.is_empty()).then(|| names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::dynamo("Query", e.into_service_error()))?;
            for item in res.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            next = res.last_evaluated_key.filter(|k| !k.is_empty());
            if next.is_none() || items.len() as i32 >= limit {
                break;
            }
            start = next.clone();
        }
        Ok(Ok(Page {
            items,
            next_cursor: next.as_ref().map(encode_cursor),
        }))
    }

    pub async fn list_messages(
        &self,
        account: &str,
        conv: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Result<Page<MessageItem>, BadCursor>> {
        let pk = keys::conversation(account, conv);
        let start = match cursor.map(|c| decode_cursor(c, "pk", &pk)) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => return Ok(Err(e)),
            None => None,
        };
        let res = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":p", s(pk))
            .expression_attribute_values(":m", s("MSG#"))
            .limit(limit.clamp(1, 200))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::dynamo("Query", e.into_service_error()))?;
        let items = res
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        let next = res.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Ok(Page {
            items,
            next_cursor: next.as_ref().map(encode_cursor),
        }))
    }
}

/// Cursors are the last evaluated key, base64url JSON of its string attributes.
pub fn encode_cursor(key: &Item) -> String {
    let m: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&m).unwrap_or_default())
}

/// Decodes a cursor and checks it belongs to the partition being read, so a cursor from one
/// list (or account) cannot be replayed against another.
pub fn decode_cursor(c: &str, pk_attr: &str, expected_pk: &str) -> Result<Item, BadCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| BadCursor)?;
    let m: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
    if m.get(pk_attr).map(String::as_str) != Some(expected_pk) {
        return Err(BadCursor);
    }
    Ok(m.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_refuses_other_partitions() {
        let mut k = Item::new();
        k.insert("pk".into(), s("ACC#a#CONV#c"));
        k.insert("sk".into(), s("MSG#1"));
        let c = encode_cursor(&k);
        assert_eq!(decode_cursor(&c, "pk", "ACC#a#CONV#c").unwrap(), k);
        assert!(decode_cursor(&c, "pk", "ACC#b#CONV#c").is_err());
        assert!(decode_cursor("%%%", "pk", "x").is_err());
    }

    #[test]
    fn items_drop_absent_attributes() {
        let c = ContactItem {
            pk: "p".into(),
            sk: "s".into(),
            ..Default::default()
        };
        let item = to_item(&c).unwrap();
        assert!(!item.contains_key("name"));
        let back: ContactItem = from_item(item).unwrap();
        assert_eq!(back, c);
    }
}
