//! The scheduler's reads and writes: the `due` index by minute, the marks a conversation has
//! had, and the cursor of minutes already handled.

use crate::store::failed;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{EventItem, Store, from_item, keys, n, s, written};
use crate::Result;

/// What is due in a minute of the `due` index.
#[derive(Debug, Clone, PartialEq)]
pub struct DueRef {
    pub account: String,
    /// Empty for a Page's health check.
    pub conversation_id: String,
    /// The moment it is due (epoch ms).
    pub at: i64,
    pub kind: Due,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The conversation's next messaging-window mark.
    Window,
    /// An outbound message still `queued` at its deadline (the sweeper's).
    Unsent(crate::store::MessageRef),
    /// A Page's health check.
    PageHealth { page_id: String },
    /// One of the conversation's timers.
    Timer(Timer),
}

/// A moment of a conversation kept in a row of its own (`ACC#<a>#CONV#<c>` / the timer's
/// sort key), so the conversation's window marks and its timers never overwrite each other.
/// Each row is put again to move it; the scheduler takes it out of the index with an update
/// conditioned on the moment it read, so a timer moved meanwhile stays, and deletes nothing
/// (the row expires a week after its moment by TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The conversation is resolved if it still waits on the person (`auto_resolve_hours`).
    AutoResolve,
    /// A snoozed conversation opens again.
    SnoozeEnds,
}

impl Timer {
    const ALL: [Timer; 2] = [Timer::AutoResolve, Timer::SnoozeEnds];

    /// The row's sort key in the conversation's partition.
    pub const fn sk(self) -> &'static str {
        match self {
            Timer::AutoResolve => "AUTORESOLVE",
            Timer::SnoozeEnds => "SNOOZE",
        }
    }

    fn from_sk(sk: &str) -> Option<Timer> {
        Timer::ALL.into_iter().find(|t| t.sk() == sk)
    }
}

impl Store {
    /// What is due in `minute` at or before `upto` (epoch ms).
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
            out.extend(
                res.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| item.get("duesk")?.as_s().ok())
                    .filter_map(|sk| due_ref(sk)),
            );
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

    /// Puts the conversation's `timer` at `at` (epoch ms), replacing its moment before.
    pub async fn schedule_timer(
        &self,
        account: &str,
        conv: &str,
        timer: Timer,
        at: i64,
    ) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(timer_row(account, conv, timer, at)))
            .send()
            .await
            .map_err(failed("PutItem"))?;
        Ok(())
    }

    /// `schedule_timer` as an item of a transaction.
    pub(crate) fn timer_put(
        &self,
        account: &str,
        conv: &str,
        timer: Timer,
        at: i64,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(timer_row(account, conv, timer, at)))
            .build()
            .map_err(|e| crate::Error::dynamo("TransactWriteItems", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build())
    }

    /// Takes the timer out of the index if it is still at `at` (a timer moved since it was
    /// read keeps its new moment). `Ok(false)` when it was not there.
    pub async fn unschedule_timer(
        &self,
        account: &str,
        conv: &str,
        timer: Timer,
        at: i64,
    ) -> Result<bool> {
        let res = self
            .update_row(&keys::conversation(account, conv), timer.sk())
            .update_expression("REMOVE duepk, duesk")
            .condition_expression("duesk = :sk")
            .expression_attribute_values(
                ":sk",
                s(keys::due_timer_sk(at, account, conv, timer.sk())),
            )
            .send()
            .await;
        written(res, "UpdateItem")
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

/// A timer's row: in the `due` index at `at`, expiring a week after it.
fn timer_row(
    account: &str,
    conv: &str,
    timer: Timer,
    at: i64,
) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("pk".to_owned(), s(keys::conversation(account, conv))),
        ("sk".to_owned(), s(timer.sk())),
        ("duepk".to_owned(), s(keys::due_pk(at))),
        (
            "duesk".to_owned(),
            s(keys::due_timer_sk(at, account, conv, timer.sk())),
        ),
        ("expires_at".to_owned(), n((at + 7 * 86_400_000) / 1000)),
    ])
}

/// What a `duesk` names: `<ms>#<a>#<c>` (a window mark), `<ms>#<a>#<c>#<timer>`,
/// `<ms>#<a>#<c>#<message sk>` (an unsent message), `<ms>#<a>#PAGE#<page>`.
fn due_ref(sk: &str) -> Option<DueRef> {
    let mut parts = sk.splitn(4, '#');
    let (Some(at), Some(a), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let at = at.parse().ok()?;
    let rest = parts.next();
    let (conversation_id, kind) = match (c, rest) {
        ("PAGE", Some(page_id)) => (
            String::new(),
            Due::PageHealth {
                page_id: page_id.to_owned(),
            },
        ),
        (_, None) => (c.to_owned(), Due::Window),
        (_, Some(r)) => (
            c.to_owned(),
            match Timer::from_sk(r) {
                Some(t) => Due::Timer(t),
                None => Due::Unsent(crate::store::MessageRef::from_key(r.to_owned())),
            },
        ),
    };
    Some(DueRef {
        account: a.to_owned(),
        conversation_id,
        at,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_read_back_as_what_they_name() {
        let at = 1_700_000_000_000;
        let sk = keys::due_sk(at, "a1", "c1");
        assert_eq!(
            due_ref(&sk).map(|d| (d.at, d.kind)),
            Some((at, Due::Window))
        );
        for t in Timer::ALL {
            let d = due_ref(&keys::due_timer_sk(at, "a1", "c1", t.sk()));
            assert_eq!(d.map(|d| d.kind), Some(Due::Timer(t)));
        }
        let d = due_ref(&keys::due_page_sk(at, "a1", "p1")).map(|d| d.kind);
        assert_eq!(
            d,
            Some(Due::PageHealth {
                page_id: "p1".into()
            })
        );
        let d = due_ref(&keys::due_message_sk(at, "a1", "c1", "MSG#0001#m1"));
        assert!(matches!(d.map(|d| d.kind), Some(Due::Unsent(_))));
        assert_eq!(due_ref("garbage"), None);
    }
}
