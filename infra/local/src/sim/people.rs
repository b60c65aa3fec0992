//! What people do on Facebook and Instagram, sent to pagedesk as the signed webhooks Meta sends:
//! a person writes to a Page in Messenger (`POST /_sim/messages`), to the Instagram account
//! linked to a Page in Direct (`POST /_sim/instagram/messages`) or comments on its media
//! (`POST /_sim/instagram/comments`); `POST /_sim/webhook` delivers any payload.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Sim;
use super::graph::chrono_now_ms;

#[derive(Deserialize)]
struct UserMessage {
    page_id: String,
    psid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Value>,
    #[serde(default)]
    mid: Option<String>,
    /// The message reaches the Page's history only: Meta never sends its webhook.
    #[serde(default)]
    drop_webhook: bool,
}

pub(super) async fn user_message(State(sim): State<Sim>, body: Bytes) -> Response {
    let m: UserMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    // A message of the Page's history that Meta also delivers by webhook keeps its own time.
    let now = m
        .mid
        .as_deref()
        .and_then(|mid| sim.state().fb.history_time_ms(mid))
        .unwrap_or_else(chrono_now_ms);
    if m.drop_webhook {
        let text = m.text.unwrap_or_default();
        let mid = sim
            .state()
            .fb
            .append_history(&m.page_id, &m.psid, &text, now);
        return axum::Json(json!({"webhook_status": null, "mid": mid})).into_response();
    }
    let mid = m.mid.unwrap_or_else(|| sim.next_id("m_sim_in_"));
    let mut message = json!({"mid": mid});
    if let Some(t) = m.text {
        message["text"] = json!(t);
    }
    if let Some(a) = m.attachments {
        message["attachments"] = a;
    }
    let payload = json!({"object": "page", "entry": [{"id": m.page_id, "time": now, "messaging": [{
        "sender": {"id": m.psid}, "recipient": {"id": m.page_id}, "timestamp": now, "message": message}]}]});
    deliver_response(&sim, payload, Some(mid)).await
}

pub(super) async fn deliver_raw(State(sim): State<Sim>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let payload = v.get("payload").cloned().unwrap_or(v);
    deliver_response(&sim, payload, None).await
}

