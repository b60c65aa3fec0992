//! Final failures: the scheduler's sweeper fails a message still `queued` at its deadline;
//! the sender and the API fail one for a reason of their own the same way.

use aws_sdk_dynamodb::types::Update;
use serde_json::json;

use super::super::{EventItem, Message, n, s};
use crate::domain::{EventType, MessageError, MessageStatus};
use crate::{Error, Result};

use super::*;

impl Outbound<'_> {
    /// Fails a message that has not gone out, with a machine-readable reason.
    pub async fn fail_message(&self, m: &Message, err: &MessageError, now: i64) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.0.table)
            .key("pk", s(m.pk()))
            .key("sk", s(m.sk()))
            .update_expression(
                "SET #st = :f, #err = :e, updated_at = :u REMOVE lease_until, ambiguous_since, duepk, duesk",
            )
            .condition_expression("#st = :q")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":f", s(MessageStatus::Failed.as_str()))
            .expression_attribute_values(":q", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(
                ":e",
                serde_dynamo::to_attribute_value(err).map_err(|e| Error::Corrupt(e.to_string()))?,
            )
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let ev = EventItem::new(
            &m.account,
            EventType::MessageStatus,
            Some(&m.conversation_id),
            json!({"message_id": m.id, "status": "failed", "reason": err.reason}),
            now,
        );
        self.0.update_with_event(upd, Some(&ev)).await
    }
}
