//! Outgoing webhooks: which events a subscription takes, how a delivery is signed, and what an
//! endpoint's answer means (delivered, try again later, or stop). No I/O: the dispatcher and
//! the deliverer (`functions/hooks`) and the agent API ask these.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EventType;

/// Webhooks an account may have: each is read by every dispatch of the account's events.
pub const MAX_PER_ACCOUNT: usize = 10;
/// Longest `url` and `description` kept.
pub const MAX_URL_LEN: usize = 2_048;
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Pages one webhook may name in `page_ids`.
pub const MAX_PAGE_IDS: usize = 100;
/// How long a rotated-out secret keeps signing beside the new one.
pub const PREVIOUS_SECRET_MS: i64 = 24 * 3_600_000;
/// The longest wait between two attempts of one delivery (and the most a `Retry-After` gets).
pub const MAX_BACKOFF_SECONDS: i64 = 3_600;
/// Attempts one healthy webhook may have in flight at once (`PAGEDESK_WEBHOOK_IN_FLIGHT`),
/// and the most that may be configured. The delivery pool is shared by every account.
pub const IN_FLIGHT: u32 = 2;
pub const MAX_IN_FLIGHT: u32 = 10;
/// In-time answers in a row that end an endpoint's failing run: one success between
/// timeouts does not, so an endpoint that hangs and now and then answers is still failing
/// (and is switched off after the give-up period).
pub const RECOVERY_STREAK: u32 = 3;

/// How many attempts a webhook may have in flight: one while its endpoint is failing (it is
/// probed, not flooded), else `configured`.
pub fn in_flight_limit(failing: bool, configured: u32) -> u32 {
    if failing {
        1
    } else {
        configured.clamp(1, MAX_IN_FLIGHT)
    }
}

/// How long a delivery waits for a place among its webhook's attempts in flight: about one
/// attempt's timeout, spread by `jitter` (0..1) so the waiting ones do not come back together.
pub fn slot_wait_seconds(timeout_ms: u64, jitter: f64) -> i64 {
    let base = i64::try_from(timeout_ms.div_ceil(1000)).unwrap_or(MAX_BACKOFF_SECONDS);
    let spread = (jitter.clamp(0.0, 1.0) * base as f64).round() as i64;
    (base + spread).clamp(1, 30)
}

/// Whether a success ends the failing run: the `streak`-th in-time answer in a row.
pub fn recovered(streak: u32) -> bool {
    streak >= RECOVERY_STREAK
}

/// Whether a failing run whose last failure was at `last_failure_ms` was over by `now_ms`
/// without its streak of answers: a delivery being retried is attempted at least once per
/// `MAX_BACKOFF_SECONDS`, so twice that without a failure means nothing was failing (an
/// endpoint that answered once or twice and then had no traffic for days is not switched off
/// by its next failure).
pub fn run_is_over(last_failure_ms: i64, now_ms: i64) -> bool {
    now_ms - last_failure_ms >= 2 * MAX_BACKOFF_SECONDS * 1000
}

/// The event types a webhook takes: every one (`["*"]`, also those added later) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(BTreeSet<EventTypeWord>),
}

/// An event type in a filter, ordered by its word so a filter stores and shows sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventTypeWord(&'static str);

impl EventFilter {
    /// From the words an admin sent: `"*"` alone, or known event types (each once).
    pub fn parse(words: &[String]) -> Result<Self, String> {
        if words.is_empty() {
            return Err("name at least one event type, or \"*\" for all".into());
        }
        if words.iter().any(|w| w == "*") {
            return if words.len() == 1 {
                Ok(EventFilter::All)
            } else {
                Err("\"*\" stands alone: it already means every event type".into())
            };
        }
        let mut set = BTreeSet::new();
        for w in words {
            let t = EventType::parse(w)
                .ok_or_else(|| format!("{w:?} is not an event type: {}", EventType::expected()))?;
            set.insert(EventTypeWord(t.as_str()));
        }
        Ok(EventFilter::Only(set))
    }

    pub fn matches(&self, t: EventType) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(set) => set.contains(&EventTypeWord(t.as_str())),
        }
    }

    /// The stored and shown form: `["*"]` or the types, sorted.
    pub fn words(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".to_owned()],
            EventFilter::Only(set) => set.iter().map(|w| w.0.to_owned()).collect(),
        }
    }
}

