//! The scheduler's reads and writes: the `due` index by minute, the marks a conversation has
//! had, and the cursor of minutes already handled.

use crate::store::failed;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{EventItem, Store, from_item, keys, n, s, written};
use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct DueRef {
    pub account: String,
    pub conversation_id: String,
    /// Set when what is due is an outbound message still `queued` at its deadline (the
    /// sweeper's), not a window mark of the conversation.
    pub message: Option<crate::store::MessageRef>,
    /// Set when what is due is a Page's health check (`conversation_id` is empty then).
    pub page_id: Option<String>,
    /// Set when what is due is the conversation's auto-resolve moment.
    pub auto_resolve: bool,
}

impl Store {
    /// Conversations with a mark due in `minute` at or before `upto` (epoch ms).
    pub async fn due_in_minute(&self, minute: i64, upto: i64) -> Result<Vec<DueRef>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("due")
                .key_condition_expression("duepk = :p AND duesk <= :hi")
                .expression_attribute_values(":p", s(format!("DUE#{minute}")))
                .expression_attribute_values(":hi", s(format!("{upto:013}~")))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(failed("Query"))?;
            for item in res.items.unwrap_or_default() {
                let sk = item
                    .get("duesk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let mut parts = sk.splitn(4, '#');
                let (_, Some(a), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                let rest = parts.next().map(str::to_owned);
                out.push(if c == "PAGE" {
                    DueRef {
                        account: a.to_owned(),
                        conversation_id: String::new(),
                        message: None,
                        page_id: rest,
                        auto_resolve: false,
                    }
                } else if rest.as_deref() == Some(keys::AUTO_RESOLVE_SK) {
                    DueRef {
                        account: a.to_owned(),
                        conversation_id: c.to_owned(),
                        message: None,
                        page_id: None,
                        auto_resolve: true,
                    }
                } else {
                    DueRef {
                        account: a.to_owned(),
                        conversation_id: c.to_owned(),
                        message: rest.map(crate::store::MessageRef::from_key),
                        page_id: None,
                        auto_resolve: false,
                    }
                });
            }
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Settles a due conversation in one write: records `marks` for the window that began at
    /// `epoch` and moves the conversation to the minute of its next mark (or out of the
    /// index). The marks' `events` go first, as plain puts (a transaction would bill each
    /// item twice): a run that dies between them and the update finds the marks still due
    /// next minute and announces them again, at least once and never lost. The scheduler
    /// runs one at a time (reserved concurrency 1), so only such a crash repeats one. When
    /// the person wrote meanwhile (a new window) the update is refused: `Ok(false)`; an
    /// event already put then announced the old window's mark just as the new one began.
    pub async fn settle_marks(
        &self,
        account: &str,
        conv: &str,
        epoch: i64,
        marks: &[String],
        events: &[EventItem],
        next: Option<i64>,
    ) -> Result<bool> {
        for e in events {
            self.put_event(e).await?;
        }
        let mut req = self
            .update_row(&keys::conversation(account, conv), keys::META)
            .condition_expression("window_epoch = :e")
            .expression_attribute_values(":e", n(epoch));
        let mut expr = String::new();
        if !marks.is_empty() {
            expr.push_str("ADD window_marks :m ");
            req = req.expression_attribute_values(":m", AttributeValue::Ss(marks.to_vec()));
        }
        req = match next {
            Some(at) => {
                expr.push_str("SET duepk = :p, duesk = :s");
                req.expression_attribute_values(":p", s(keys::due_pk(at)))
                    .expression_attribute_values(":s", s(keys::due_sk(at, account, conv)))
            }
            None => {
                expr.push_str("REMOVE duepk, duesk");
                req
            }
        };
        written(req.update_expression(expr).send().await, "UpdateItem")
    }

    /// Puts the conversation's auto-resolve moment at `at` (epoch ms), replacing the one
    /// before: the team's latest message decides it. The row expires by TTL a week after its
    /// moment (the scheduler takes it out of the index, and deletes nothing).
    pub async fn schedule_auto_resolve(&self, account: &str, conv: &str, at: i64) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::conversation(account, conv)))
            .item("sk", s(keys::AUTO_RESOLVE_SK))
            .item("duepk", s(keys::due_pk(at)))
            .item("duesk", s(keys::due_auto_resolve_sk(at, account, conv)))
            .item("expires_at", n((at + 7 * 86_400_000) / 1000))
            .send()
            .await
            .map_err(failed("PutItem"))?;
        Ok(())
    }

    /// Takes the auto-resolve moment out of the index (its row goes with its TTL).
    pub async fn unschedule_auto_resolve(&self, account: &str, conv: &str) -> Result<()> {
        let res = self
            .update_row(&keys::conversation(account, conv), keys::AUTO_RESOLVE_SK)
            .update_expression("REMOVE duepk, duesk")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }

    pub async fn unschedule(&self, account: &str, conv: &str) -> Result<()> {
        let res = self
            .update_row(&keys::conversation(account, conv), keys::META)
            .update_expression("REMOVE duepk, duesk")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        // A conversation that is gone has nothing to unschedule.
        written(res, "UpdateItem").map(|_| ())
    }

    /// The last minute the scheduler finished.
    pub async fn scheduler_cursor(&self) -> Result<Option<i64>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s("SCHEDULER"))
            .key("sk", s("CURSOR"))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        #[derive(serde::Deserialize)]
        struct C {
            minute: i64,
        }
        Ok(out.item.map(from_item::<C>).transpose()?.map(|c| c.minute))
    }

    /// Moves the cursor forward only, so a slow concurrent run cannot move it back.
    pub async fn advance_scheduler_cursor(&self, minute: i64) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("SCHEDULER"))
            .key("sk", s("CURSOR"))
            .update_expression("SET #m = :m")
            .condition_expression("attribute_not_exists(#m) OR #m < :m")
            .expression_attribute_names("#m", "minute")
            .expression_attribute_values(":m", n(minute))
            .send()
            .await;
        written(res, "UpdateItem").map(|_| ())
    }
}
