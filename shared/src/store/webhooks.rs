//! Outgoing webhooks: the account's subscriptions (a row each and a count that caps them), the
//! dispatch cursor (how far the account's feed has been handed to them) and each delivery's
//! latest attempt (kept 14 days, for `GET /webhooks/{id}/deliveries`).

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::update::UpdateExpr;
use super::*;
use crate::domain::webhooks::{EventFilter, MAX_PER_ACCOUNT, PREVIOUS_SECRET_MS};
use crate::domain::{DeliveryStatus, EventType};
use crate::{Error, Result};

/// How long a delivery's record is kept.
pub const DELIVERY_RETENTION_MS: i64 = 14 * 24 * 3_600_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub id: String,
    pub account: String,
    pub url: String,
    pub events: EventFilter,
    /// `None`: every Page's events.
    #[serde(default)]
    pub page_ids: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    /// Signs deliveries; shown once, when made or rotated.
    pub secret: String,
    /// The secret before the last rotation, signing beside the new one until `previous_until`.
    #[serde(default)]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub previous_until: Option<i64>,
    pub enabled: bool,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// When the endpoint started failing (cleared by a delivery that gets through).
    #[serde(default)]
    pub failing_since: Option<i64>,
    /// It takes events from this time on: when it was made, or last switched on again (what
    /// happened while it was off comes by `replay`, when asked for).
    pub since: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Row for WebhookItem {
    fn keys(&self) -> Option<(String, String)> {
        Some((self.pk.clone(), self.sk.clone()))
    }
}

/// What a webhook is made with (and what `PATCH` may change).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<EventFilter>,
    /// `Some(None)`: every Page again.
    pub page_ids: Option<Option<Vec<String>>>,
    pub description: Option<Option<String>>,
    /// `Some(true)` switches it on from now (`since`): pass it only for one that is off.
    pub enabled: Option<bool>,
}

impl WebhookItem {
    pub fn new(
        account: &str,
        url: String,
        events: EventFilter,
        page_ids: Option<Vec<String>>,
        description: Option<String>,
        secret: String,
        now: i64,
    ) -> Self {
        let id = crate::ids::new_id("wh", now);
        WebhookItem {
            pk: keys::account(account),
            sk: keys::webhook_sk(&id),
            id,
            account: account.to_owned(),
            url,
            events,
            page_ids,
            description,
            secret,
            previous_secret: None,
            previous_until: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            since: now,
            created_at: now,
            updated_at: now,
        }
    }

    /// The secrets that sign a delivery at `now`: the current one, and the one before while
    /// its day lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_until)
            && now < until
        {
            out.push(old);
        }
        out
    }

    /// Whether it takes `kind` of `page` (`None`: an account event), from feed position `at`.
    pub fn takes(&self, kind: EventType, page: Option<&str>, at: i64) -> bool {
        self.enabled
            && at >= self.since
            && self.events.matches(kind)
            && crate::domain::webhooks::page_matches(self.page_ids.as_deref(), page)
    }
}

/// What asking for a new signing secret did.
#[derive(Debug)]
pub enum Rotation {
    Rotated(Box<WebhookItem>),
    NotFound,
    /// The secret rotated out last time signs until `previous_until`.
    InProgress {
        previous_until: i64,
    },
}

/// One delivery's latest attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    pub queued_at: i64,
    #[serde(default)]
    pub attempted_at: Option<i64>,
    #[serde(default)]
    pub next_try_at: Option<i64>,
    #[serde(default)]
    pub replay_id: Option<String>,
    pub expires_at: i64,
}

impl Row for DeliveryItem {
    fn keys(&self) -> Option<(String, String)> {
        Some((self.pk.clone(), self.sk.clone()))
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub at: i64,
    pub next_try_at: Option<i64>,
}

/// The delivery a job stands for, as the deliverer records it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRef<'a> {
    pub account: &'a str,
    pub webhook_id: &'a str,
    pub delivery_id: &'a str,
    pub event_id: &'a str,
    pub event_type: EventType,
    pub queued_at: i64,
    pub replay_id: Option<&'a str>,
}

impl Store {
    /// Adds a webhook unless the account has `MAX_PER_ACCOUNT` already (`Ok(false)`): the count
    /// row and the webhook in one transaction, so two admins adding at once cannot pass it.
    pub async fn create_webhook(&self, w: &WebhookItem) -> Result<bool> {
        let mut count = UpdateExpr::new();
        count
            .set("n = if_not_exists(n, :zero) + :one")
            .value(":zero", n(0))
            .value(":one", n(1))
            .condition("attribute_not_exists(n) OR n < :max")
            .value(":max", n(MAX_PER_ACCOUNT as i64));
        let items = vec![
            TransactWriteItem::builder()
                .update(count.build(&self.table, &w.pk, keys::WEBHOOK_COUNT_SK)?)
                .build(),
            self.put_new(w)?,
        ];
        self.transact_guarded(items).await
    }

