//! Queueing an outbound message: the agent API's replies (idempotent by `client_id`, in the
//! standard window without a read), automatic messages, and a retry of a failed one.

use crate::store::failed;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use super::super::{ClientItem, EventItem, Message, keys, n, s, written};
use crate::domain::{AuthorType, ConversationStatus, MessageStatus};
use crate::{Error, Result};

use super::*;
use crate::store::update::{UpdateExpr, status_condition};

impl Outbound<'_> {
    async fn client_item(
        &self,
        account: &str,
        conv: &str,
        client_id: &str,
    ) -> Result<Option<ClientItem>> {
        self.0
            .get(
                keys::conversation(account, conv),
                keys::client_sk(client_id),
                true,
            )
            .await
    }

    /// The message an earlier call with this `client_id` made, if any.
    pub async fn message_for_client(
        &self,
        account: &str,
        conv: &str,
        client_id: &str,
    ) -> Result<Option<Message>> {
        match self.client_item(account, conv, client_id).await? {
            Some(c) => self.0.get_message(account, conv, &c.message_sk).await,
            None => Ok(None),
        }
    }

    /// What a reply is checked against, in one request: the conversation, the account's
    /// settings and, for a `client_id`, the guard an earlier call with it left.
    pub async fn reply_context(
        &self,
        account: &str,
        conv: &str,
        client_id: Option<&str>,
    ) -> Result<ReplyState> {
        let mut wanted = vec![
            (keys::conversation(account, conv), keys::META.to_owned()),
            (keys::account(account), keys::SETTINGS_SK.to_owned()),
        ];
        if let Some(cid) = client_id {
            wanted.push((keys::conversation(account, conv), keys::client_sk(cid)));
        }
        let found = self.0.batch_get(wanted, true).await?;
        let mut ctx = ReplyState::default();
        for item in found {
            match item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::META) => ctx.conversation = Some(crate::store::from_item(item)?),
                Some(keys::SETTINGS_SK) => ctx.settings = crate::store::from_item(item)?,
                Some(_) => ctx.client = Some(crate::store::from_item(item)?),
                None => {}
            }
        }
        // The Page's own settings, read only for a Page that has some.
        if let Some(page) = ctx.conversation.as_ref().map(|c| c.page_id.clone()) {
            let account_settings = std::mem::take(&mut ctx.settings);
            ctx.settings = self.0.for_page(account, &page, account_settings).await?;
        }
        Ok(ctx)
    }

    /// Stores a queued outbound message and the conversation's new activity. Without `event`
    /// and for anything but a private comment reply, with plain conditional writes in an
    /// order whose every crash the caller's retry repairs: the `client_id` guard (which holds
    /// the message's key, so a retry makes the same message), the conversation (open), then
    /// the message, its own `message.created` event through the `feed` index. With `event`
    /// (an automatic message and its event) or a private reply (whose guard must not outlive a
    /// message that never was), one transaction.
    /// `require_active: false` is for the survey sent as a conversation is resolved.
    pub async fn queue_message(
        &self,
        msg: &Message,
        now: i64,
        event: Option<&EventItem>,
        require_active: bool,
    ) -> Result<QueueOutcome> {
        if event.is_none() && !msg.private {
            return self.queue_plain(msg, now, require_active).await;
        }
        let mut put = self.0.put_new(&Queued::new(msg, now))?;
        if event.is_none()
            && let Some(p) = put.put.as_mut()
        {
            // `transact` stamps its place (`feedsk`) before each attempt.
            p.item
                .insert("feedpk".into(), s(keys::events(&msg.account)));
        }
        let touch = self.touch_for_reply(msg, now, require_active, None)?;
        let mut items = vec![put, TransactWriteItem::builder().update(touch).build()];
        if let Some(e) = event {
            items.push(e.put(&self.0.table)?);
        }
        let client_index = items.len();
        if let Some(cid) = &msg.client_id {
            items.push(
                self.0
                    .put_new(&ClientItem::for_message(msg, keys::client_sk(cid)))?,
            );
        }
        let mut private_index = None;
        if msg.private
            && let Some(comment) = &msg.comment_id
        {
            private_index = Some(items.len());
            items.push(self.0.put_new(&ClientItem::for_message(
                msg,
                keys::private_reply_sk(comment),
            ))?);
        }
        let mut behind = false;
        loop {
            return match self.0.transact(items.clone()).await? {
                None => Ok(QueueOutcome::Stored),
                Some(c) if private_index.is_some_and(|i| c.get(i) == Some(&true)) => {
                    Ok(QueueOutcome::PrivateReplyExists)
                }
                Some(c) if msg.client_id.is_some() && c.get(client_index) == Some(&true) => {
                    let cid = msg.client_id.as_deref().unwrap_or_default();
                    match self
                        .message_for_client(&msg.account, &msg.conversation_id, cid)
                        .await?
                    {
                        Some(m) => Ok(QueueOutcome::Existing(Box::new(m))),
                        None => Err(Error::Corrupt("client id guard without its message".into())),
                    }
                }
                Some(c) if c.get(1) == Some(&true) => {
                    // A conversation whose last message is newer than this one is not moved:
                    // the message goes in behind it, and the transaction only checks that the
                    // conversation is there (and open, and with the AI agent for its message).
                    match self.why_refused(msg, require_active).await? {
                        Refused::Behind if !behind => {
                            behind = true;
                            items[1] = self.conversation_check(msg, require_active)?;
                            continue;
                        }
                        Refused::NotWithAiAgent => Ok(QueueOutcome::NotWithAiAgent),
                        _ => Ok(QueueOutcome::ConversationNotOpen),
                    }
                }
                // The message's own key taken: an id clash, which a retry with a new id settles.
                Some(_) => Err(Error::Corrupt("queued message key already taken".into())),
            };
        }
    }

    /// The transaction item that only checks that `msg`'s conversation is there (and open).
    fn conversation_check(&self, msg: &Message, require_active: bool) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.0.table)
            .key("pk", s(msg.pk()))
            .key("sk", s(keys::META));
        let mut condition = "attribute_exists(pk)".to_owned();
        let mut check = check;
        if require_active {
            let (active, values) = status_condition(ConversationStatus::ACTIVE);
            condition.push_str(&format!(" AND {active}"));
            check = check.expression_attribute_names("#st", "status");
            for (p, v) in values {
                check = check.expression_attribute_values(p, v);
            }
        }
        if msg.author_type == AuthorType::Bot {
            condition.push_str(&format!(" AND {WITH_AI_AGENT}"));
            check = check.expression_attribute_values(":bot", AttributeValue::Bool(true));
        }
        let check = check.condition_expression(condition);
        Ok(TransactWriteItem::builder()
            .condition_check(
                check
                    .build()
                    .map_err(|e| Error::dynamo("TransactWriteItems", e))?,
            )
            .build())
    }

    /// After the conversation's update failed, why: the conversation is still there (and open
    /// when that is required, and with the AI agent for the AI agent's message) and only its
    /// newer last message stopped the update (the message then goes in behind that one without
    /// moving the conversation), or it is not.
    async fn why_refused(&self, msg: &Message, require_active: bool) -> Result<Refused> {
        let Some(c) = self
            .0
            .get_conversation(&msg.account, &msg.conversation_id)
            .await?
        else {
            return Ok(Refused::NotOpen);
        };
        Ok(if require_active && !c.status.is_active() {
            Refused::NotOpen
        } else if msg.author_type == AuthorType::Bot && !c.with_ai_agent() {
            Refused::NotWithAiAgent
        } else if c.last_message_at.is_some_and(|t| t > msg.created_at) {
            Refused::Behind
        } else {
            Refused::NotOpen
        })
    }

    /// The conversation's new activity for an outbound message (the transaction's and the
    /// plain path's one update). `in_window` also requires what a reply stored without a read
    /// needs: a Send API conversation whose standard window is open at that time.
    fn touch_for_reply(
        &self,
        msg: &Message,
        now: i64,
        require_active: bool,
        in_window: Option<i64>,
    ) -> Result<Update> {
        let mut u = UpdateExpr::new();
        crate::store::conversations::touch(&mut u, msg, msg.created_at, now)?;
        // The away message stays quiet for a while after a person answered.
        if msg.author_type == AuthorType::Agent {
            u.set("last_agent_reply_at = :t");
        }
        u.condition("attribute_exists(pk)");
        if require_active {
            u.status_in(ConversationStatus::ACTIVE);
        }
        // The AI agent speaks only while the conversation is its own, at the write: a person
        // who claimed it after the API's read has it (the check on that read is not enough).
        if msg.author_type == AuthorType::Bot {
            u.condition(WITH_AI_AGENT)
                .value(":bot", AttributeValue::Bool(true));
        }
        // Never back: a message newer than this one (a person's, stamped by Meta's clock, or
        // a later reply when this is a retry finishing an earlier call) keeps its place.
        u.condition("(attribute_not_exists(last_message_at) OR last_message_at <= :t)");
        if let Some(at) = in_window {
            let mut channels = Vec::new();
            // Only channels whose text limit this text fits: a longer one (Instagram's 1000)
            // takes the path that reads the conversation and says why.
            let chars = msg.text.as_deref().map_or(0, |t| t.chars().count());
            for (i, ch) in crate::domain::Channel::ALL
                .iter()
                .filter(|c| c.reply_route() == crate::domain::ReplyRoute::SendApi)
                .filter(|c| c.max_text_chars() >= chars)
                .enumerate()
            {
                channels.push(format!(":ch{i}"));
                u.value(&format!(":ch{i}"), s(ch.as_str()));
            }
            u.condition(format!("#chan IN ({})", channels.join(", ")))
                .condition("last_inbound_at > :since")
                .name("#chan", "channel")
                .value(":since", n(crate::domain::window::standard_open_after(at)));
        }
        u.build(&self.0.table, &msg.pk(), keys::META)
    }

    async fn queue_plain(
        &self,
        msg: &Message,
        now: i64,
        require_active: bool,
    ) -> Result<QueueOutcome> {
        if let Some(cid) = &msg.client_id {
            let guard = ClientItem::for_message(msg, keys::client_sk(cid));
            if !self.0.put_if_absent(&guard).await? {
                // Taken: by this message (a retry finishing what a failed call began), or
                // by another one.
                match self
                    .client_item(&msg.account, &msg.conversation_id, cid)
                    .await?
                {
                    Some(g) if g.message_sk == msg.reference() => {}
                    Some(g) => {
                        return Ok(
                            match self
                                .0
                                .get_message(&msg.account, &msg.conversation_id, &g.message_sk)
                                .await?
                            {
                                Some(m) => QueueOutcome::Existing(Box::new(m)),
                                None => QueueOutcome::InProgress,
                            },
                        );
                    }
                    None => return Err(Error::Corrupt("client id guard vanished".into())),
                }
            }
        }
        let touch = self.touch_for_reply(msg, now, require_active, None)?;
        let res = self.0.update_item(touch).send().await;
        if !written(res, "UpdateItem")? {
            let refused = match self.why_refused(msg, require_active).await? {
                Refused::Behind => None,
                Refused::NotOpen => Some(QueueOutcome::ConversationNotOpen),
                Refused::NotWithAiAgent => Some(QueueOutcome::NotWithAiAgent),
            };
            if let Some(outcome) = refused {
                if let Some(cid) = &msg.client_id {
                    self.forget_client_guard(&ClientItem::for_message(msg, keys::client_sk(cid)))
                        .await?;
                }
                return Ok(outcome);
            }
        }
        match self.0.put_in_feed(&Queued::new(msg, now), msg).await? {
            crate::store::messages::AppendOutcome::Stored => Ok(QueueOutcome::Stored),
            // The message's own key taken: a retry of a call that got this far, or an id
            // clash (which a retry with a new id settles).
            _ => match self
                .0
                .get_message(&msg.account, &msg.conversation_id, &msg.reference())
                .await?
            {
                Some(m) if m.client_id.is_some() && m.client_id == msg.client_id => {
                    Ok(QueueOutcome::Existing(Box::new(m)))
                }
                _ => Err(Error::Corrupt("queued message key already taken".into())),
            },
        }
    }

    /// A person's reply to a Send API conversation whose standard window is open, stored
    /// without reading anything first: the checks the API would make on a read are the
    /// conversation update's condition (there, open, answered through the Send API, its last
    /// inbound message less than 24 hours old, no newer last message), and the update returns
    /// the conversation the job and the answer need. Everything else (a comment conversation,
    /// the human-agent window, a reply that goes in behind, a repeated `client_id`) comes back
    /// as [`InWindow::Refused`] or [`InWindow::ClientSeen`] for the path that reads first.
    /// The order of the writes is `queue_message`'s, so the same retry repairs a crash.
    pub async fn queue_reply_in_window(&self, msg: &Message, now: i64) -> Result<InWindow> {
        let guard = msg
            .client_id
            .as_ref()
            .map(|cid| ClientItem::for_message(msg, keys::client_sk(cid)));
        if let Some(g) = &guard
            && !self.0.put_if_absent(g).await?
        {
            return Ok(InWindow::ClientSeen);
        }
        let touch = self.touch_for_reply(msg, now, true, Some(now))?;
        let res = self
            .0
            .update_item(touch)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let conv: crate::store::ConversationItem = match res {
            Ok(out) => crate::store::from_item(out.attributes.unwrap_or_default())?,
            Err(e) => {
                return match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        Ok(InWindow::Refused {
                            conversation: match c.item.clone() {
                                Some(item) => Some(Box::new(crate::store::from_item(item)?)),
                                None => None,
                            },
                            guard,
                        })
                    }
                    _ => Err(failed("UpdateItem")(e)),
                };
            }
        };
        match self.0.put_in_feed(&Queued::new(msg, now), msg).await? {
            crate::store::messages::AppendOutcome::Stored => Ok(InWindow::Stored(Box::new(conv))),
            // A fresh id taken: a clash, which a retry with a new id settles.
            _ => Err(Error::Corrupt("queued message key already taken".into())),
        }
    }

    /// Takes back the `client_id` guard a refused call put, so that a later call with the
    /// same id is checked afresh instead of finishing a message that was never allowed.
    pub async fn forget_client_guard(&self, guard: &ClientItem) -> Result<()> {
        let res = self
            .0
            .client
            .delete_item()
            .table_name(&self.0.table)
            .key("pk", s(&guard.pk))
            .key("sk", s(&guard.sk))
            .condition_expression("message_sk = :m")
            .expression_attribute_values(":m", s(guard.message_sk.key()))
            .send()
            .await;
        written(res, "DeleteItem").map(|_| ())
    }

    /// Puts a message that failed only because it could not be queued back to `queued`.
    pub async fn requeue_message(&self, m: &Message, now: i64) -> Result<bool> {
        let deadline = now + UNSENT_DEADLINE_MS;
        let res = self
            .0
            .update_message(m)
            .update_expression(
                "SET #st = :q, updated_at = :u, duepk = :dp, duesk = :ds REMOVE #err",
            )
            .expression_attribute_values(":dp", s(keys::due_pk(deadline)))
            .expression_attribute_values(
                ":ds",
                s(keys::due_message_sk(
                    deadline,
                    &m.account,
                    &m.conversation_id,
                    &m.sk(),
                )),
            )
            .condition_expression("#st = :f AND #err.reason = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(":f", s(MessageStatus::Failed.as_str()))
            .expression_attribute_values(":r", s("queue_unavailable"))
            .expression_attribute_values(":u", n(now))
            .send()
            .await;
        written(res, "UpdateItem")
    }
}
