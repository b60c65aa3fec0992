//! DynamoDB adapter: the access patterns of DESIGN.md ("Data") as narrow operations, one file
//! per aggregate. Dedupe and state transitions use conditional writes and transactions, never
//! read-then-write.
//!
//! The key layout (`keys`) is private to this module: callers build rows with the constructors
//! here and name what they want done; only the store knows where an item lives. Times in rows
//! are epoch milliseconds; the API layer formats them.

mod agents;
mod assignments;
mod contacts;
mod conversation_list;
mod conversations;
mod csat;
mod events;
mod keys;
mod lifecycle;
mod media;
mod message_append;
mod message_ref;
mod messages;
mod outbound;
mod page_settings;
mod pages;
mod posts;
mod quota;
mod rules;
mod schedule;
mod search;
mod settings;
mod snooze;
mod update;
mod webhook_limits;
mod webhooks;
mod workday;

use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};
pub use agents::{AgentItem, AgentPatch, Preferences};
pub use assignments::{AssignOutcome, Assignment, Capacity};
pub use contacts::{ContactItem, Receipt, Watermarks};
pub use conversation_list::ConversationQuery;
pub use conversations::{
    AnchorRef, ConversationItem, CreateOutcome, FirstMessage, LastMessage, Touch,
};
pub use csat::CsatItem;
pub use events::{EventCursor, EventItem, SETTLE_MS, account_of_feed_key};
pub use lifecycle::{ReopenRefused, Resolution};
pub use media::{MediaClaim, MediaItem, UploadItem};
pub use message_ref::{EchoMetadata, MessageRef};
pub use messages::{AppendOutcome, ClientItem, FeedPlace, Message, MidItem};
pub use outbound::{
    FOLD_MS, InWindow, Lease, QueueOutcome, ReplyState, SentPart, UNSENT_DEADLINE_MS,
    folds_into_feed,
};
pub use page_settings::{PageSettings, SettingField};
pub use pages::{
    DeletionItem, FbUserLink, ImportKind, ImportProgress, InstagramLink, PageCheck, PageItem,
};
pub use posts::PostItem;
pub use rules::RulesItem;
pub use schedule::{Due, DueRef, Timer};
pub use settings::{Fallback, Settings};
pub use webhook_limits::{DeliverySlot, ReplayStart};
pub use webhooks::{Attempt, DeliveryItem, DeliveryRef, Rotation, WebhookItem, WebhookPatch};
pub use workday::{ActionMark, LabelCount, SavedReply};

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

/// What the store writes as one item. Most rows carry their keys as fields of their own,
/// visible only inside the store; a value that carries none (a [`Message`]) gives the keys the
/// store derives for it. Only rows implement it, so nothing else can be written by mistake.
pub(crate) trait Row: Serialize {
    /// The `pk` and `sk` to add to the serialized value, when it does not carry them.
    fn keys(&self) -> Option<(String, String)> {
        None
    }
}

impl Row for AgentItem {}
impl Row for ClientItem {}
impl Row for ContactItem {}
impl Row for ConversationItem {}
impl Row for CsatItem {}
impl Row for DeletionItem {}
impl Row for EventItem {}
impl Row for FbUserLink {}
impl Row for ImportProgress {}
impl Row for MediaItem {}
impl Row for MidItem {}
impl Row for PageItem {}
impl Row for PostItem {}
impl Row for RulesItem {}
impl Row for Settings {}
impl Row for UploadItem {}

/// Serialises a row, leaving out absent optional attributes instead of storing NULLs.
pub(crate) fn to_item<T: Row>(v: &T) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(v).map_err(|e| Error::Corrupt(e.to_string()))?;
    if let Some((pk, sk)) = v.keys() {
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s(sk));
    }
    // Empty lists are left out too: sets added later (`ADD window_marks`) must not meet a list.
    item.retain(|_, v| {
        !matches!(v, AttributeValue::Null(_)) && !matches!(v, AttributeValue::L(l) if l.is_empty())
    });
    Ok(item)
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