impl Serialize for EventFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.words().serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = Vec::<String>::deserialize(d)?;
        EventFilter::parse(&words).map_err(serde::de::Error::custom)
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the AI agent's deliveries and
/// outgoing webhooks are signed alike.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The signature header of a delivery: one signature per secret that signs now (the current
/// one first, then one rotated out less than a day ago), comma-separated. A receiver accepts
/// the delivery when any of them matches its secret, so it can switch secrets at its own pace.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| signature(s, timestamp, body))
        .collect::<Vec<_>>()
        .join(",")
}

/// A delivery's id: the same for the same webhook and event (and replay), so a dispatch run
/// twice hands the receiver the same id and it can drop the repeat.
pub fn delivery_id(webhook_id: &str, event_id: &str, replay_id: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(webhook_id.as_bytes());
    h.update(b"\n");
    h.update(event_id.as_bytes());
    if let Some(r) = replay_id {
        h.update(b"\n");
        h.update(r.as_bytes());
    }
    format!("dl_{}", &hex::encode(h.finalize())[..26])
}

/// What an endpoint's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Timeouts, connection failures, 5xx, 408, 409 and 429: worth trying again later.
    Retry,
    /// Any other answer (4xx): the endpoint refused this delivery; trying again will not help.
    Stop,
}

/// The verdict on an HTTP status (`None`: no answer at all).
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        None => Verdict::Retry,
        Some(200..=299) => Verdict::Delivered,
        Some(408 | 409 | 429) => Verdict::Retry,
        Some(s) if s >= 500 => Verdict::Retry,
        Some(_) => Verdict::Stop,
    }
}

/// Seconds before attempt `attempt + 1` after `attempt` failed (1-based): 1, 2, 4, … an hour
/// at most, so about 35 attempts fit in a day and a short outage is over in seconds.
pub fn backoff_seconds(attempt: u32) -> i64 {
    1i64.checked_shl(attempt.saturating_sub(1))
        .unwrap_or(MAX_BACKOFF_SECONDS)
        .clamp(1, MAX_BACKOFF_SECONDS)
}

/// The wait a `Retry-After` header asks for, in seconds from `now_ms`: a number of seconds or
/// an HTTP date, kept between 1 s and `MAX_BACKOFF_SECONDS`. `None` when absent or unreadable.
pub fn retry_after_seconds(header: Option<&str>, now_ms: i64) -> Option<i64> {
    let h = header?.trim();
    let secs = match h.parse::<i64>() {
        Ok(s) => s,
        Err(_) => {
            let at = jiff::fmt::rfc2822::parse(h)
                .ok()?
                .timestamp()
                .as_millisecond();
            (at - now_ms).div_euclid(1000)
        }
    };
    Some(secs.clamp(1, MAX_BACKOFF_SECONDS))
}

