//! The events feed: what changed, for front ends that poll `GET /events?after=<cursor>`.
//!
//! Events are written in the same transaction as the change they describe (or, where the change
//! is a plain write, just before it: `Store::put_event`), keyed by a time and a ULID. The time
//! is the feed's position, not the writer's `now`: `Store::transact` and `Store::put_event`
//! stamp it from the wall clock just before each attempt goes out, and an attempt is cut off after
//! `FEED_ATTEMPT_TIMEOUT`. So an event commits at most about that long after its position
//! however slow its writer was before (a scheduler run of a minute, a reassignment loop), and
//! a reader that only returns events older than `SETTLE_MS` never moves its cursor past an
//! event that commits later. `created_at` keeps the writer's time: when the change happened.

use crate::store::failed;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Item, Store, from_item, keys, s, to_item};
use crate::domain::EventType;
use crate::{Error, Result};

/// How long an event is held back from readers. Longer than one transaction attempt can take
/// from its stamp to its commit, with room for clock steps between hosts.
pub const SETTLE_MS: i64 = 5_000;
/// The longest one transaction attempt may run before it is abandoned and stamped again.
pub const FEED_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3_000);
pub const RETENTION_MS: i64 = 14 * 24 * 3_600_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub account: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub conversation_id: Option<String>,
    pub data: Value,
    pub created_at: i64,
    pub expires_at: i64,
}

impl EventItem {
    pub fn new(
        account: &str,
        kind: EventType,
        conversation_id: Option<&str>,
        data: Value,
        now: i64,
    ) -> Self {
        let id = crate::ids::new_id("ev", now);
        EventItem {
            pk: keys::events(account),
            sk: format!("{now:013}#{id}"),
            account: account.to_owned(),
            kind,
            conversation_id: conversation_id.map(str::to_owned),
            data,
            created_at: now,
            // DynamoDB's TTL reads seconds.
            expires_at: (now + RETENTION_MS) / 1000,
        }
    }

    pub fn put(&self, table: &str) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(table)
            .set_item(Some(to_item(self)?))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build())
    }
}

/// The feed's clock. Always the wall clock, also where a writer runs on an injected one: feed
/// positions are compared with readers' wall clocks. Never the same millisecond twice in one
/// process: entries stamped one after the other (a conversation's first message, then its
/// second) keep that order. A tie would be ordered by id, and an event item's id (`ev_…`) and a
/// message's own entry (`ms_…`) do not sort by time: with a faster HTTP client two appends
/// of one person landed in one millisecond and the feed showed them swapped. It only ever runs
/// ahead of the wall clock (by a millisecond per stamp beyond a thousand a second), so an entry
/// may show a little later, never earlier than the feed's hold-back allows.
pub(crate) fn feed_now() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

/// Gives every event put among `items` the feed position `now` (keeping its ULID), and every
/// message put that is its own event (`feedpk`) its place in the `feed` index.
pub(crate) fn restamp(items: &mut [aws_sdk_dynamodb::types::TransactWriteItem], now: i64) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    for put in items.iter_mut().filter_map(|i| i.put.as_mut()) {
        if put.item.contains_key("feedpk")
            && let Some(S(id)) = put.item.get("id")
        {
            let sk = keys::feed_sk(now, id);
            put.item.insert("feedsk".into(), S(sk));
            continue;
        }
        restamp_event(&mut put.item, now);
    }
}

/// Gives `item`, if it is an event, the feed position `now` (keeping its ULID).
fn restamp_event(item: &mut Item, now: i64) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let is_event = matches!(
        (item.get("pk"), item.get("account")),
        (Some(S(pk)), Some(S(account))) if *pk == keys::events(account)
    );
    if !is_event {
        return;
    }
    if let Some(S(sk)) = item.get_mut("sk")
        && let Some((_, id)) = sk.split_once('#')
    {
        *sk = format!("{now:013}#{id}");
    }
}

/// The account whose feed a stream record's key belongs to: an event item's `pk` or a feed
/// entry's `feedpk` (`ACC#<a>#EV`); `None` for any other row.
pub fn account_of_feed_key(key: &str) -> Option<&str> {
    key.strip_prefix("ACC#")?
        .strip_suffix("#EV")
        .filter(|a| !a.is_empty())
}

