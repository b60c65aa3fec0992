//! `POST /conversations/{id}/messages` and `GET /events`.

use lambda_http::Body;
use lambda_http::http::StatusCode;
use pagedesk_shared::api::{ApiError, json, query_param};
use pagedesk_shared::auth::{Claims, Role};
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::domain::outbound::{self, ReplyRequest, Sender};
use pagedesk_shared::domain::window::window_at;
use pagedesk_shared::domain::{Attachment, MessageError};
use pagedesk_shared::domain::{
    AuthorType, Channel, ConversationStatus, Direction, EventType, MessageKind, MessageStatus,
};
use pagedesk_shared::ids;
use pagedesk_shared::queue::{OutboundJob, enqueue_outbound};
use pagedesk_shared::store::{EventItem, MessageItem, QueueOutcome};
use serde_json::json;

use pagedesk_shared::views;

use crate::{AgentApi, ApiResult};

impl AgentApi {
    pub(crate) async fn post_message(&self, c: &Claims, id: &str, body: &Body) -> ApiResult {
        let bytes: &[u8] = match body {
            Body::Empty => b"",
            b => b.as_ref(),
        };
        let req: ReplyRequest = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::unprocessable(format!("body: {e}")))?;
        if let Err(problems) = outbound::validate(&req) {
            return Err(ApiError::unprocessable(problems.join("; "))
                .with_details(json!({"problems": problems})));
        }
        let conv = self.conversation(c, id).await?;
        if req.private && conv.channel != Channel::Comment {
            return Err(ApiError::unprocessable(
                "private: only comment conversations have private replies",
            ));
        }
        if let Some(cid) = &req.client_id
            && let Some(existing) = self.store.message_for_client(&c.account, id, cid).await?
        {
            return self.settle_existing(c, &conv, existing).await;
        }
        if conv.status != ConversationStatus::Open {
            return Err(ApiError::conflict(
                "conversation_not_open",
                "the conversation is resolved; reopen it to reply",
            ));
        }
        // The AI agent speaks only while the conversation is its own; its messages are
        // automatic (never tagged, only inside 24 h).
        let bot = c.role == Role::Bot;
        if bot && (!conv.bot_active || conv.assignee.is_some()) {
            return Err(ApiError::conflict(
                "not_with_ai_agent",
                "the conversation is not with the AI agent (it was handed off or claimed)",
            ));
        }
        let author = if bot {
            Sender::Automatic
        } else {
            Sender::HumanAgent
        };
        let now = self.clock.now_ms();
        // Comments have no messaging window: public replies are always possible, a private
        // reply once per comment within 7 days. Messenger conversations follow the window.
        let (messaging_type, target) = if conv.channel == Channel::Comment {
            (None, Some(self.comment_target(c, id, &req, now).await?))
        } else {
            let settings = self.store.get_settings(&c.account).await?;
            let window = window_at(conv.last_inbound_at, settings.human_agent_enabled, now);
            let kind = outbound::messaging_type(&window, author).map_err(|refusal| {
                ApiError::conflict("window_closed", refusal.explain()).with_details(json!({
                    "reason": refusal,
                    "closed_at": window.human_agent_until.filter(|_| settings.human_agent_enabled).or(window.closes_at).map(rfc3339),
                    "last_inbound_at": conv.last_inbound_at.map(rfc3339),
                }))
            })?;
            (Some(kind), None)
        };
        let msg_id = ids::new_id(ids::message_prefix(), now);
        // A comment reply is one Graph call whatever it carries.
        let parts = if target.is_some() {
            1
        } else {
            req.attachments.len()
                + usize::from(req.text.as_deref().is_some_and(|t| !t.trim().is_empty()))
        };
        let msg = MessageItem {
            id: msg_id.clone(),
            direction: Direction::Out,
            author_type: if bot {
                AuthorType::Bot
            } else {
                AuthorType::Agent
            },
            author_id: Some(c.sub.clone()),
            text: req.text.clone().filter(|t| !t.trim().is_empty()),
            attachments: req
                .attachments
                .iter()
                .map(|a| Attachment {
                    kind: a.kind.clone(),
                    url: Some(a.url.clone()),
                    title: None,
                    sticker_id: None,
                    coordinates: None,
                    payload: None,
                })
                .collect(),
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
            created_at: now,
            ..Default::default()
        }
        .placed(&c.account, id);
        let event = EventItem::new(
            &c.account,
            EventType::MessageCreated,
            Some(id),
            json!({"message_id": msg_id, "direction": "out"}),
            now,
        );
        match self.store.queue_message(&msg, now, &event, true).await? {
            QueueOutcome::Stored => {}
            QueueOutcome::Existing(m) => return self.settle_existing(c, &conv, *m).await,
            QueueOutcome::PrivateReplyExists => {
                return Err(ApiError::conflict(
                    "private_reply_exists",
                    "Meta allows one private reply per comment, and this comment has had it",
                ));
            }
            QueueOutcome::ConversationNotOpen => {
                return Err(ApiError::conflict(
                    "conversation_not_open",
                    "the conversation is resolved; reopen it to reply",
                ));
            }
        }
        self.enqueue(&msg).await?;
        tracing::info!(conversation_id = id, message_id = %msg_id, agent = %c.sub, "reply queued");
        Ok(json(StatusCode::ACCEPTED, &views::message(&msg, &conv)))
    }

    /// The comment a reply in a comment conversation answers: `reply_to`, else the latest.
    async fn comment_target(
        &self,
        c: &Claims,
        conv: &str,
        req: &ReplyRequest,
        now: i64,
    ) -> Result<MessageItem, ApiError> {
        let target = match &req.reply_to {
            Some(cid) => {
                let guard = self
                    .store
                    .get_mid(&c.account, cid)
                    .await?
                    .filter(|g| g.conversation_id == conv);
                match guard {
                    Some(g) => {
                        self.store
                            .get_message(&c.account, conv, &g.message_sk)
                            .await?
                    }
                    None => None,
                }
                .filter(|m| m.direction == Direction::In)
                .ok_or_else(|| {
                    ApiError::unprocessable("reply_to: not a comment of this conversation")
                })?
            }
            None => self
                .store
                .latest_comment(&c.account, conv)
                .await?
                .ok_or_else(|| ApiError::unprocessable("there is no comment to reply to"))?,
        };
        if req.private {
            if !req.attachments.is_empty() || !req.quick_replies.is_empty() {
                return Err(ApiError::unprocessable(
                    "private replies to comments carry text only",
                ));
            }
            let created = target.comment_created_at.unwrap_or(target.created_at);
            if !outbound::private_reply_allowed(created, now) {
                return Err(ApiError::conflict("private_reply_window_closed", "Meta allows a private reply only within 7 days of the comment")
                    .with_details(json!({"comment_id": target.comment_id, "closed_at": rfc3339(created + outbound::PRIVATE_REPLY_MS)})));
            }
        } else if !req.quick_replies.is_empty()
            || req.attachments.len() > 1
            || req.attachments.iter().any(|a| a.kind != "image")
        {
            return Err(ApiError::unprocessable(
                "public comment replies carry text and at most one image",
            ));
        }
        Ok(target)
    }

    /// A repeated `client_id`: answer with the message the first call made. If that one could
    /// not be queued then, queue it now.
    async fn settle_existing(
        &self,
        _c: &Claims,
        conv: &pagedesk_shared::store::ConversationItem,
        m: MessageItem,
    ) -> ApiResult {
        let mut m = m;
        if m.status == MessageStatus::Failed
            && m.error
                .as_ref()
                .is_some_and(|e| e.reason == "queue_unavailable")
            && self.store.requeue_message(&m, self.clock.now_ms()).await?
        {
            m.status = MessageStatus::Queued;
            m.error = None;
            self.enqueue(&m).await?;
        }
        Ok(json(StatusCode::ACCEPTED, &views::message(&m, conv)))
    }

    async fn enqueue(&self, m: &MessageItem) -> Result<(), ApiError> {
        let job = OutboundJob::send(m);
        let Some(url) = self.cfg.outbound_queue_url.as_deref() else {
            tracing::error!("no outbound queue configured");
            return Err(ApiError::internal());
        };
        if let Err(e) = enqueue_outbound(&self.sqs, url, &job).await {
            tracing::error!(error = %e, message_id = %m.id, "reply could not be queued");
            let err = MessageError {
                code: None,
                subcode: None,
                reason: "queue_unavailable".into(),
                message: Some(
                    "The reply could not be queued; send it again with the same client_id.".into(),
                ),
            };
            let _ = self.store.fail_message(m, &err, self.clock.now_ms()).await;
            return Err(ApiError::unavailable(
                "the reply could not be queued; retry with the same client_id",
            ));
        }
        Ok(())
    }

    pub(crate) async fn list_events(&self, c: &Claims, params: &[(String, String)]) -> ApiResult {
        // Event ids are `<ms>-<ulid>`: URL-safe, so a cursor works even when a client forgets
        // to encode it. Stored keys use `#`.
        let after = match query_param(params, "after").filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => {
                let (ts, rest) = a.split_once(['-', '#']).unwrap_or((a, ""));
                if ts.len() != 13
                    || !ts.chars().all(|ch| ch.is_ascii_digit())
                    || !rest
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                {
                    return Err(ApiError::bad_request(
                        "invalid_parameter",
                        "after: a cursor from this feed",
                    ));
                }
                Some(if rest.is_empty() {
                    ts.to_owned()
                } else {
                    format!("{ts}#{rest}")
                })
            }
        };
        let limit = crate::limit(params, 100, 500)?;
        let events = self
            .store
            .list_events(&c.account, after.as_deref(), limit, self.clock.now_ms())
            .await?;
        let public = |sk: &str| sk.replacen('#', "-", 1);
        let next = events
            .last()
            .map(|e| public(&e.sk))
            .or_else(|| after.as_deref().map(public));
        let items: Vec<_> = events
            .iter()
            .map(|e| {
                json!({
                    "id": public(&e.sk),
                    "type": e.kind,
                    "conversation_id": e.conversation_id,
                    "data": e.data,
                    "created_at": rfc3339(e.created_at),
                })
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": next}),
        ))
    }
}
