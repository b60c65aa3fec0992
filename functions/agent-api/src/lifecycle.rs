//! A conversation's status as people change it: resolve (with the CSAT survey), reopen,
//! snooze until a time and wake early. The scheduler ends snoozes that run out and the router
//! those the person interrupts.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::access::Role;
use pagedesk_shared::domain::window::{WindowState, window_at};
use pagedesk_shared::domain::{MessageKind, UnsnoozedBy, workday};
use pagedesk_shared::services::automatic::{self, Automatic};
use pagedesk_shared::store::{ConversationItem, ReopenRefused, Resolution};
use serde::Deserialize;

use crate::App;
use crate::conversations::show;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body};

/// `POST /conversations/{id}/resolve`
pub async fn resolve(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    let conv = app.conversation(&c, &id).await?;
    c.require_holder(&conv)?;
    let now = app.clock.now_ms();
    let resolution = if c.role == Role::Bot {
        app.store.resolve_as_ai_agent(&conv, now).await?
    } else if app.store.resolve_conversation(&conv, now).await? {
        Resolution::Resolved
    } else {
        Resolution::NotOpen
    };
    match resolution {
        Resolution::Resolved => {}
        Resolution::NotOpen => return Err(ApiFailure::ConversationNotOpen),
        Resolution::NotWithAiAgent => return Err(ApiFailure::NotWithAiAgent),
    }
    tracing::info!(conversation_id = %id, agent = %c.sub, "conversation resolved");
    // The survey must not fail a resolve that happened.
    if let Err(e) = ask_csat(&app, &conv).await {
        tracing::error!(conversation_id = %id, error = %e, "survey could not be sent");
    }
    show(&app, &c, &id).await
}

/// On resolve, if the account wants it and the window is open (the survey is an automatic
/// message: never tagged, never outside 24 h): quick replies 1–5.
async fn ask_csat(app: &App, conv: &ConversationItem) -> pagedesk_shared::Result<()> {
    if !conv.channel.has_automation() || conv.csat.is_some() {
        return Ok(());
    }
    let settings = app
        .store
        .settings_for_page(&conv.account, &conv.page_id)
        .await?;
    let now = app.clock.now_ms();
    let window = window_at(conv.last_inbound_at, false, now);
    if !settings.csat_enabled || window.state != WindowState::Open {
        return Ok(());
    }
    if !app.store.mark_csat_requested(conv, now).await? {
        return Ok(());
    }
    automatic::send(
        &app.store,
        &app.sqs,
        &app.cfg.outbound_queue_url,
        conv,
        Automatic {
            kind: MessageKind::Csat,
            text: automatic::CSAT_QUESTION,
            quick_replies: Some(automatic::csat_quick_replies(&conv.id)),
            require_active: false,
        },
        now,
    )
    .await?;
    Ok(())
}

/// `POST /conversations/{id}/reopen`: 409 if the contact has another open conversation.
pub async fn reopen(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    let conv = app.conversation(&c, &id).await?;
    c.require_holder(&conv)?;
    match app
        .store
        .reopen_conversation(&conv, app.clock.now_ms())
        .await?
    {
        Ok(()) => {}
        Err(ReopenRefused::NotResolved) => return Err(ApiFailure::NotResolved),
        Err(ReopenRefused::ContactHasOpenConversation) => {
            return Err(ApiFailure::ContactHasOpenConversation);
        }
    }
    tracing::info!(conversation_id = %id, agent = %c.sub, "conversation reopened");
    show(&app, &c, &id).await
}

/// `{"until": "<RFC 3339>"}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeRequest {
    until: String,
}

/// `POST /conversations/{id}/snooze`: set aside until `until`, or until the person writes,
/// whichever comes first; snoozing a snoozed conversation moves its moment. It stays with its
/// assignee (and on their load: it comes back to them).
pub async fn snooze(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(b): RawBody,
) -> Reply {
    c.require_person()?;
    let req: SnoozeRequest = body(&b)?;
    let now = app.clock.now_ms();
    let until = workday::snooze_until(&req.until, now).map_err(ApiFailure::invalid)?;
    let conv = app.conversation(&c, &id).await?;
    if !conv.status.is_active() || !app.store.snooze(&conv, until, &c.sub, now).await? {
        return Err(ApiFailure::ConversationNotOpen);
    }
    tracing::info!(conversation_id = %id, agent = %c.sub, "conversation snoozed");
    show(&app, &c, &id).await
}

/// `DELETE /conversations/{id}/snooze`: open it now (`conversation.unsnoozed`, `by: agent`).
pub async fn unsnooze(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    c.require_person()?;
    let conv = app.conversation(&c, &id).await?;
    let now = app.clock.now_ms();
    if !app
        .store
        .unsnooze(&c.account, &conv.id, UnsnoozedBy::Agent, None, now)
        .await?
    {
        return Err(ApiFailure::NotSnoozed);
    }
    tracing::info!(conversation_id = %id, agent = %c.sub, "conversation woken");
    show(&app, &c, &id).await
}