impl Store {
    /// An event on its own (what it reports was written elsewhere, or nowhere: a connection),
    /// stamped and bounded like `transact`'s attempts but a plain put: a transaction of one
    /// item bills it twice. An attempt that timed out yet committed leaves its event beside
    /// the retry's: at least once.
    pub async fn put_event(&self, event: &EventItem) -> Result<()> {
        let mut item = to_item(event)?;
        let mut attempt = 0u64;
        loop {
            restamp_event(&mut item, feed_now());
            let res = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .customize()
                .config_override(one_bounded_attempt())
                .send()
                .await;
            let e = match res {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if !super::is_transient(&e) || attempt >= 8 {
                return Err(failed("PutItem")(e));
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(attempt * attempt * 10)).await;
        }
    }
}

/// One attempt, cut off after `FEED_ATTEMPT_TIMEOUT`: the caller retries with a new stamp
/// instead of the SDK retrying the old one.
pub(crate) fn one_bounded_attempt() -> aws_sdk_dynamodb::config::Builder {
    bounded_attempt(FEED_ATTEMPT_TIMEOUT)
}

/// One attempt, cut off after `timeout`.
pub(crate) fn bounded_attempt(timeout: std::time::Duration) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::new()
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(timeout)
                .build(),
        )
}

impl EventItem {
    /// The event's id as clients see it and pass back as a cursor: `<ms>-<ulid>`, URL-safe,
    /// so a cursor works even when a client forgets to encode it.
    pub fn public_id(&self) -> String {
        self.sk.replacen('#', "-", 1)
    }
}

/// A position in an account's events feed: an event id (`<ms>-<ulid>`, `#` also taken) or a
/// bare time in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor(String);

impl std::str::FromStr for EventCursor {
    type Err = super::BadCursor;

    fn from_str(cursor: &str) -> std::result::Result<Self, super::BadCursor> {
        let (ts, rest) = cursor.split_once(['-', '#']).unwrap_or((cursor, ""));
        let digits = ts.len() == 13 && ts.chars().all(|ch| ch.is_ascii_digit());
        let id = rest
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !digits || !id {
            return Err(super::BadCursor);
        }
        Ok(EventCursor(if rest.is_empty() {
            ts.to_owned()
        } else {
            format!("{ts}#{rest}")
        }))
    }
}

impl EventCursor {
    /// The same position as clients see it.
    pub fn public(&self) -> String {
        self.0.replacen('#', "-", 1)
    }
}

impl Store {
    /// Events after `after` (exclusive) whose feed position is at least `SETTLE_MS` before
    /// `now` (the reader's wall clock), oldest first.
    pub async fn list_events(
        &self,
        account: &str,
        after: Option<&EventCursor>,
        limit: i32,
        now: i64,
    ) -> Result<Vec<EventItem>> {
        let after = after.map(|c| c.0.as_str());
        let upper = format!("{:013}~", now - SETTLE_MS);
        let lower = after.unwrap_or("0");
        // A position past what may be read yet (a client's clock ahead, a cursor from the
        // future) has nothing after it now; DynamoDB refuses a BETWEEN whose bounds cross.
        if *lower > *upper.as_str() {
            return Ok(Vec::new());
        }
        let mut out = self
            .feed_query(None, account, lower, &upper, limit)
            .await?
            .into_iter()
            .map(from_item::<EventItem>)
            .collect::<Result<Vec<_>>>()?;
        // Messages appended without a transaction are their own events (the `feed` index).
        // Their index entries outlive the events' retention, so older ones are not read.
        let retained = format!("{:013}", now - RETENTION_MS);
        let lower = if *lower < *retained.as_str() {
            retained.as_str()
        } else {
            lower
        };
        for i in self
            .feed_query(Some("feed"), account, lower, &upper, limit)
            .await?
        {
            out.extend(message_events(account, i)?);
        }
        // BETWEEN is inclusive; the cursor itself was already delivered.
        out.retain(|e| Some(e.sk.as_str()) != after);
        out.sort_by(|a, b| a.sk.cmp(&b.sk));
        out.truncate(limit as usize);
        Ok(out)
    }

