//! `POST /conversations/{id}/messages`: a reply, checked against Meta's rules, stored as
//! `queued` and handed to the sender through the outbound queue.

use std::sync::Arc;

use axum::extract::State;
use lambda_http::http::StatusCode;
use pagedesk_shared::adapters::auth::Role;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::contracts::queue::{OutboundJob, enqueue_outbound};
use pagedesk_shared::domain::outbound::{self, OutAttachment, ReplyAuthor, ReplyRequest};
use pagedesk_shared::domain::window::window_at;
use pagedesk_shared::domain::{Attachment, MessageError};
use pagedesk_shared::domain::{
    AuthorType, Channel, Direction, EventType, MessageKind, MessageStatus, ReplyRoute, SendType,
};
use pagedesk_shared::ids;
use pagedesk_shared::store::{
    Assignment, Capacity, ConversationItem, EventItem, InWindow, Message, QueueOutcome, ReplyState,
    Settings, Watermarks,
};
use serde_json::json;

use pagedesk_shared::http::views;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, json};
use crate::reply_comments;

/// `POST /conversations/{id}/messages` → 202 with the queued message.
///
/// A person's reply in a Messenger thread whose standard window is open (the common case) is
/// stored without reading first: the conversation update's condition makes the checks
/// ([`pagedesk_shared::store::Store::queue_reply_in_window`]). Anything that condition does not
/// admit is read and checked here, with the conversation as the update found it.
pub async fn post(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    let app = &*app;
    let id = id.as_str();
    let req: ReplyRequest = body(&bytes)?;
    outbound::validate(&req).map_err(ApiFailure::Invalid)?;
    // An agent who works some Pages is checked against the conversation's Page first (the
    // fast path below writes without reading).
    if let Some(pages) = app.pages_of(&c).await? {
        app.conversation_on(&c, id, &pages).await?;
    }
    let mut fresh_guard = None;
    let ctx = if stored_without_reading(&c, &req) {
        let now = app.clock.now_ms();
        let msg = reply_message(
            &c,
            id,
            &req,
            url_attachments(&req),
            (Some(SendType::Response), None),
            (ids::new_id(ids::message_prefix(), now), now),
        );
        match app
            .store
            .outbound()
            .queue_reply_in_window(&msg, now)
            .await?
        {
            InWindow::Stored(conv) => return queued(app, &c, msg, &conv, None, None).await,
            InWindow::ClientSeen => {
                app.store
                    .outbound()
                    .reply_context(&c.account, id, req.client_id.as_deref())
                    .await?
            }
            InWindow::Refused {
                conversation,
                guard,
            } => {
                // Only the Send API's window needs the settings.
                let settings = match conversation.as_deref() {
                    Some(cv) if cv.channel.reply_route() == ReplyRoute::SendApi => {
                        app.store.settings_for_page(&c.account, &cv.page_id).await?
                    }
                    _ => Settings::default(),
                };
                fresh_guard = guard.clone();
                ReplyState {
                    conversation: conversation.map(|cv| *cv),
                    settings,
                    client: guard,
                }
            }
        }
    } else {
        // One read for what the checks need: the conversation, the settings, an earlier
        // call's `client_id` guard.
        app.store
            .outbound()
            .reply_context(&c.account, id, req.client_id.as_deref())
            .await?
    };
    match prepare(app, &c, id, &req, ctx, fresh_guard.is_some()).await {
        Ok(Prepared::Answered(r)) => Ok(r),
        Ok(Prepared::Ready(r)) => store_and_queue(app, &c, *r).await,
        Err(refused) => {
            // The guard this call put holds a message that was not allowed: a later call with
            // the same `client_id` must be checked afresh, not finish that one.
            if let Some(g) = &fresh_guard
                && let Err(e) = app.store.outbound().forget_client_guard(g).await
            {
                tracing::warn!(error = %e, conversation_id = id, "a refused reply's client_id guard stays");
            }
            Err(refused)
        }
    }
}

/// A person's reply without uploads or a private reply: what the update's condition can check.
fn stored_without_reading(c: &Caller, req: &ReplyRequest) -> bool {
    c.role != Role::Bot && !req.private && req.attachments.iter().all(|a| a.upload_id.is_none())
}

/// What [`prepare`] found.
enum Prepared {
    /// A repeated `client_id`: the first call's message.
    Answered(lambda_http::Response<axum::body::Body>),
    /// Checked and ready to store.
    Ready(Box<ReadyReply>),
}

struct ReadyReply {
    conv: ConversationItem,
    msg: Message,
    human_agent_enabled: bool,
    warnings: Vec<serde_json::Value>,
}

