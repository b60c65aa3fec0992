//! Reading one queued event into what it means for the helpdesk. Messaging events carry no
//! type field: the kind is the key that is present (`message`, `delivery`, `read`, …).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::webhook::{Field, InboundEvent, id_string};
use crate::domain::Attachment;

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// Something the person did that becomes an inbound message (text, attachments,
    /// quick-reply tap, postback, referral).
    Inbound(Inbound),
    /// A message the Page sent, ours or from another tool (Page inbox, Business Suite).
    Echo(Echo),
    Delivery {
        user: String,
        watermark: i64,
        mids: Vec<String>,
    },
    Read {
        user: String,
        watermark: i64,
    },
    Reaction(Reaction),
    Edit {
        user: String,
        mid: String,
        text: String,
        num_edit: i64,
        timestamp: i64,
    },
    /// The person took a message back (Instagram's unsend: `message.is_deleted`).
    Unsent {
        user: String,
        mid: String,
        timestamp: i64,
    },
    /// A known kind that has no effect on conversations (handover, app roles, opt-ins, …).
    Ignored {
        kind: &'static str,
    },
    /// A `changes[]` item (feed, leadgen, …), handled by its own module.
    Change {
        field: String,
        value: Value,
    },
    /// Not understood: logged and skipped.
    Unknown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Inbound {
    pub user: String,
    pub timestamp: i64,
    /// Meta's message id; for events without one (old postbacks, referrals) a stable id built
    /// from the event so redeliveries still dedupe.
    pub mid: String,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub quick_reply_payload: Option<String>,
    pub reply_to_mid: Option<String>,
    /// Instagram: the story this message answers (`reply_to.story`: `id`, `url`).
    pub story: Option<Value>,
    pub postback: Option<Postback>,
    pub referral: Option<Value>,
    /// Delivered in `standby[]`: another app owns the thread.
    pub standby: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Postback {
    pub title: Option<String>,
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Echo {
    pub user: String,
    pub timestamp: i64,
    pub mid: String,
    pub app_id: Option<String>,
    pub metadata: Option<String>,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub standby: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub user: String,
    pub mid: String,
    pub react: bool,
    pub emoji: Option<String>,
    pub reaction: Option<String>,
    pub timestamp: i64,
}

pub fn parse(ev: &InboundEvent) -> WebhookEvent {
    match ev.field {
        Field::Changes => {
            let field = ev
                .event
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let value = ev.event.get("value").cloned().unwrap_or(Value::Null);
            if field.is_empty() {
                return WebhookEvent::Unknown {
                    reason: "change without field".into(),
                };
            }
            WebhookEvent::Change { field, value }
        }
        Field::Messaging | Field::Standby => parse_messaging(ev, ev.field == Field::Standby),
    }
}

fn parse_messaging(ev: &InboundEvent, standby: bool) -> WebhookEvent {
    let e = &ev.event;
    let Some(user) = ev.messaging_user() else {
        if e.get("app_roles").is_some() {
            return WebhookEvent::Ignored { kind: "app_roles" };
        }
        return WebhookEvent::Unknown {
            reason: "messaging event without a person".into(),
        };
    };
    let timestamp = e
        .get("timestamp")
        .and_then(timestamp_ms)
        .unwrap_or(ev.received_at);

    if let Some(m) = e.get("message").filter(|m| m.is_object()) {
        let mid = m.get("mid").and_then(id_string);
        let text = m.get("text").and_then(Value::as_str).map(str::to_owned);
        let attachments = attachments(m);
        if m.get("is_echo").and_then(Value::as_bool) == Some(true) {
            let Some(mid) = mid else {
                return WebhookEvent::Unknown {
                    reason: "echo without mid".into(),
                };
            };
            return WebhookEvent::Echo(Echo {
                user,
                timestamp,
                mid,
                app_id: m.get("app_id").and_then(id_string),
                metadata: m.get("metadata").and_then(Value::as_str).map(str::to_owned),
                text,
                attachments,
                standby,
            });
        }
        if m.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return match mid {
                Some(mid) => WebhookEvent::Unsent {
                    user,
                    mid,
                    timestamp,
                },
                None => WebhookEvent::Unknown {
                    reason: "unsend without mid".into(),
                },
            };
        }
        let Some(mid) = mid else {
            return WebhookEvent::Unknown {
                reason: "message without mid".into(),
            };
        };
        if text.is_none() && attachments.is_empty() {
            return WebhookEvent::Unknown {
                reason: "message with neither text nor attachments".into(),
            };
        }
        return WebhookEvent::Inbound(Inbound {
            user,
            timestamp,
            mid,
            text,
            attachments,
            quick_reply_payload: m
                .pointer("/quick_reply/payload")
                .and_then(Value::as_str)
                .map(str::to_owned),
            reply_to_mid: m.pointer("/reply_to/mid").and_then(id_string),
            story: m
                .pointer("/reply_to/story")
                .filter(|s| s.is_object())
                .cloned(),
            postback: None,
            referral: None,
            standby,
        });
    }
    if let Some(p) = e.get("postback").filter(|p| p.is_object()) {
        let title = p.get("title").and_then(Value::as_str).map(str::to_owned);
        let payload = p.get("payload").and_then(Value::as_str).map(str::to_owned);
        let mid = p
            .get("mid")
            .and_then(id_string)
            .unwrap_or_else(|| format!("pb:{user}:{timestamp}"));
        return WebhookEvent::Inbound(Inbound {
            user,
            timestamp,
            mid,
            text: title.clone().or_else(|| payload.clone()),
            referral: p.get("referral").cloned(),
            postback: Some(Postback { title, payload }),
            standby,
            ..Default::default()
        });
    }
    if let Some(r) = e.get("referral").filter(|r| r.is_object()) {
        return WebhookEvent::Inbound(Inbound {
            mid: format!("ref:{user}:{timestamp}"),
            user,
            timestamp,
            referral: Some(r.clone()),
            standby,
            ..Default::default()
        });
    }
    if let Some(d) = e.get("delivery") {
        let Some(watermark) = d.get("watermark").and_then(timestamp_ms) else {
            return WebhookEvent::Unknown {
                reason: "delivery without watermark".into(),
            };
        };
        let mids = d
            .get("mids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(id_string).collect())
            .unwrap_or_default();
        return WebhookEvent::Delivery {
            user,
            watermark,
            mids,
        };
    }
    if let Some(r) = e.get("read") {
        return match r.get("watermark").and_then(timestamp_ms) {
            Some(watermark) => WebhookEvent::Read { user, watermark },
            // Instagram reads name a message instead of a watermark; the event time serves.
            None if r.get("mid").is_some() => WebhookEvent::Read {
                user,
                watermark: timestamp,
            },
            None => WebhookEvent::Unknown {
                reason: "read without watermark".into(),
            },
        };
    }
    if let Some(r) = e.get("reaction") {
        let Some(mid) = r.get("mid").and_then(id_string) else {
            return WebhookEvent::Unknown {
                reason: "reaction without mid".into(),
            };
        };
        let action = r.get("action").and_then(Value::as_str).unwrap_or("react");
        return WebhookEvent::Reaction(Reaction {
            user,
            mid,
            react: action != "unreact",
            emoji: r.get("emoji").and_then(Value::as_str).map(str::to_owned),
            reaction: r.get("reaction").and_then(Value::as_str).map(str::to_owned),
            timestamp,
        });
    }
    if let Some(m) = e.get("message_edit") {
        let (Some(mid), Some(text)) = (
            m.get("mid").and_then(id_string),
            m.get("text").and_then(Value::as_str),
        ) else {
            return WebhookEvent::Unknown {
                reason: "message_edit without mid or text".into(),
            };
        };
        let num_edit = m
            .get("num_edit")
            .and_then(|n| {
                n.as_i64()
                    .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(1);
        return WebhookEvent::Edit {
            user,
            mid: mid.clone(),
            text: text.to_owned(),
            num_edit,
            timestamp,
        };
    }
    for kind in [
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
        "app_roles",
        "optin",
        "policy_enforcement",
        "policy-enforcement",
        "account_linking",
        "messaging_feedback",
        "game_play",
    ] {
        if e.get(kind).is_some() {
            return WebhookEvent::Ignored {
                kind: static_kind(kind),
            };
        }
    }
    WebhookEvent::Unknown {
        reason: "unknown messaging event kind".into(),
    }
}

fn static_kind(k: &str) -> &'static str {
    match k {
        "pass_thread_control" => "pass_thread_control",
        "take_thread_control" => "take_thread_control",
        "request_thread_control" => "request_thread_control",
        "app_roles" => "app_roles",
        "optin" => "optin",
        "policy_enforcement" | "policy-enforcement" => "policy_enforcement",
        "account_linking" => "account_linking",
        "messaging_feedback" => "messaging_feedback",
        _ => "other",
    }
}

/// Milliseconds from a number, a numeric string, or an RFC 3339 string (Instagram test events).
/// Values that look like seconds are scaled, since feed/leadgen times are in seconds.
pub fn timestamp_ms(v: &Value) -> Option<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse::<i64>().ok().or_else(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
                .ok()
                .map(|d| d.timestamp_millis())
        }),
        _ => None,
    }?;
    // Before 2001-09-09 in ms is 1e12; any real event after that in seconds is below 1e11.
    Some(if n < 100_000_000_000 { n * 1000 } else { n })
}