    /// One page of the event items (`index` `None`) or of the `feed` index, oldest first.
    async fn feed_query(
        &self,
        index: Option<&str>,
        account: &str,
        lower: &str,
        upper: &str,
        limit: i32,
    ) -> Result<Vec<Item>> {
        let (pk, sk) = match index {
            Some(_) => ("feedpk", "feedsk"),
            None => ("pk", "sk"),
        };
        let res = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(format!("{pk} = :p AND {sk} BETWEEN :lo AND :hi"))
            .expression_attribute_values(":p", s(keys::events(account)))
            .expression_attribute_values(":lo", s(lower))
            .expression_attribute_values(":hi", s(upper))
            .limit(limit + 1)
            .send()
            .await
            .map_err(failed("Query"))?;
        Ok(res.items.unwrap_or_default())
    }
}

/// The events a message in the `feed` index stands for: its `message.created` (the same data
/// an event item of a message carries) and, when its send was recorded soon enough to be
/// announced there (`feed_sent`, see `outbound::FOLD_MS`), its `message.status` (sent) right
/// after it (position `<entry>_s`, which sorts between the entry and anything after it).
fn message_events(account: &str, i: Item) -> Result<Vec<EventItem>> {
    let created = message_event(account, &i)?;
    if !i.contains_key("feed_sent") {
        return Ok(vec![created]);
    }
    let sent = EventItem {
        sk: format!("{}_s", created.sk),
        kind: EventType::MessageStatus,
        data: serde_json::json!({"message_id": created.data["message_id"], "status": "sent"}),
        ..created.clone()
    };
    Ok(vec![created, sent])
}