    /// Which of `accounts` have a webhook (their count rows, read consistently: one made a
    /// moment ago counts).
    pub async fn accounts_with_webhooks(&self, accounts: &[&str]) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Count {
            pk: String,
            #[serde(default)]
            n: i64,
        }
        let keys = accounts
            .iter()
            .map(|a| (keys::account(a), keys::WEBHOOK_COUNT_SK.to_owned()))
            .collect();
        let counts: Vec<Count> = self.batch_get_rows(keys, true).await?;
        Ok(counts
            .into_iter()
            .filter(|c| c.n > 0)
            .filter_map(|c| c.pk.strip_prefix("ACC#").map(str::to_owned))
            .collect())
    }

    pub async fn list_webhooks(&self, account: &str) -> Result<Vec<WebhookItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :w)")
                .expression_attribute_values(":p", s(keys::account(account)))
                .expression_attribute_values(":w", s(keys::WEBHOOK_PREFIX)),
        )
        .await
    }

    pub async fn get_webhook(&self, account: &str, id: &str) -> Result<Option<WebhookItem>> {
        self.get(keys::account(account), keys::webhook_sk(id), true)
            .await
    }

    /// Applies `patch`; the webhook as stored, `None` when there is none. Turning it on again
    /// forgets why it was off and how long its endpoint had been failing, and it takes events
    /// from then on (`since`).
    pub async fn update_webhook(
        &self,
        account: &str,
        id: &str,
        patch: &WebhookPatch,
        now: i64,
    ) -> Result<Option<WebhookItem>> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u")
            .value(":u", n(now))
            .condition("attribute_exists(pk)");
        if let Some(url) = &patch.url {
            u.set("#url = :url")
                .name("#url", "url")
                .value(":url", s(url));
        }
        if let Some(ev) = &patch.events {
            u.set("events = :ev").value(":ev", to_attr(ev)?);
        }
        match &patch.page_ids {
            Some(Some(ids)) => {
                u.set("page_ids = :pages").value(":pages", to_attr(ids)?);
            }
            Some(None) => {
                u.remove("page_ids");
            }
            None => {}
        }
        match &patch.description {
            Some(Some(d)) => {
                u.set("description = :d").value(":d", s(d));
            }
            Some(None) => {
                u.remove("description");
            }
            None => {}
        }
        match patch.enabled {
            Some(true) => {
                u.set("enabled = :on")
                    .value(":on", AttributeValue::Bool(true))
                    .set("since = :u")
                    .remove("disabled_reason")
                    .remove("failing_since")
                    .remove("last_failure_at")
                    .remove("ok_streak");
            }
            Some(false) => {
                u.set("enabled = :off")
                    .value(":off", AttributeValue::Bool(false))
                    .set("disabled_reason = :why")
                    .value(":why", s("switched off by an admin"));
            }
            None => {}
        }
        self.update_returning(u.build(
            &self.table,
            &keys::account(account),
            &keys::webhook_sk(id),
        )?)
        .await
    }

    /// A new signing secret; the old one keeps signing for `PREVIOUS_SECRET_MS`. Refused while
    /// a previous secret still signs: a second rotation would drop it before its day is over,
    /// breaking the promise made to the receiver at the first.
    pub async fn rotate_webhook_secret(
        &self,
        account: &str,
        id: &str,
        secret: &str,
        now: i64,
    ) -> Result<Rotation> {
        let mut u = UpdateExpr::new();
        u.set("previous_secret = secret")
            .set("secret = :s")
            .value(":s", s(secret))
            .set("previous_until = :until")
            .value(":until", n(now + PREVIOUS_SECRET_MS))
            .set("updated_at = :u")
            .value(":u", n(now))
            .condition(
                "attribute_exists(pk) AND (attribute_not_exists(previous_until) OR previous_until <= :u)",
            );
        let done = self
            .update_returning(u.build(
                &self.table,
                &keys::account(account),
                &keys::webhook_sk(id),
            )?)
            .await?;
        if let Some(w) = done {
            return Ok(Rotation::Rotated(Box::new(w)));
        }
        Ok(match self.get_webhook(account, id).await? {
            None => Rotation::NotFound,
            Some(w) => Rotation::InProgress {
                previous_until: w.previous_until.unwrap_or(now),
            },
        })
    }

    async fn update_returning(&self, u: Update) -> Result<Option<WebhookItem>> {
        let res = self
            .update_item(u)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => from_item(out.attributes.unwrap_or_default()).map(Some),
            Err(e) if is_conditional(&e) => Ok(None),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// `Ok(false)` when there was no such webhook.
    pub async fn delete_webhook(&self, account: &str, id: &str) -> Result<bool> {
        let pk = keys::account(account);
        let del = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::webhook_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let mut count = UpdateExpr::new();
        // A missing count reads as none (the delete's condition refuses the whole then).
        count
            .set("n = if_not_exists(n, :zero) - :one")
            .value(":zero", n(0))
            .value(":one", n(1));
        let items = vec![
            TransactWriteItem::builder().delete(del).build(),
            TransactWriteItem::builder()
                .update(count.build(&self.table, &pk, keys::WEBHOOK_COUNT_SK)?)
                .build(),
        ];
        self.transact_guarded(items).await
    }

    /// Switches a webhook off with its `webhook.disabled` event, once: `Ok(false)` when it was
    /// already off (or gone).
    pub async fn disable_webhook(
        &self,
        account: &str,
        id: &str,
        reason: &str,
        event: &EventItem,
        now: i64,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.set("enabled = :off")
            .value(":off", AttributeValue::Bool(false))
            .set("disabled_reason = :why")
            .value(":why", s(reason))
            .set("updated_at = :u")
            .value(":u", n(now))
            .condition("enabled = :on")
            .value(":on", AttributeValue::Bool(true));
        let upd = u.build(&self.table, &keys::account(account), &keys::webhook_sk(id))?;
        self.update_with_event(upd, Some(event)).await
    }

    /// The feed position the account's events have been dispatched up to (public cursor form).
    pub async fn dispatch_cursor(&self, account: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Cursor {
            position: String,
        }
        let c: Option<Cursor> = self
            .get(
                keys::account(account),
                keys::HOOK_CURSOR_SK.to_owned(),
                true,
            )
            .await?;
        Ok(c.map(|c| c.position))
    }

    /// Moves the dispatch cursor from `from` (`None`: never set) to `to`; `Ok(false)` when
    /// another dispatch moved it first.
    pub async fn advance_dispatch_cursor(
        &self,
        account: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.set("#pos = :to")
            .name("#pos", "position")
            .value(":to", s(to));
        match from {
            Some(f) => u.condition("#pos = :from").value(":from", s(f)),
            None => u.condition("attribute_not_exists(#pos)"),
        };
        let res = self
            .update_item(u.build(&self.table, &keys::account(account), keys::HOOK_CURSOR_SK)?)
            .send()
            .await;
        written(res, "UpdateItem")
    }

    /// Records a delivery's latest attempt (one row per delivery, replaced each attempt).
    pub async fn record_delivery(&self, d: &DeliveryRef<'_>, a: &Attempt) -> Result<()> {
        let item = DeliveryItem {
            pk: keys::webhook_deliveries(d.account, d.webhook_id),
            sk: keys::delivery_sk(d.queued_at, d.event_id, d.delivery_id),
            id: d.delivery_id.to_owned(),
            webhook_id: d.webhook_id.to_owned(),
            event_id: d.event_id.to_owned(),
            event_type: d.event_type,
            status: a.status,
            attempts: a.attempts,
            http_status: a.http_status,
            error: a.error.clone(),
            queued_at: d.queued_at,
            attempted_at: Some(a.at),
            next_try_at: a.next_try_at,
            replay_id: d.replay_id.map(str::to_owned),
            expires_at: (d.queued_at + DELIVERY_RETENTION_MS) / 1000,
        };
        self.put(&item).await
    }

    /// A webhook's deliveries, newest first, one page at a time.
    pub async fn list_deliveries(
        &self,
        account: &str,
        webhook_id: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Result<ResultPage<DeliveryItem>, BadCursor>> {
        let pk = keys::webhook_deliveries(account, webhook_id);
        let start = match cursor.map(|c| decode_cursor(c, "pk", &pk)).transpose() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(&pk))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(failed("Query"))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<DeliveryItem>>>()?;
        Ok(Ok(ResultPage {
            items,
            next_cursor: out.last_evaluated_key.as_ref().map(encode_cursor),
        }))
    }
}

