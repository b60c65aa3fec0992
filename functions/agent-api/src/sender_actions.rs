//! Messenger's sender actions from the inbox: "seen" when an agent opens a conversation with the
//! person's unread messages, "typing…" while an agent writes (`POST /conversations/{id}/typing`),
//! and an agent's reaction to the person's message (`PUT|DELETE
//! /conversations/{id}/messages/{message_id}/reaction`). Only in a Messenger thread whose
//! standard window is open: Meta allows nothing else, and comment threads and leads have no
//! thread to show them in.

use std::sync::Arc;

use axum::extract::{Path, State};
use pagedesk_shared::adapters::auth::Role;
use pagedesk_shared::domain::window::{WindowState, window_at};
use pagedesk_shared::domain::{Channel, Direction};
use pagedesk_shared::http::views;
use pagedesk_shared::store::{ActionMark, ConversationItem, Watermarks};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, ok};
use crate::pages::graph_down;

/// `typing_on` at most this often per conversation.
const TYPING_EVERY_MS: i64 = 5_000;

/// Why a sender action cannot go to this conversation now (`None`: it can).
fn not_possible(conv: &ConversationItem, now: i64) -> Option<&'static str> {
    // Messenger and Instagram Direct threads take sender actions (the same endpoint).
    if !matches!(conv.channel, Channel::Messenger | Channel::Instagram) {
        return Some("no_thread");
    }
    if window_at(conv.last_inbound_at, false, now).state != WindowState::Open {
        return Some("window_closed");
    }
    None
}

/// Sends `action` (with `payload`) to the conversation's person in the Page's name.
async fn send_action(
    app: &App,
    conv: &ConversationItem,
    action: &str,
    payload: Option<Value>,
) -> Result<(), ApiFailure> {
    let page = app
        .store
        .get_page(&conv.page_id)
        .await?
        .ok_or(ApiFailure::NotFound("page"))?;
    let token = page
        .token(&app.secrets)
        .await?
        .ok_or(ApiFailure::Unavailable("the Page's token is not stored"))?;
    let mut body = json!({"recipient": {"id": conv.facebook_id}, "sender_action": action});
    if let Some(p) = payload {
        body["payload"] = p;
    }
    app.graph
        .post_json(&format!("{}/messages", conv.page_id), &body, &token)
        .await
        .map(|_| ())
        .map_err(|e| {
            graph_down(&e)
                .unwrap_or_else(|| ApiFailure::invalid(format!("Facebook refused {action} ({e})")))
        })
}

/// Tells the person their messages were seen, once per message of theirs (the newest at
/// `inbound_at`), when a person opens the conversation (its messages) and the Page sends read
/// receipts. Failures are logged: the agent's reading goes on.
pub(crate) async fn seen(app: &App, c: &Caller, conv: &ConversationItem, inbound_at: Option<i64>) {
    let (Some(inbound_at), Role::Agent | Role::Admin) = (inbound_at, c.role) else {
        return;
    };
    if not_possible(conv, app.clock.now_ms()).is_some() {
        return;
    }
    let result = async {
        let settings = app
            .store
            .settings_for_page(&c.account, &conv.page_id)
            .await?;
        if !settings.read_receipts()
            || !app
                .store
                .take_action_mark(conv, ActionMark::Seen { inbound_at })
                .await?
        {
            return Ok(false);
        }
        send_action(app, conv, "mark_seen", None)
            .await
            .map(|()| true)
    }
    .await;
    match result {
        Ok(sent) => {
            if sent {
                tracing::info!(conversation_id = %conv.id, "mark_seen sent");
            }
        }
        Err(e) => tracing::warn!(conversation_id = %conv.id, error = ?e, "mark_seen not sent"),
    }
}

