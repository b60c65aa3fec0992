//! `POST /conversations/{id}/messages` and `GET /events`.

use lambda_http::Body;
use lambda_http::http::StatusCode;
use pagedesk_shared::api::{ApiError, json, query_param};
use pagedesk_shared::auth::Claims;
use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::domain::outbound::{self, ReplyRequest, Sender};
use pagedesk_shared::domain::window::window_at;
use pagedesk_shared::domain::{Attachment, MessageError};
use pagedesk_shared::ids;
use pagedesk_shared::queue::{OutboundJob, enqueue_outbound};
use pagedesk_shared::store::{EventItem, MessageItem, QueueOutcome, keys};
use serde_json::json;

use crate::{AgentApi, ApiResult, views};

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
        let conv = self
            .store
            .get_conversation(&c.account, id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        if req.private && conv.channel != "comment" {
            return Err(ApiError::unprocessable(
                "private: only comment conversations have private replies",
            ));
        }
        if let Some(cid) = &req.client_id
            && let Some(existing) = self.store.message_for_client(&c.account, id, cid).await?
        {
            return self.settle_existing(c, &conv, existing).await;
        }
        if conv.status != "open" {
            return Err(ApiError::conflict(
                "conversation_not_open",
                "the conversation is resolved; reopen it to reply",
            ));
        }
        let now = self.clock.now_ms();
        let settings = self.store.get_settings(&c.account).await?;
        let window = window_at(conv.last_inbound_at, settings.human_agent_enabled, now);
        let messaging_type = outbound::messaging_type(&window, Sender::HumanAgent).map_err(|refusal| {
            ApiError::conflict("window_closed", refusal.explain()).with_details(json!({
                "reason": refusal,
                "closed_at": window.human_agent_until.filter(|_| settings.human_agent_enabled).or(window.closes_at).map(rfc3339),
                "last_inbound_at": conv.last_inbound_at.map(rfc3339),
            }))
        })?;
        let msg_id = ids::new_id(ids::message_prefix(), now);
        let parts = req.attachments.len()
            + usize::from(req.text.as_deref().is_some_and(|t| !t.trim().is_empty()));
        let msg = MessageItem {
            pk: keys::conversation(&c.account, id),
            sk: keys::message_sk(now, &msg_id),
            account: c.account.clone(),
            id: msg_id.clone(),
            conversation_id: id.to_owned(),
            direction: "out".into(),
            author_type: "agent".into(),
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
            status: "queued".into(),
            private: req.private,
            quick_replies: (!req.quick_replies.is_empty())
                .then(|| serde_json::to_value(&req.quick_replies).unwrap_or_default()),
            client_id: req.client_id.clone(),
            parts_total: Some(parts as i64),
            reply_to_mid: req.reply_to.clone(),
            messaging_type: Some(match messaging_type {
                outbound::MessagingType::Response => "RESPONSE".into(),
                outbound::MessagingType::HumanAgentTag => "HUMAN_AGENT".into(),
            }),
            created_at: now,
            ..Default::default()
        };
        let event = EventItem::new(
            &c.account,
            "message.created",
            Some(id),
            json!({"message_id": msg_id, "direction": "out"}),
            now,
        );
        match self.store.queue_message(&msg, now, &event).await? {
            QueueOutcome::Stored => {}
            QueueOutcome::Existing(m) => return self.settle_existing(c, &conv, *m).await,
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

    /// A repeated `client_id`: answer with the message the first call made. If that one could
    /// not be queued then, queue it now.
    async fn settle_existing(
        &self,
        _c: &Claims,
        conv: &pagedesk_shared::store::ConversationItem,
        m: MessageItem,
    ) -> ApiResult {
        let mut m = m;
        if m.status == "failed"
            && m.error
                .as_ref()
                .is_some_and(|e| e.reason == "queue_unavailable")
            && self.store.requeue_message(&m, self.clock.now_ms()).await?
        {
            m.status = "queued".into();
            m.error = None;
            self.enqueue(&m).await?;
        }
        Ok(json(StatusCode::ACCEPTED, &views::message(&m, conv)))
    }

    async fn enqueue(&self, m: &MessageItem) -> Result<(), ApiError> {
        let job = OutboundJob {
            v: 1,
            account: m.account.clone(),
            conversation_id: m.conversation_id.clone(),
            message_id: m.id.clone(),
            message_sk: m.sk.clone(),
        };
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
        let after = query_param(params, "after").filter(|a| !a.is_empty());
        if let Some(a) = after
            && !a
                .split('#')
                .next()
                .is_some_and(|ts| ts.len() == 13 && ts.chars().all(|ch| ch.is_ascii_digit()))
        {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "after: a cursor from this feed",
            ));
        }
        let limit = crate::limit(params, 100, 500)?;
        let events = self
            .store
            .list_events(&c.account, after, limit, self.clock.now_ms())
            .await?;
        let next = events
            .last()
            .map(|e| e.sk.clone())
            .or_else(|| after.map(str::to_owned));
        let items: Vec<_> = events
            .iter()
            .map(|e| {
                json!({
                    "id": e.sk,
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