fn to_attr<T: Serialize>(v: &T) -> Result<AttributeValue> {
    serde_dynamo::to_attribute_value(v).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_out_secret_signs_until_its_day_is_over() {
        let mut w = WebhookItem::new(
            "a",
            "https://example.com/h".into(),
            EventFilter::All,
            None,
            None,
            "new".into(),
            1_000,
        );
        assert_eq!(w.signing_secrets(2_000), ["new"]);
        w.previous_secret = Some("old".into());
        w.previous_until = Some(5_000);
        assert_eq!(w.signing_secrets(4_999), ["new", "old"]);
        assert_eq!(w.signing_secrets(5_000), ["new"]);
    }

    #[test]
    fn a_webhook_takes_what_it_subscribed_to_from_its_creation_on() {
        let w = WebhookItem::new(
            "a",
            "https://example.com/h".into(),
            EventFilter::parse(&["message.created".to_owned()]).expect("filter"),
            Some(vec!["p1".into()]),
            None,
            "k".into(),
            1_000,
        );
        assert!(w.takes(EventType::MessageCreated, Some("p1"), 1_000));
        assert!(!w.takes(EventType::MessageCreated, Some("p1"), 999));
        assert!(!w.takes(EventType::MessageCreated, Some("p2"), 2_000));
        assert!(!w.takes(EventType::NoteCreated, Some("p1"), 2_000));
        let off = WebhookItem {
            enabled: false,
            ..w.clone()
        };
        assert!(!off.takes(EventType::MessageCreated, Some("p1"), 2_000));
    }
}