async fn deliver_response(sim: &Sim, payload: Value, mid: Option<String>) -> Response {
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    match sim.deliver(body).await {
        Ok((status, text)) => {
            axum::Json(json!({"webhook_status": status, "webhook_body": text, "mid": mid}))
                .into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}

/// `POST /_sim/instagram/messages`: a person writes to an Instagram account in Direct, or does
/// one of the other things Direct reports (one per call, in this order of precedence).
#[derive(Deserialize)]
struct InstagramMessage {
    ig_id: String,
    igsid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Value>,
    /// `{"id", "url"}` (or the URL alone): the message answers that story.
    #[serde(default)]
    story_reply: Option<Value>,
    /// `{"url"}`: the person mentioned the account in their story (an attachment).
    #[serde(default)]
    story_mention: Option<Value>,
    #[serde(default)]
    mid: Option<String>,
    /// `{"mid", "emoji"?, "action"?: "react" | "unreact"}`: a reaction to a message.
    #[serde(default)]
    reaction: Option<Value>,
    /// A mid: the person unsends that message (`is_deleted`).
    #[serde(default)]
    unsend: Option<String>,
    /// A mid: the person read up to that message (`messaging_seen`).
    #[serde(default)]
    read: Option<String>,
    /// `{"title", "payload"}`: an ice breaker or a button tapped.
    #[serde(default)]
    postback: Option<Value>,
    /// `{"ref", "source", "type", "ad_id"?}`: the thread opened from an ad or a link.
    #[serde(default)]
    referral: Option<Value>,
    /// The account's own message, sent from the Instagram app (an echo without our app id).
    #[serde(default)]
    echo: bool,
}

pub(super) async fn instagram_message(State(sim): State<Sim>, body: Bytes) -> Response {
    let m: InstagramMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mid = m.mid.clone().unwrap_or_else(|| sim.next_id("aWdfZAG1faWQ"));
    let now = *sim
        .state()
        .instagram_times
        .entry(mid.clone())
        .or_insert_with(chrono_now_ms);
    let (person, account) = (json!({"id": m.igsid}), json!({"id": m.ig_id}));
    let mut item = json!({"sender": person, "recipient": account, "timestamp": now});
    let answered = if let Some(r) = m.reaction {
        let emoji = r
            .get("emoji")
            .cloned()
            .unwrap_or_else(|| json!("\u{2764}\u{fe0f}"));
        let action = r.get("action").cloned().unwrap_or_else(|| json!("react"));
        item["reaction"] =
            json!({"mid": r.get("mid"), "action": action, "reaction": "love", "emoji": emoji});
        None
    } else if let Some(target) = m.unsend {
        item["message"] = json!({"mid": target, "is_deleted": true});
        None
    } else if let Some(target) = m.read {
        item["read"] = json!({"mid": target});
        None
    } else if let Some(p) = m.postback {
        item["postback"] =
            json!({"mid": mid, "title": p.get("title"), "payload": p.get("payload")});
        Some(mid)
    } else if let Some(r) = m.referral {
        item["referral"] = r;
        None
    } else {
        let mut message = json!({"mid": mid});
        if let Some(t) = m.text {
            message["text"] = json!(t);
        }
        let mut attachments = m.attachments.unwrap_or_else(|| json!([]));
        if let (Some(story), Some(list)) = (m.story_mention, attachments.as_array_mut()) {
            let url = story.get("url").cloned().unwrap_or(story);
            list.push(json!({"type": "story_mention", "payload": {"url": url}}));
        }
        if attachments.as_array().is_some_and(|a| !a.is_empty()) {
            message["attachments"] = attachments;
        }
        if let Some(story) = m.story_reply {
            // The story's URL alone is taken too; Meta names the story by id and URL.
            let story = match story {
                Value::String(url) => {
                    json!({"id": format!("story-{}", sim.next_id("")), "url": url})
                }
                other => other,
            };
            message["reply_to"] = json!({"story": story});
        }
        if m.echo {
            message["is_echo"] = json!(true);
            item["sender"] = account;
            item["recipient"] = person;
        }
        item["message"] = message;
        Some(mid)
    };
    // Meta's shape: the Instagram account in `entry[].id` and as recipient.
    let payload = json!({"object": "instagram", "entry": [{"id": m.ig_id, "time": now, "messaging": [item]}]});
    deliver_response(&sim, payload, answered).await
}

/// `POST /_sim/instagram/comments`: a person comments on the Instagram account's media.
#[derive(Deserialize)]
struct InstagramComment {
    ig_id: String,
    igsid: String,
    #[serde(default)]
    username: Option<String>,
    text: String,
    media_id: String,
    #[serde(default)]
    comment_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    /// A comment on a live broadcast (`live_comments`).
    #[serde(default)]
    live: bool,
}

pub(super) async fn instagram_comment(State(sim): State<Sim>, body: Bytes) -> Response {
    let c: InstagramComment = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let id = c.comment_id.unwrap_or_else(|| sim.next_id("1790"));
    let mut value = json!({
        "id": id,
        "from": {"id": c.igsid, "username": c.username.unwrap_or_else(|| "someone".into())},
        "text": c.text,
        "media": {"id": c.media_id, "media_product_type": if c.live { "LIVE" } else { "FEED" }},
    });
    if let Some(p) = c.parent_id {
        value["parent_id"] = json!(p);
    }
    let payload = json!({"object": "instagram", "entry": [{"id": c.ig_id, "time": chrono_now_ms() / 1000,
        "changes": [{"field": if c.live { "live_comments" } else { "comments" }, "value": value}]}]});
    deliver_response(&sim, payload, Some(id)).await
}