fn attachments(m: &Value) -> Vec<Attachment> {
    let Some(list) = m.get("attachments").and_then(Value::as_array) else {
        return vec![];
    };
    list.iter().filter_map(attachment).collect()
}

fn attachment(a: &Value) -> Option<Attachment> {
    let kind = a.get("type").and_then(Value::as_str)?.to_owned();
    let payload = a.get("payload").filter(|p| p.is_object());
    let url = payload
        .and_then(|p| p.get("url"))
        .or_else(|| a.get("url"))
        .or_else(|| a.get("URL"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let sticker_id = payload
        .and_then(|p| p.get("sticker_id"))
        .and_then(id_string);
    let coordinates = payload.and_then(|p| p.get("coordinates")).cloned();
    let title = a
        .get("title")
        .or_else(|| payload.and_then(|p| p.get("title")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Templates and other structured shares keep their payload so a front end can render them.
    let keep_payload = matches!(
        kind.as_str(),
        "template" | "product" | "post" | "ig_post" | "appointment_booking"
    );
    Some(Attachment {
        kind,
        url,
        title,
        sticker_id,
        coordinates,
        payload: if keep_payload { payload.cloned() } else { None },
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(field: Field, event: Value) -> InboundEvent {
        InboundEvent {
            v: 1,
            object: "page".into(),
            page_id: "P".into(),
            field,
            entry_time: None,
            received_at: 5,
            event,
            spilled: None,
            deferrals: 0,
        }
    }

    #[test]
    fn text_with_quick_reply_and_reply_to() {
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458692752478i64,
            "message":{"mid":"m1","text":"hi","quick_reply":{"payload":"RED"},"reply_to":{"mid":"m0"}}}),
        );
        let WebhookEvent::Inbound(m) = parse(&e) else {
            panic!()
        };
        assert_eq!(
            (m.user.as_str(), m.mid.as_str(), m.timestamp),
            ("U", "m1", 1458692752478)
        );
        assert_eq!(m.quick_reply_payload.as_deref(), Some("RED"));
        assert_eq!(m.reply_to_mid.as_deref(), Some("m0"));
    }

    #[test]
    fn echo_with_numeric_app_id_names_the_recipient_as_user() {
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"P"},"recipient":{"id":"U"},"timestamp":1,
            "message":{"is_echo":true,"app_id":205552219930699i64,"mid":"m","text":"x","metadata":"pd1:c:m"}}),
        );
        let WebhookEvent::Echo(x) = parse(&e) else {
            panic!()
        };
        assert_eq!(x.user, "U");
        assert_eq!(x.app_id.as_deref(), Some("205552219930699"));
        assert_eq!(x.metadata.as_deref(), Some("pd1:c:m"));
    }

    #[test]
    fn fallback_sticker_location_template_attachments() {
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,
            "message":{"mid":"m","attachments":[
                {"type":"fallback","payload":null,"title":"T","URL":"https://u"},
                {"type":"image","payload":{"url":"https://i","sticker_id":369239263222822i64}},
                {"type":"location","payload":{"coordinates":{"lat":1,"long":2}}},
                {"type":"template","payload":{"template_type":"generic","elements":[]}}]}}),
        );
        let WebhookEvent::Inbound(m) = parse(&e) else {
            panic!()
        };
        let a = &m.attachments;
        assert_eq!(
            (
                a[0].kind.as_str(),
                a[0].url.as_deref(),
                a[0].title.as_deref()
            ),
            ("fallback", Some("https://u"), Some("T"))
        );
        assert_eq!(a[1].sticker_id.as_deref(), Some("369239263222822"));
        assert_eq!(a[2].coordinates, Some(json!({"lat":1,"long":2})));
        assert_eq!(a[3].payload.as_ref().unwrap()["template_type"], "generic");
    }

    #[test]
    fn stickers_arrive_as_their_own_type_since_2026_and_as_images_before() {
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,
            "message":{"mid":"m","attachments":[
                {"type":"sticker","payload":{"url":"https://s","sticker_id":369239263222822i64}},
                {"type":"image","payload":{"url":"https://i","sticker_id":"369239263222822"}}]}}),
        );
        let WebhookEvent::Inbound(m) = parse(&e) else {
            panic!("a message with stickers is a message")
        };
        let a = &m.attachments;
        assert_eq!(
            (
                a[0].kind.as_str(),
                a[0].url.as_deref(),
                a[0].sticker_id.as_deref()
            ),
            ("sticker", Some("https://s"), Some("369239263222822"))
        );
        assert_eq!(
            (a[1].kind.as_str(), a[1].sticker_id.as_deref()),
            ("image", Some("369239263222822"))
        );
    }

    #[test]
    fn receipts_reactions_edits_postbacks_referrals() {
        let d = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"delivery":{"mids":["a"],"watermark":10}}),
        );
        assert_eq!(
            parse(&d),
            WebhookEvent::Delivery {
                user: "U".into(),
                watermark: 10_000,
                mids: vec!["a".into()]
            }
        );
        let r = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458668856463i64,"read":{"watermark":1458668856253i64}}),
        );
        assert_eq!(
            parse(&r),
            WebhookEvent::Read {
                user: "U".into(),
                watermark: 1458668856253
            }
        );
        let x = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458668856463i64,
            "reaction":{"reaction":"love","emoji":"❤️","action":"unreact","mid":"m"}}),
        );
        let WebhookEvent::Reaction(x) = parse(&x) else {
            panic!()
        };
        assert!(!x.react);
        let ed = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458668856463i64,
            "message_edit":{"mid":"m","text":"new","num_edit":"2"}}),
        );
        assert!(matches!(parse(&ed), WebhookEvent::Edit { num_edit: 2, .. }));
        let pb = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1491798782090i64,"postback":{"payload":"P1"}}),
        );
        let WebhookEvent::Inbound(pb) = parse(&pb) else {
            panic!()
        };
        assert_eq!(pb.mid, "pb:U:1491798782090");
        assert_eq!(pb.text.as_deref(), Some("P1"));
        let rf = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1511111143921i64,"referral":{"ref":"aaaa","source":"SHORTLINK"}}),
        );
        let WebhookEvent::Inbound(rf) = parse(&rf) else {
            panic!()
        };
        assert_eq!(rf.referral.unwrap()["source"], "SHORTLINK");
    }

    #[test]
    fn unknown_and_ignored_kinds_do_not_panic() {
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1,"something_new":{}}),
        );
        assert!(matches!(parse(&e), WebhookEvent::Unknown { .. }));
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"P"},"recipient":{"id":"U"},"pass_thread_control":{"new_owner_app_id":"1"}}),
        );
        assert_eq!(
            parse(&e),
            WebhookEvent::Ignored {
                kind: "pass_thread_control"
            }
        );
        let e = ev(
            Field::Messaging,
            json!({"recipient":{"id":"P"},"app_roles":{"1":["automation"]}}),
        );
        assert_eq!(parse(&e), WebhookEvent::Ignored { kind: "app_roles" });
        let e = ev(
            Field::Messaging,
            json!({"sender":{"id":"U"},"recipient":{"id":"P"},"message":{"mid":"m"}}),
        );
        assert!(matches!(parse(&e), WebhookEvent::Unknown { .. }));
    }

    #[test]
    fn timestamps_in_seconds_strings_and_rfc3339() {
        assert_eq!(timestamp_ms(&json!(1511951015)), Some(1_511_951_015_000));
        assert_eq!(timestamp_ms(&json!("1527459824")), Some(1_527_459_824_000));
        assert_eq!(
            timestamp_ms(&json!("2021-09-08T06:34:04+0000")),
            Some(1_631_082_844_000)
        );
        assert_eq!(timestamp_ms(&json!(null)), None);
    }
}