/// Everything before the reply is stored: the checks against the conversation as `ctx` read
/// it (an error here stored nothing), then the message.
async fn prepare(
    app: &App,
    c: &Caller,
    id: &str,
    req: &ReplyRequest,
    ctx: ReplyState,
    fresh_guard: bool,
) -> Result<Prepared, ApiFailure> {
    let conv = ctx
        .conversation
        .ok_or(ApiFailure::NotFound("conversation"))?;
    let chars = req.text.as_deref().map_or(0, |t| t.chars().count());
    if chars > conv.channel.max_text_chars() {
        return Err(ApiFailure::invalid(format!(
            "text: {chars} characters; {} allows {}",
            conv.channel,
            conv.channel.max_text_chars()
        )));
    }
    if req.private && conv.channel.reply_route() != ReplyRoute::CommentReply {
        return Err(ApiFailure::invalid(
            "private: only comment conversations have private replies",
        ));
    }
    // A call that stored the guard but not its message (it failed or died half-way, or it is
    // this call's own, put before the checks) is finished now under the same id.
    let mut resumed = None;
    if let Some(guard) = ctx.client {
        if fresh_guard {
            resumed = Some(guard);
        } else {
            match app
                .store
                .get_message(&c.account, id, &guard.message_sk)
                .await?
            {
                Some(existing) => {
                    return settle_existing(app, &conv, existing)
                        .await
                        .map(Prepared::Answered);
                }
                None => resumed = Some(guard),
            }
        }
    }
    if !conv.status.is_active() {
        return Err(ApiFailure::ConversationNotOpen);
    }
    // The AI agent speaks only while the conversation is its own; its messages are
    // automatic (never tagged, only inside 24 h).
    let bot = c.role == Role::Bot;
    c.require_holder(&conv)?;
    let author = if bot {
        ReplyAuthor::Automatic
    } else {
        ReplyAuthor::HumanAgent
    };
    let now = app.clock.now_ms();
    // Comments have no messaging window: public replies are always possible, a private
    // reply once per comment within 7 days. Messenger conversations follow the window.
    let settings = &ctx.settings;
    let (messaging_type, target) = if conv.channel.reply_route() == ReplyRoute::CommentReply {
        (
            None,
            Some(reply_comments::comment_target(app, c, id, req, conv.channel, now).await?),
        )
    } else {
        let window = window_at(conv.last_inbound_at, settings.human_agent_enabled, now);
        let kind = outbound::messaging_type(&window, author).map_err(|refusal| {
                ApiFailure::WindowClosed {
                    explain: refusal.explain().to_string(),
                    details: json!({
                        "reason": refusal,
                        "closed_at": window.human_agent_until.filter(|_| settings.human_agent_enabled).or(window.closes_at).map(rfc3339),
                        "last_inbound_at": conv.last_inbound_at.map(rfc3339),
                    }),
                }
            })?;
        (Some(kind), None)
    };
    let attachments = resolve_attachments(app, &c.account, req, conv.channel).await?;
    let warnings = privacy_warnings(app, &conv, &attachments).await?;
    let earlier = resumed
        .as_ref()
        .and_then(|g| Some((g.message_id.clone(), g.message_created_at()?)));
    let msg = reply_message(
        c,
        id,
        req,
        attachments,
        (messaging_type, target),
        earlier.unwrap_or_else(|| (ids::new_id(ids::message_prefix(), now), now)),
    );
    Ok(Prepared::Ready(Box::new(ReadyReply {
        human_agent_enabled: settings.human_agent_enabled,
        conv,
        msg,
        warnings,
    })))
}

/// The queued message of a reply: `route` is its messaging type (Send API) or the comment it
/// answers; `(id, created_at)` a new id or the one a `client_id` guard holds.
fn reply_message(
    c: &Caller,
    conv: &str,
    req: &ReplyRequest,
    attachments: Vec<Attachment>,
    route: (Option<SendType>, Option<Message>),
    (id, created_at): (String, i64),
) -> Message {
    let (messaging_type, target) = route;
    let bot = c.role == Role::Bot;
    // A comment reply is one Graph call whatever it carries.
    let parts = if target.is_some() {
        1
    } else {
        req.attachments.len()
            + usize::from(req.text.as_deref().is_some_and(|t| !t.trim().is_empty()))
    };
    Message {
        id,
        direction: Direction::Out,
        author_type: if bot {
            AuthorType::Bot
        } else {
            AuthorType::Agent
        },
        author_id: Some(c.sub.clone()),
        text: req.text.clone().filter(|t| !t.trim().is_empty()),
        attachments,
        status: MessageStatus::Queued,
        private: req.private,
        quick_replies: (!req.quick_replies.is_empty())
            .then(|| serde_json::to_value(&req.quick_replies).unwrap_or_default()),
        client_id: req.client_id.clone(),
        parts_total: Some(parts as i64),
        reply_to_mid: req.reply_to.clone(),
        messaging_type,
        kind: target.as_ref().map(|_| MessageKind::Comment),
        comment_id: target.as_ref().and_then(|t| t.comment_id.clone()),
        comment_created_at: target.as_ref().and_then(|t| t.comment_created_at),
        created_at,
        ..Default::default()
    }
    .placed(&c.account, conv)
}

