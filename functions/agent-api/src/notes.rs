//! Private notes (`POST /conversations/{id}/notes`) and labels (`PUT /conversations/{id}/labels`,
//! `GET /labels`): the team's own marks on a conversation, never sent to Meta.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::adapters::auth::Role;
use pagedesk_shared::domain::workday;
use pagedesk_shared::domain::{AuthorType, Direction, EventType, MessageKind, MessageStatus};
use pagedesk_shared::http::views;
use pagedesk_shared::store::{EventItem, Message, Watermarks};
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, json, ok};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNote {
    text: String,
}

/// `POST /conversations/{id}/notes` `{"text"}` → 201 with the note as the timeline shows it.
/// The conversation row is not written: its activity and messaging window stay as they were.
pub async fn post(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    let req: NewNote = body(&bytes)?;
    workday::note_text(&req.text).map_err(ApiFailure::invalid)?;
    let conv = app.conversation(&c, &id).await?;
    c.require_holder(&conv)?;
    let agents = app.store.list_agents(&c.account).await?;
    let page = app.store.get_page(&conv.page_id).await?;
    // Only agents who may see the conversation are named (and so notified).
    let able: Vec<&str> = agents
        .iter()
        .filter(|a| a.may_work(&conv.page_id, page.as_ref()))
        .map(|a| a.id.as_str())
        .collect();
    let mentions = workday::mentions(&req.text, &able);
    let now = app.clock.now_ms();
    let note = Message {
        direction: Direction::Out,
        author_type: if c.role == Role::Bot {
            AuthorType::Bot
        } else {
            AuthorType::Agent
        },
        author_id: Some(c.sub.clone()),
        text: Some(req.text),
        status: MessageStatus::Received,
        kind: Some(MessageKind::Note),
        created_at: now,
        ..Default::default()
    }
    .placed(&c.account, &id);
    let view = views::message(&note, Watermarks::default());
    let event = EventItem::new(
        &c.account,
        EventType::NoteCreated,
        Some(&id),
        json!({"note": view, "mentions": mentions}),
        now,
    );
    app.store.put_note(&note, &event).await?;
    tracing::info!(conversation_id = %id, by = %c.sub, mentions = mentions.len(), "note added");
    Ok(json(StatusCode::CREATED, &view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLabels {
    labels: Vec<String>,
}

/// `PUT /conversations/{id}/labels` `{"labels": [...]}` → the conversation with its labels.
pub async fn put_labels(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    let req: SetLabels = body(&bytes)?;
    let labels = workday::labels(&req.labels, "labels").map_err(ApiFailure::Invalid)?;
    let conv = app.conversation(&c, &id).await?;
    c.require_holder(&conv)?;
    let now = app.clock.now_ms();
    let event = EventItem::new(
        &c.account,
        EventType::ConversationUpdated,
        Some(&id),
        json!({"labels": labels, "by": c.sub}),
        now,
    );
    if !app.store.set_labels(&conv, &labels, &event, now).await? {
        return Err(ApiFailure::NotFound("conversation"));
    }
    tracing::info!(conversation_id = %id, by = %c.sub, labels = labels.len(), "labels set");
    crate::conversations::show(&app, &c, &id).await
}

/// `GET /labels` → every label the account has used, with its open conversations.
pub async fn list(State(app): State<Arc<App>>, c: Caller) -> Reply {
    c.require_person()?;
    let pages = app.pages_of(&c).await?;
    let counts = app.store.label_counts(&c.account, pages.as_deref()).await?;
    let items: Vec<_> = counts
        .iter()
        .map(|l| json!({"name": l.name, "open_conversations": l.open_conversations}))
        .collect();
    ok(&json!({"items": items}))
}