/// Whether a subscription takes an event of `page` (`None`: an event that names no Page, or
/// whose Page could not be found). An account-wide subscription takes every event; a
/// Page-scoped one only what provably belongs to one of its Pages, so an event of no known
/// Page (another Page's erased contact, a conversation the dispatch could not read) never
/// reaches it.
pub fn page_matches(page_ids: Option<&[String]>, page: Option<&str>) -> bool {
    match (page_ids, page) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(ids), Some(p)) => ids.iter().any(|i| i == p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_filter_is_star_alone_or_known_types() {
        assert_eq!(EventFilter::parse(&words(&["*"])), Ok(EventFilter::All));
        assert!(EventFilter::parse(&words(&[])).is_err());
        assert!(EventFilter::parse(&words(&["*", "message.created"])).is_err());
        assert!(EventFilter::parse(&words(&["message.made"])).is_err());
        let f = EventFilter::parse(&words(&["note.created", "message.created", "note.created"]))
            .expect("known types");
        assert_eq!(f.words(), ["message.created", "note.created"]);
        assert!(f.matches(EventType::NoteCreated));
        assert!(!f.matches(EventType::ConversationCreated));
        assert!(EventFilter::All.matches(EventType::WebhookDisabled));
        let back: EventFilter =
            serde_json::from_value(serde_json::to_value(&f).expect("json")).expect("filter");
        assert_eq!(back, f);
    }

    #[test]
    fn the_header_carries_one_signature_per_secret_that_signs() {
        let one = signature_header(&["new"], 10, b"{}");
        assert_eq!(one, signature("new", 10, b"{}"));
        assert!(one.starts_with("sha256=") && one.len() == 7 + 64);
        let two = signature_header(&["new", "old"], 10, b"{}");
        assert_eq!(two, format!("{one},{}", signature("old", 10, b"{}")));
        assert_ne!(signature("k", 1, b"{}"), signature("k", 2, b"{}"));
        assert_ne!(signature("k", 1, b"{}"), signature("k", 1, b"{ }"));
    }

    #[test]
    fn delivery_ids_are_stable_and_differ_by_webhook_event_and_replay() {
        let a = delivery_id("wh_1", "1700000000000-ev_1", None);
        assert_eq!(a, delivery_id("wh_1", "1700000000000-ev_1", None));
        assert!(a.starts_with("dl_") && a.len() == 29);
        assert_ne!(a, delivery_id("wh_2", "1700000000000-ev_1", None));
        assert_ne!(a, delivery_id("wh_1", "1700000000000-ev_2", None));
        assert_ne!(a, delivery_id("wh_1", "1700000000000-ev_1", Some("rp_1")));
    }

    #[test]
    fn answers_decide_retry_or_stop() {
        assert_eq!(verdict(Some(200)), Verdict::Delivered);
        assert_eq!(verdict(Some(204)), Verdict::Delivered);
        for s in [None, Some(500), Some(503), Some(408), Some(409), Some(429)] {
            assert_eq!(verdict(s), Verdict::Retry, "{s:?}");
        }
        for s in [400, 401, 403, 404, 410, 413, 301] {
            assert_eq!(verdict(Some(s)), Verdict::Stop, "{s}");
        }
    }

    #[test]
    fn backoff_doubles_to_an_hour_and_retry_after_is_read_and_bounded() {
        let waits: Vec<i64> = (1..=14).map(backoff_seconds).collect();
        assert_eq!(&waits[..4], &[1, 2, 4, 8]);
        assert_eq!(waits[13], MAX_BACKOFF_SECONDS);
        assert_eq!(backoff_seconds(200), MAX_BACKOFF_SECONDS);
        let now = 1_700_000_000_000;
        assert_eq!(retry_after_seconds(Some("30"), now), Some(30));
        assert_eq!(retry_after_seconds(Some("0"), now), Some(1));
        assert_eq!(
            retry_after_seconds(Some("999999"), now),
            Some(MAX_BACKOFF_SECONDS)
        );
        // 2023-11-14T22:13:20Z is `now`; a minute later:
        assert_eq!(
            retry_after_seconds(Some("Tue, 14 Nov 2023 22:14:20 GMT"), now),
            Some(60)
        );
        assert_eq!(retry_after_seconds(Some("soon"), now), None);
        assert_eq!(retry_after_seconds(None, now), None);
    }

    #[test]
    fn a_failing_endpoint_is_probed_one_attempt_at_a_time() {
        assert_eq!(in_flight_limit(false, 2), 2);
        assert_eq!(in_flight_limit(true, 2), 1);
        assert_eq!(in_flight_limit(false, 0), 1);
        assert_eq!(in_flight_limit(false, 99), MAX_IN_FLIGHT);
        assert_eq!(slot_wait_seconds(10_000, 0.0), 10);
        assert_eq!(slot_wait_seconds(10_000, 1.0), 20);
        assert_eq!(slot_wait_seconds(1_500, 0.5), 3);
        assert_eq!(slot_wait_seconds(600_000, 1.0), 30);
        assert_eq!(slot_wait_seconds(1, 0.0), 1);
        assert!(!recovered(1) && !recovered(2) && recovered(3));
        let hour = 3_600_000;
        assert!(!run_is_over(0, hour), "retries an hour apart are one run");
        assert!(run_is_over(0, 2 * hour));
    }

    #[test]
    fn page_scoped_webhooks_take_only_what_belongs_to_their_pages() {
        let ids = vec!["1".to_owned()];
        assert!(page_matches(Some(&ids), Some("1")));
        assert!(!page_matches(Some(&ids), Some("2")));
        assert!(
            !page_matches(Some(&ids), None),
            "an event of no known Page is not provably theirs"
        );
        assert!(page_matches(None, Some("2")));
        assert!(page_matches(None, None));
    }
}