/// Stores a checked reply (the message is its own `message.created` event, the `feed` index)
/// and queues its send.
async fn store_and_queue(app: &App, c: &Caller, r: ReadyReply) -> Reply {
    let now = app.clock.now_ms();
    let counted = reply_comments::count_private_reply(app, c, &r.msg, &r.conv, now).await?;
    let outcome = app
        .store
        .outbound()
        .queue_message(&r.msg, now, None, true)
        .await;
    if let Some(hour) = counted
        && !matches!(outcome, Ok(QueueOutcome::Stored))
        && let Err(e) = app
            .store
            .give_back_private_reply(&c.account, &r.conv.page_id, hour)
            .await
    {
        tracing::warn!(error = %e, "a private reply's quota count not given back");
    }
    match outcome? {
        QueueOutcome::Stored => {}
        QueueOutcome::Existing(m) => return settle_existing(app, &r.conv, *m).await,
        QueueOutcome::PrivateReplyExists => return Err(ApiFailure::PrivateReplyExists),
        QueueOutcome::ConversationNotOpen => return Err(ApiFailure::ConversationNotOpen),
        QueueOutcome::NotWithAiAgent => return Err(ApiFailure::NotWithAiAgent),
        QueueOutcome::InProgress => {
            return Err(ApiFailure::Unavailable(
                "a reply with this client_id is being stored; retry with the same client_id",
            ));
        }
    }
    queued(
        app,
        c,
        r.msg,
        &r.conv,
        Some(r.human_agent_enabled),
        Some(r.warnings),
    )
    .await
}

/// A stored reply: the conversation taken from the AI agent if a person answered, the send
/// queued, the message answered. `human_agent_enabled` is the setting if it was read (the
/// sender reads it otherwise, when it matters); `warnings` the privacy warnings if they were
/// read before storing, else they are read now.
async fn queued(
    app: &App,
    c: &Caller,
    msg: Message,
    conv: &ConversationItem,
    human_agent_enabled: Option<bool>,
    warnings: Option<Vec<serde_json::Value>>,
) -> Reply {
    // Queued first: a stored reply whose job is not queued waits for the sweeper to fail it
    // (a retry with its `client_id` finds it queued and does not queue it again).
    enqueue(
        app,
        &msg,
        OutboundJob::send_in(&msg, conv, human_agent_enabled),
    )
    .await?;
    tracing::info!(conversation_id = %conv.id, message_id = %msg.id, agent = %c.sub, "reply queued");
    if c.role != Role::Bot && conv.with_ai_agent() {
        // A person answering takes the conversation over: the AI agent and a person never
        // both answer.
        take_over(app, c, conv, app.clock.now_ms()).await?;
    }
    // Read after the job is queued: a failed read must not leave a stored reply unqueued.
    let warnings = match warnings {
        Some(w) => w,
        None => privacy_warnings(app, conv, &msg.attachments).await?,
    };
    let links = crate::uploads::links(app, [&msg]).await?;
    // Just queued: no receipt can have reached it.
    let mut answer = views::message_with(&msg, Watermarks::default(), &links);
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    Ok(json(StatusCode::ACCEPTED, &answer))
}

/// A reply's attachment given by URL, as stored: the URL as given.
fn by_url(a: &OutAttachment) -> Attachment {
    Attachment {
        kind: a.kind.clone(),
        url: a.url.clone(),
        ..Default::default()
    }
}

/// A reply's attachments when none is an upload.
fn url_attachments(req: &ReplyRequest) -> Vec<Attachment> {
    req.attachments.iter().map(by_url).collect()
}