fn message_event(account: &str, i: &Item) -> Result<EventItem> {
    let text = |k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| Error::Corrupt(format!("feed entry without {k}")))
    };
    let position = text("feedsk")?;
    let at = position
        .get(..13)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| Error::Corrupt("feed position".into()))?;
    Ok(EventItem {
        pk: keys::events(account),
        sk: position,
        account: account.to_owned(),
        kind: EventType::MessageCreated,
        conversation_id: Some(text("conversation_id")?),
        data: serde_json::json!({"message_id": text("id")?, "direction": text("direction")?}),
        created_at: at,
        expires_at: (at + RETENTION_MS) / 1000,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn feed_keys_name_their_account_and_nothing_else_does() {
        assert_eq!(account_of_feed_key(&keys::events("acme")), Some("acme"));
        assert_eq!(account_of_feed_key(&keys::conversation("acme", "c")), None);
        assert_eq!(account_of_feed_key(&keys::csat("acme")), None);
        assert_eq!(account_of_feed_key("ACC##EV"), None);
    }

    #[test]
    fn the_feed_clock_never_stamps_one_millisecond_twice() {
        let stamps: Vec<i64> = (0..50).map(|_| super::feed_now()).collect();
        assert!(
            stamps.windows(2).all(|w| w[1] > w[0]),
            "strictly increasing"
        );
        let wall = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        assert!(stamps[0] <= wall, "starts at the wall clock");
    }

    use super::*;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

    fn put(item: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("t")
                    .set_item(Some(item))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn each_attempt_restamps_events_and_messages_that_are_their_own_event() {
        let event = EventItem::new(
            "a",
            EventType::ConversationUpdated,
            Some("c"),
            Value::Null,
            5,
        );
        let mut message = Item::new();
        message.insert("pk".into(), s("ACC#a#CONV#c"));
        message.insert("sk".into(), s("MSG#0000000000005#ms_1"));
        message.insert("id".into(), s("ms_1"));
        message.insert("feedpk".into(), s(keys::events("a")));
        let mut plain = message.clone();
        plain.remove("feedpk");
        let mut items = vec![put(to_item(&event).unwrap()), put(message), put(plain)];
        restamp(&mut items, 1_700_000_000_000);
        let get = |i: usize, k: &str| {
            items[i]
                .put
                .as_ref()
                .and_then(|p| p.item.get(k))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        let ulid = event.sk.split_once('#').map(|(_, u)| u.to_owned()).unwrap();
        assert_eq!(get(0, "sk"), Some(format!("1700000000000#{ulid}")));
        assert_eq!(get(1, "feedsk").as_deref(), Some("1700000000000#ms_1"));
        assert_eq!(get(1, "sk").as_deref(), Some("MSG#0000000000005#ms_1"));
        assert_eq!(
            get(2, "feedsk"),
            None,
            "a message not in the feed stays out of it"
        );
    }

    #[test]
    fn a_feed_entry_reads_as_the_message_created_event_an_event_item_would_be() {
        let mut i = Item::new();
        i.insert("feedsk".into(), s("1700000000000#ms_1"));
        i.insert("id".into(), s("ms_1"));
        i.insert("conversation_id".into(), s("cv_1"));
        i.insert("direction".into(), s("in"));
        let all = message_events("a", i.clone()).unwrap();
        assert_eq!(all.len(), 1, "no send announced: only the created event");
        let e = &all[0];
        assert_eq!(e.kind, EventType::MessageCreated);
        assert_eq!(e.public_id(), "1700000000000-ms_1");
        assert_eq!(e.conversation_id.as_deref(), Some("cv_1"));
        assert_eq!(
            e.data,
            serde_json::json!({"message_id": "ms_1", "direction": "in"})
        );
        assert_eq!(e.created_at, 1_700_000_000_000);
        i.remove("id");
        assert!(
            message_events("a", i).is_err(),
            "an entry without its id is corrupt"
        );
    }

    #[test]
    fn a_reply_sent_soon_is_its_feed_entrys_second_event_between_it_and_what_follows() {
        let mut i = Item::new();
        i.insert(
            "feedsk".into(),
            s("1700000000000#ms_01JAAAAAAAAAAAAAAAAAAAAAAA"),
        );
        i.insert("id".into(), s("ms_01JAAAAAAAAAAAAAAAAAAAAAAA"));
        i.insert("conversation_id".into(), s("cv_1"));
        i.insert("direction".into(), s("out"));
        i.insert("feed_sent".into(), AttributeValue::N("1".into()));
        let all = message_events("a", i).unwrap();
        let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::MessageCreated, EventType::MessageStatus]);
        assert_eq!(
            all[1].data,
            serde_json::json!({"message_id": "ms_01JAAAAAAAAAAAAAAAAAAAAAAA", "status": "sent"})
        );
        let (created, sent) = (&all[0].sk, &all[1].sk);
        // The next entry at the same millisecond, and the one after it.
        let next_same_ms = "1700000000000#ms_01JAAAAAAAAAAAAAAAAAAAAAAB";
        let next_ms = "1700000000001#ev_01J0000000000000000000000";
        assert!(created < sent && sent.as_str() < next_same_ms && sent.as_str() < next_ms);
        // Its id is a cursor like any other, and reads back as the same position.
        let c: EventCursor = all[1].public_id().parse().expect("a cursor");
        assert_eq!(&c.0, sent);
    }

    #[test]
    fn a_send_folds_into_its_feed_entry_only_soon_after_it() {
        use crate::store::{FOLD_MS, folds_into_feed};
        let at = 1_700_000_000_000i64;
        let entry = crate::store::FeedPlace::at(format!("{at:013}#ms_1"));
        assert!(folds_into_feed(Some(&entry), at));
        assert!(folds_into_feed(Some(&entry), at + FOLD_MS));
        assert!(
            !folds_into_feed(Some(&entry), at + FOLD_MS + 1),
            "late: its own event"
        );
        assert!(
            !folds_into_feed(Some(&entry), at - 1),
            "a clock behind the entry's"
        );
        assert!(!folds_into_feed(None, at), "not in the feed: its own event");
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_the_feed_never_made() {
        let sk = "1700000000000#ev_01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let public = sk.replacen('#', "-", 1);
        let c: EventCursor = public.parse().unwrap();
        assert_eq!((c.0.as_str(), c.public()), (sk, public.clone()));
        assert_eq!(sk.parse::<EventCursor>().unwrap().public(), public);
        assert_eq!(
            "1700000000000".parse::<EventCursor>().unwrap().public(),
            "1700000000000"
        );
        for bad in [
            "",
            "abc",
            "17000000000-x",
            "1700000000000-a/b",
            "1700000000000-%20",
        ] {
            assert!(bad.parse::<EventCursor>().is_err(), "{bad}");
        }
    }
}