/// `POST /conversations/{id}/typing` → `{"sent": bool, "reason"}`: `typing_on`, at most once
/// every 5 s per conversation whoever asks (`too_soon` otherwise).
pub async fn typing(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    let conv = app.conversation(&c, &id).await?;
    c.require_holder(&conv)?;
    let now = app.clock.now_ms();
    let reason = match not_possible(&conv, now) {
        Some(r) => Some(r),
        None if !app
            .store
            .take_action_mark(
                &conv,
                ActionMark::Typing {
                    now,
                    every_ms: TYPING_EVERY_MS,
                },
            )
            .await? =>
        {
            Some("too_soon")
        }
        None => {
            send_action(&app, &conv, "typing_on", None).await?;
            None
        }
    };
    ok(&json!({"sent": reason.is_none(), "reason": reason}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReaction {
    emoji: String,
}

/// An emoji: 1 to 10 characters, none white space, a letter or a digit of ASCII. White space
/// is Unicode's and ECMAScript's together (U+0085 is only Unicode's, U+FEFF only
/// ECMAScript's), so the document's pattern means the same to every JSON Schema tool.
fn emoji(e: &str) -> Result<(), ApiFailure> {
    let n = e.chars().count();
    if !(1..=10).contains(&n)
        || e.chars()
            .any(|c| c.is_whitespace() || c == '\u{feff}' || c.is_ascii_alphanumeric())
    {
        return Err(ApiFailure::invalid("emoji: one emoji (1 to 10 characters)"));
    }
    Ok(())
}

/// `PUT /conversations/{id}/messages/{message_id}/reaction` `{"emoji"}` → the message with
/// `page_reaction`; `DELETE` takes it back. Only on the person's Messenger messages, inside
/// the standard window (409 `window_closed` otherwise).
pub async fn put_reaction(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((id, message_id)): Path<(String, String)>,
    RawBody(bytes): RawBody,
) -> Reply {
    let req: NewReaction = body(&bytes)?;
    emoji(&req.emoji)?;
    react(&app, &c, &id, &message_id, Some(&req.emoji)).await
}

pub async fn delete_reaction(
    State(app): State<Arc<App>>,
    c: Caller,
    Path((id, message_id)): Path<(String, String)>,
) -> Reply {
    react(&app, &c, &id, &message_id, None).await
}

async fn react(app: &App, c: &Caller, id: &str, message_id: &str, emoji: Option<&str>) -> Reply {
    let conv = app.conversation(c, id).await?;
    c.require_holder(&conv)?;
    let m = app
        .store
        .message_by_id(&c.account, id, message_id)
        .await?
        .ok_or(ApiFailure::NotFound("message"))?;
    let Some(mid) = m
        .external_id
        .clone()
        .filter(|_| m.direction == Direction::In)
    else {
        return Err(ApiFailure::NotPersonsMessage);
    };
    let now = app.clock.now_ms();
    match not_possible(&conv, now) {
        Some("window_closed") => {
            let w = window_at(conv.last_inbound_at, false, now);
            return Err(ApiFailure::WindowClosed {
                explain: "a reaction goes out only inside Meta's 24-hour standard window"
                    .to_owned(),
                details: json!({
                    "reason": "standard_window_closed",
                    "closed_at": w.closes_at.map(pagedesk_shared::clock::rfc3339),
                    "last_inbound_at": conv.last_inbound_at.map(pagedesk_shared::clock::rfc3339),
                }),
            });
        }
        Some(_) => {
            return Err(ApiFailure::invalid(
                "reactions go to Messenger threads only",
            ));
        }
        None => {}
    }
    let (action, payload) = match emoji {
        Some(e) => ("react", json!({"message_id": mid, "reaction": e})),
        None => ("unreact", json!({"message_id": mid})),
    };
    // Meta first: the timeline shows what the person sees.
    send_action(app, &conv, action, Some(payload)).await?;
    app.store.set_page_reaction(&m, emoji, now).await?;
    tracing::info!(conversation_id = %id, by = %c.sub, action, "reaction sent");
    let mut m = m;
    m.page_reaction = emoji.map(str::to_owned);
    ok(&views::message(&m, Watermarks::default()))
}