/// The reply's attachments as stored: URLs as given, uploads checked (this account's, and
/// finished: the object is there with the declared size) and pointing at their object.
/// In an Instagram conversation an upload must also fit Instagram's table (type and size: a
/// URL's are not known before Meta fetches it).
async fn resolve_attachments(
    app: &App,
    account: &str,
    req: &ReplyRequest,
    channel: Channel,
) -> Result<Vec<Attachment>, ApiFailure> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, a) in req.attachments.iter().enumerate() {
        let Some(up_id) = &a.upload_id else {
            out.push(by_url(a));
            continue;
        };
        // Another account's upload is simply not found: ids are scoped by account.
        let Some(up) = app.store.get_upload(account, up_id).await? else {
            problems.push(format!("attachments[{i}].upload_id: no such upload"));
            continue;
        };
        let bucket = crate::uploads::bucket(app)?;
        match pagedesk_shared::services::media::size(&app.s3, bucket, &up.key).await? {
            Some(n) if n == up.size => {}
            _ => {
                problems.push(format!(
                    "attachments[{i}].upload_id: the file has not been uploaded (PUT it to put_url first)"
                ));
                continue;
            }
        }
        if !pagedesk_shared::services::media::type_fits(&a.kind, &up.content_type) {
            problems.push(format!(
                "attachments[{i}].type: the upload is {}, not a(n) {}",
                up.content_type, a.kind
            ));
            continue;
        }
        if channel == Channel::Instagram
            && let Some(p) =
                outbound::instagram_attachment_problem(&a.kind, &up.content_type, up.size)
        {
            problems.push(format!("attachments[{i}]: {p}"));
            continue;
        }
        out.push(Attachment {
            kind: a.kind.clone(),
            key: Some(up.key.clone()),
            stored: Some(true),
            content_type: Some(up.content_type.clone()),
            size: Some(up.size),
            upload_id: Some(up.id.clone()),
            title: Some(up.filename.clone()),
            ..Default::default()
        });
    }
    ApiFailure::unless(problems)?;
    Ok(out)
}

/// Meta refuses everything but images to people under the EU's or Japan's privacy rules
/// (10/2018336). Once a Page has met that refusal, replies with other attachments say so.
async fn privacy_warnings(
    app: &App,
    conv: &ConversationItem,
    attachments: &[Attachment],
) -> Result<Vec<serde_json::Value>, ApiFailure> {
    if attachments.iter().all(|a| a.kind == "image") {
        return Ok(vec![]);
    }
    let restricted = app
        .store
        .get_page(&conv.page_id)
        .await?
        .and_then(|p| p.privacy_restricted_at);
    Ok(match restricted {
        Some(at) => vec![json!({
            "code": "eu_privacy_restriction",
            "message": "Meta refused non-image attachments from this Page before (EU/Japan privacy rules, error 10/2018336); this one may fail the same way",
            "since": rfc3339(at),
        })],
        None => vec![],
    })
}

/// A repeated `client_id`: answer with the message the first call made. If that one could
/// not be queued then, queue it now.
async fn settle_existing(
    app: &App,
    conv: &pagedesk_shared::store::ConversationItem,
    m: Message,
) -> Reply {
    let mut m = m;
    if m.status == MessageStatus::Failed
        && m.error
            .as_ref()
            .is_some_and(|e| e.reason == "queue_unavailable")
        && app
            .store
            .outbound()
            .requeue_message(&m, app.clock.now_ms())
            .await?
    {
        m.status = MessageStatus::Queued;
        m.error = None;
        enqueue(app, &m, OutboundJob::send(&m)).await?;
    }
    let w = app.watermarks(conv, &m).await?;
    Ok(json(StatusCode::ACCEPTED, &views::message(&m, w)))
}

async fn enqueue(app: &App, m: &Message, job: OutboundJob) -> Result<(), ApiFailure> {
    if let Err(e) = enqueue_outbound(&app.sqs, &app.cfg.outbound_queue_url, &job).await {
        tracing::error!(error = %e, message_id = %m.id, "reply could not be queued");
        let err = MessageError {
            code: None,
            subcode: None,
            reason: "queue_unavailable".into(),
            message: Some(
                "The reply could not be queued; send it again with the same client_id.".into(),
            ),
        };
        let _ = app
            .store
            .outbound()
            .fail_message(m, &err, app.clock.now_ms())
            .await;
        return Err(ApiFailure::Unavailable(
            "the reply could not be queued; retry with the same client_id",
        ));
    }
    Ok(())
}

/// Gives the AI agent's conversation to the person who answered in it (as a claim would).
async fn take_over(
    app: &App,
    c: &Caller,
    conv: &ConversationItem,
    now: i64,
) -> Result<(), ApiFailure> {
    let a = Assignment {
        to: Some(&c.sub),
        from: None,
        capacity: Capacity::Any,
        rule: None,
        ai_agent_active: Some(false),
        event: EventItem::new(
            &c.account,
            EventType::ConversationClaimed,
            Some(&conv.id),
            json!({"assignee": c.sub, "rule": conv.routing_rule, "from_ai_agent": true, "by": "reply"}),
            now,
        ),
        now,
    };
    let outcome = app.store.assign(conv, &a).await?;
    tracing::info!(conversation_id = %conv.id, agent = %c.sub, outcome = ?outcome, "took the conversation from the AI agent");
    Ok(())
}
