//! Property tests of the parsers that face the internet: the webhook splitter and the event
//! parser (the whole pure inbound path), the signature check, the JWT path and the cursors.
//! No input may panic. `make test` runs proptest's default budget (256 cases a property);
//! `make fuzz` runs a long one (`PROPTEST_CASES`).

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use pagedesk_shared::adapters::auth::{Role, Verifier, dev_token};
use pagedesk_shared::meta::event::parse;
use pagedesk_shared::meta::signature;
use pagedesk_shared::meta::webhook::{InboundEvent, split};
use pagedesk_shared::runtime::config::AuthConfig;
use pagedesk_shared::store::{EventCursor, decode_cursor};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Cases run, for `make fuzz`'s report.
static CASES: AtomicUsize = AtomicUsize::new(0);

fn count() {
    let n = CASES.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() && n >= 1024 {
        eprintln!("properties: {n} cases so far");
    }
}

/// Names Meta uses, so generated objects reach deep into the parsers, and some that it does not.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "standby",
    "changes",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "attachments",
    "type",
    "payload",
    "url",
    "URL",
    "sticker_id",
    "coordinates",
    "lat",
    "long",
    "title",
    "quick_reply",
    "reply_to",
    "is_echo",
    "app_id",
    "metadata",
    "delivery",
    "mids",
    "watermark",
    "read",
    "reaction",
    "action",
    "emoji",
    "postback",
    "referral",
    "ref",
    "source",
    "message_edit",
    "num_edit",
    "field",
    "value",
    "item",
    "verb",
    "comment_id",
    "post_id",
    "parent_id",
    "from",
    "name",
    "created_time",
    "leadgen_id",
    "form_id",
    "ad_id",
    "page_id",
    "pass_thread_control",
    "take_thread_control",
    "app_roles",
    "optin",
    "is_deleted",
    "x",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{0,12}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,16}".prop_map(Value::from),
        proptest::sample::select(KEYS).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A webhook body shaped like Meta's, with generated items where events go.
fn envelope() -> impl Strategy<Value = Value> {
    let entry = (
        prop_oneof![json(), "[0-9]{1,16}".prop_map(Value::from)],
        json(),
        prop::collection::vec(json(), 0..4),
        prop::sample::select(&["messaging", "standby", "changes", "other"][..]),
    )
        .prop_map(|(id, time, items, field)| {
            let mut e = Map::new();
            e.insert("id".into(), id);
            e.insert("time".into(), time);
            e.insert(field.into(), Value::Array(items));
            Value::Object(e)
        });
    (
        prop_oneof![Just(Value::from("page")), json()],
        prop::collection::vec(entry, 0..4),
    )
        .prop_map(|(object, entries)| serde_json::json!({"object": object, "entry": entries}))
}

proptest! {
    #[test]
    fn any_bytes_split_or_refuse_without_panicking(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        count();
        let _ = split(&body, 0);
    }

    #[test]
    fn every_queued_event_reads_back_and_parses(body in envelope()) {
        count();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        if let Ok(s) = split(&bytes, 1_700_000_000_000) {
            for q in s.events {
                // What the router reads is what the webhook wrote.
                let ev: InboundEvent = serde_json::from_str(&q.body)
                    .map_err(|e| TestCaseError::fail(format!("queued body unreadable: {e}")))?;
                let _ = parse(&ev);
            }
        }
    }

    #[test]
    fn signature_headers_of_any_shape_are_judged_without_panicking(
        secret in prop::collection::vec(any::<u8>(), 0..64),
        body in prop::collection::vec(any::<u8>(), 0..256),
        header in prop::option::of("\\PC{0,80}"),
    ) {
        count();
        let _ = signature::verify(&secret, &body, header.as_deref());
        // And the right signature always verifies.
        let good = signature::sign(&secret, &body);
        prop_assert!(signature::verify(&secret, &body, Some(&good)).is_ok());
    }

    #[test]
    fn cursors_of_any_text_are_refused_or_read(text in "\\PC{0,64}") {
        count();
        let _ = decode_cursor(&text, "pk", "ACC#a#CONV#c");
        let _ = EventCursor::from_str(&text);
    }

    #[test]
    fn tokens_of_any_text_are_refused_without_panicking(token in "\\PC{0,300}", header in "\\PC{0,40}") {
        count();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dev = Verifier::new(AuthConfig::DevSecret("s".into()));
            assert!(dev.verify(&token).await.is_err());
            let jwks = Verifier::with_jwks(
                AuthConfig::Jwks {
                    url: "http://127.0.0.1:9/unreachable".into(),
                    issuer: "iss".into(),
                    audience: "aud".into(),
                },
                serde_json::from_str(include_str!("../testdata/rs256-test-jwks.json")).unwrap(),
            );
            assert!(jwks.verify(&token).await.is_err());
            let _ = dev.verify_header(Some(&header)).await;
            // A real token with a flipped character is refused.
            let good = dev_token("s", "a", "acme", Role::Agent, 60);
            let mut bad = good.clone().into_bytes();
            // Not the last character: its low bits may be padding a decoder ignores.
            let i = token.len() % (bad.len() - 1);
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8_lossy(&bad).into_owned();
            if bad != good {
                assert!(dev.verify(&bad).await.is_err());
            }
        });
    }
}
