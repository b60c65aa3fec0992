//! Deliveries to the account's AI agent. They share the conversation's FIFO group with its
//! sends, so the bot hears about messages in order. Temporary failures are retried with the
//! sender's backoff; when the bot cannot be reached after every attempt (or refuses), the
//! conversation is handed to people, so nobody waits on a bot that is down.

use pagedesk_shared::contracts::queue::OutboundJob;
use pagedesk_shared::domain::{AssignedBy, ConversationStatus, EventType};
use pagedesk_shared::http::views;
use pagedesk_shared::services::ai_agent::AiAgentError;
use pagedesk_shared::services::assignment::Assigner;
use pagedesk_shared::store::{ConversationItem, EventItem, Watermarks};
use serde_json::json;

use crate::{MAX_ATTEMPTS, SendError, Sender, backoff};

impl Sender {
    pub(crate) async fn deliver_to_ai_agent(
        &self,
        job: &OutboundJob,
        event: EventType,
        receives: u32,
    ) -> Result<(), SendError> {
        let Some(conv) = self
            .store
            .get_conversation(&job.account, &job.conversation_id)
            .await?
        else {
            return Ok(());
        };
        // The Page's AI agent: its own URL and key where the Page overrides the account's.
        let settings = self
            .store
            .settings_for_page(&job.account, &conv.page_id)
            .await?;
        if !conv.with_ai_agent() || conv.status != ConversationStatus::Open {
            tracing::info!("conversation is no longer with the AI agent; delivery dropped");
            return Ok(());
        }
        let (Some(url), Some(secret)) = (&settings.ai_agent_url, &settings.ai_agent_secret) else {
            // The AI agent was switched off while it had the conversation: people take over.
            return self
                .hand_off_unreachable(&conv, "no AI agent configured")
                .await;
        };
        let Some(msg) = self.job_message(job).await? else {
            return Ok(());
        };
        let now = self.clock.now_ms();
        let body = json!({
            "type": event,
            "account": job.account,
            "conversation": views::conversation(&conv, settings.human_agent_enabled, now),
            "message": views::message(&msg, Watermarks::default()),
        });
        match self
            .bot
            .deliver(url, secret, event, &msg.id, &body, now)
            .await
        {
            Ok(()) => {
                tracing::info!(%event, "delivered to the AI agent");
                Ok(())
            }
            Err(AiAgentError::Temporary(why)) if receives < MAX_ATTEMPTS => {
                tracing::warn!(error = %why, receives, "AI agent unavailable; will retry");
                Err(SendError::RetryAfter(backoff(receives)))
            }
            Err(e) => {
                tracing::warn!(error = %e, receives, "AI agent unreachable; handing the conversation to people");
                self.hand_off_unreachable(&conv, &e.to_string()).await
            }
        }
    }

    async fn hand_off_unreachable(
        &self,
        conv: &ConversationItem,
        why: &str,
    ) -> Result<(), SendError> {
        let now = self.clock.now_ms();
        let ev = EventItem::new(
            &conv.account,
            EventType::ConversationHandedOff,
            Some(&conv.id),
            json!({"by": AssignedBy::AiAgentUnreachable, "reason": why}),
            now,
        );
        let rules = self.store.get_rules(&conv.account).await?.rules;
        Assigner::new(&self.store)
            .hand_off(
                conv,
                &rules,
                None,
                "",
                &ev,
                AssignedBy::AiAgentUnreachable,
                now,
            )
            .await?;
        Ok(())
    }
}