/// A DynamoDB call's failure as the store reports it: the operation and the SDK's error with its
/// cause (`DisplayErrorContext`: a connection error says what broke, not "unhandled error").
pub(crate) fn failed<E, R>(op: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| Error::dynamo(op, DisplayErrorContext(&e))
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
        Err(e) => Err(failed(op)(e)),
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

/// One page of a listing and the cursor to the next (not a Facebook Page).
pub struct ResultPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
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
            .map_err(failed("GetItem"))?;
        out.item.map(from_item).transpose()
    }

    /// The rows at `keys` (pk, sk) that exist, in no particular order: BatchGetItem, 100
    /// keys a request, keys DynamoDB leaves unprocessed (throttling) asked for again a
    /// bounded number of times.
    pub(crate) async fn batch_get(
        &self,
        mut keys: Vec<(String, String)>,
        consistent: bool,
    ) -> Result<Vec<Item>> {
        // DynamoDB refuses a request that names a key twice.
        keys.sort_unstable();
        keys.dedup();
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let mut ka = KeysAndAttributes::builder().consistent_read(consistent);
            for (pk, sk) in chunk {
                ka = ka.keys(HashMap::from([
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(sk)),
                ]));
            }
            let mut pending = Some(ka.build().map_err(|e| Error::dynamo("BatchGetItem", e))?);
            for attempt in 0..5u32 {
                let Some(ka) = pending.take() else { break };
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(failed("BatchGetItem"))?;
                if let Some(mut r) = out.responses {
                    found.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
            if pending.is_some() {
                return Err(Error::dynamo("BatchGetItem", "keys left unprocessed"));
            }
        }
        Ok(found)
    }

    /// The rows of one type at `keys` that exist, as [`Store::batch_get`] reads them.
    pub(crate) async fn batch_get_rows<T: DeserializeOwned>(
        &self,
        keys: Vec<(String, String)>,
        consistent: bool,
    ) -> Result<Vec<T>> {
        self.batch_get(keys, consistent)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// An UpdateItem on the row at (`pk`, `sk`), table and key filled in.
    pub(crate) fn update_row(
        &self,
        pk: &str,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// `u` (a transaction's update, as `UpdateExpr` builds it) sent on its own.
    pub(crate) fn update_item(
        &self,
        u: aws_sdk_dynamodb::types::Update,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
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
                .map_err(failed("Query"))?;
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

    // ---- settings -------------------------------------------------------------------------

    // ---- contacts -------------------------------------------------------------------------

    /// Stores `item`, replacing what was at its key.
    pub(crate) async fn put<T: Row>(&self, item: &T) -> Result<()> {
        self.put_map(to_item(item)?).await
    }

    pub(crate) async fn put_map(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(failed("PutItem"))?;
        Ok(())
    }

    /// Deletes the row at (`pk`, `sk`), if there is one.
    pub(crate) async fn delete_row(&self, pk: &str, sk: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(failed("DeleteItem"))?;
        Ok(())
    }

    /// Stores `item` unless its key is taken; `Ok(false)` when it was.
    pub(crate) async fn put_if_absent<T: Row>(&self, item: &T) -> Result<bool> {
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

    // ---- conversations --------------------------------------------------------------------

    /// A transaction item that creates `item` and fails if its key is already taken.
    pub(crate) fn put_new<T: Row>(&self, item: &T) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One conditional update and the event it causes, in one transaction. `Ok(false)` when
    /// the update's condition did not hold (then nothing was written).
    /// A transaction whose first item carries the condition that may refuse it: `Ok(false)`
    /// when that condition failed (nothing was written); any other item's failure is an error
    /// (their conditions guard against what must not happen).
    pub(crate) async fn transact_guarded(&self, items: Vec<TransactWriteItem>) -> Result<bool> {
        Ok(match self.transact(items).await? {
            None => true,
            Some(c) if c.first() == Some(&true) => false,
            Some(_) => return Err(Error::dynamo("TransactWriteItems", "cancelled")),
        })
    }

    pub(crate) async fn update_with_event(
        &self,
        upd: Update,
        event: Option<&EventItem>,
    ) -> Result<bool> {
        self.update_with_events(upd, event.map(std::slice::from_ref).unwrap_or_default())
            .await
    }

    /// An update and its events, in one transaction; without events, a plain update (half
    /// the write units of a transaction). `Ok(false)`: the update's condition failed.
    pub(crate) async fn update_with_events(
        &self,
        upd: Update,
        events: &[EventItem],
    ) -> Result<bool> {
        if events.is_empty() {
            return match self.update_item(upd).send().await {
                Ok(_) => Ok(true),
                Err(e) if is_conditional(&e) => Ok(false),
                Err(e) => Err(failed("UpdateItem")(e)),
            };
        }
        let mut items = vec![TransactWriteItem::builder().update(upd).build()];
        for e in events {
            items.push(e.put(&self.table)?);
        }
        self.transact_guarded(items).await
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

impl Store {
    /// Runs a transaction, retrying DynamoDB's transaction conflicts (two writers on one item
    /// at the same moment: concurrent assignments to one agent) and transient faults. `Ok(None)`
    /// when it committed, `Ok(Some(failed))` when conditions failed (`failed[i]` for item `i`).
    ///
    /// Every attempt is stamped afresh: the events in it get their feed position from the
    /// clock just before the request goes out (see `events::FEED_ATTEMPT_TIMEOUT`), whatever
    /// the writer did before, so a reader's hold-back covers the time to commit.
    pub(crate) async fn transact(
        &self,
        mut items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<bool>>> {
        let mut attempt = 0u64;
        loop {
            events::restamp(&mut items, events::feed_now());
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .customize()
                .config_override(events::one_bounded_attempt())
                .send()
                .await;
            let e = match res {
                Ok(_) => return Ok(None),
                Err(e) => e,
            };
            let retry = match cancelled_conditions(&e) {
                Some(c) if c.iter().any(|x| *x) => return Ok(Some(c)),
                Some(_) => true,
                None => is_transient(&e),
            };
            if !retry || attempt >= 8 {
                return Err(failed("TransactWriteItems")(e));
            }
            attempt += 1;
            // Jittered, growing pause so the contenders spread out.
            let jitter = u64::from(ulid::Ulid::new().random() as u8 % 20);
            tokio::time::sleep(Duration::from_millis(attempt * attempt * 10 + jitter)).await;
        }
    }
}

/// Faults worth another attempt: throttling, DynamoDB's 5xx, and requests that timed out or
/// never got an answer (a retry of a committed transaction fails its own conditions).
fn is_transient<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || matches!(
                    s.err().code(),
                    Some(
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "InternalServerError"
                    )
                )
        }
        _ => false,
    }
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
