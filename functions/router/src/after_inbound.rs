//! What happens around a person's message besides storing it: routing a new conversation,
//! the greeting, the away message, deliveries to the AI agent, and survey answers.

use std::sync::Arc;
use std::time::Duration;

use pagedesk_shared::clock::MINUTE_MS;
use pagedesk_shared::contracts::queue::{OutboundJob, enqueue_outbound};
use pagedesk_shared::domain::rules::{Facts, RoutingRule};
use pagedesk_shared::domain::{AssignedBy, ConversationStatus, Direction, EventType, MessageKind};
use pagedesk_shared::services::assignment::{self, Assigner, Target};
use pagedesk_shared::services::automatic::{self, Automatic};
use pagedesk_shared::services::ttl_map::TtlMap;
use pagedesk_shared::store::{
    ContactItem, ConversationItem, Message, PageItem, Settings, Store, Touch,
};

use crate::{Router, RouterError};

/// The away message stays quiet this long after an agent answered.
const AGENT_QUIET_MS: i64 = 5 * MINUTE_MS;

/// The settings that apply to one Page (its account's with the Page's own over them) and its
/// account's rules, as one warm router last read them.
pub struct Account {
    pub settings: Settings,
    pub rules: Vec<RoutingRule>,
    /// The Page's fallback assignees as the rule they act as.
    pub fallback: Option<RoutingRule>,
}

impl Account {
    fn away_text(&self) -> Option<&str> {
        self.settings
            .away_message
            .as_deref()
            .filter(|t| !t.trim().is_empty())
    }
}

/// (account, Page) → what applies there.
#[derive(Default)]
pub struct AccountCache {
    entries: TtlMap<(String, String), Arc<Account>>,
}

impl AccountCache {
    pub async fn get(
        &self,
        store: &Store,
        account: &str,
        page_id: &str,
        ttl: Duration,
    ) -> pagedesk_shared::Result<Arc<Account>> {
        let key = (account.to_owned(), page_id.to_owned());
        if let Some(a) = self.entries.fresh(&key, |_| ttl) {
            return Ok(a);
        }
        let (settings, rules) =
            futures::try_join!(store.get_settings(account), store.get_rules(account))?;
        let settings = store.for_page(account, page_id, settings).await?;
        let a = Arc::new(Account {
            fallback: settings.fallback.as_ref().map(|f| f.as_rule()),
            settings,
            rules: rules.rules,
        });
        self.entries.put(key, a.clone());
        Ok(a)
    }
}

impl Router {
    /// What applies to `page_id` of `account` (cached for `settings_cache_seconds`).
    pub(crate) async fn account(
        &self,
        account: &str,
        page_id: &str,
    ) -> pagedesk_shared::Result<Arc<Account>> {
        self.accounts
            .get(
                &self.store,
                account,
                page_id,
                Duration::from_secs(self.cfg.settings_cache_seconds),
            )
            .await
    }

    /// A conversation was just created with `msg`: route it, then greet, say we are away, or
    /// hand it to the AI agent. Failures are logged, not returned: the conversation and its
    /// message are stored, and a redelivery would find them and do nothing more.
    pub(crate) async fn after_open(&self, page: &PageItem, conv: &ConversationItem, msg: &Message) {
        if let Err(e) = self.try_after_open(page, conv, msg).await {
            tracing::error!(conversation_id = %conv.id, error = %e, "routing or automatic messages failed for a new conversation");
        }
    }

    async fn try_after_open(
        &self,
        page: &PageItem,
        conv: &ConversationItem,
        msg: &Message,
    ) -> Result<(), RouterError> {
        let acc = self.account(&page.account, &page.page_id).await?;
        let from_person = msg.direction == Direction::In;
        let automated = conv.channel.has_automation();
        // Business hours are judged at the time the person wrote, not when we got to it.
        let closed = acc.settings.closed_period(msg.created_at);
        let text = msg
            .text
            .as_deref()
            .or(conv.subject.as_deref())
            .unwrap_or("");
        let facts = Facts {
            page_id: &conv.page_id,
            channel: conv.channel,
            text,
            inside_hours: closed.is_none(),
        };
        let bot = from_person && automated && acc.settings.ai_agent_url.is_some();
        let target = assignment::decide(&acc.rules, &facts, bot, acc.fallback.as_ref());
        let routed = Assigner::new(&self.store)
            .route(conv, target, AssignedBy::Router, self.clock.now_ms())
            .await?;
        if !matches!(target, Target::Pool) || routed.assignee.is_some() {
            tracing::info!(conversation_id = %conv.id, assignee = ?routed.assignee, rule = ?routed.rule, ai_agent = routed.bot, "conversation routed");
        }
        if !(from_person && automated) {
            return Ok(());
        }
        if let Some(g) = acc
            .settings
            .greeting
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            self.automatic(conv, MessageKind::Greeting, g).await?;
        }
        if routed.bot {
            self.to_ai_agent(msg, EventType::ConversationCreated)
                .await?;
        } else if let (Some(period), Some(text)) = (closed, acc.away_text()) {
            self.away(conv, period, text).await?;
        }
        Ok(())
    }

    /// Routes a conversation read from the Page's history by the rules, without the greeting,
    /// away message or AI agent a live message would bring.
    pub(crate) async fn route_quietly(
        &self,
        conv: &ConversationItem,
        text: &str,
        at: i64,
    ) -> Result<(), RouterError> {
        let acc = self.account(&conv.account, &conv.page_id).await?;
        let facts = Facts {
            page_id: &conv.page_id,
            channel: conv.channel,
            text,
            inside_hours: acc.settings.closed_period(at).is_none(),
        };
        let target = assignment::decide(&acc.rules, &facts, false, acc.fallback.as_ref());
        Assigner::new(&self.store)
            .route(conv, target, AssignedBy::Router, self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// The person wrote in an existing conversation: tell the AI agent if it has the
    /// conversation, or say we are away. Reads the conversation only when either could apply.
    pub(crate) async fn after_message(&self, page: &PageItem, conv_id: &str, msg: &Message) {
        let res = async {
            let acc = self.account(&page.account, &page.page_id).await?;
            let closed = acc
                .settings
                .closed_period(msg.created_at)
                .filter(|_| acc.away_text().is_some());
            if acc.settings.ai_agent_url.is_none() && closed.is_none() {
                return Ok(());
            }
            let Some(conv) = self.store.get_conversation(&page.account, conv_id).await? else {
                return Ok(());
            };
            if !conv.channel.has_automation() || conv.status != ConversationStatus::Open {
                return Ok(());
            }
            if conv.with_ai_agent() && acc.settings.ai_agent_url.is_some() {
                return self.to_ai_agent(msg, EventType::MessageCreated).await;
            }
            if let (Some(period), Some(text)) = (closed, acc.away_text()) {
                self.away(&conv, period, text).await?;
            }
            Ok::<(), RouterError>(())
        }
        .await;
        if let Err(e) = res {
            tracing::error!(conversation_id = %conv_id, error = %e, "automatic handling of a message failed");
        }
    }

    /// At most once per conversation per closed period, and not right after an agent answered.
    async fn away(
        &self,
        conv: &ConversationItem,
        period: i64,
        text: &str,
    ) -> Result<(), RouterError> {
        let now = self.clock.now_ms();
        if self
            .store
            .claim_away(conv, period, now - AGENT_QUIET_MS, now)
            .await?
        {
            self.automatic(conv, MessageKind::Away, text).await?;
        } else {
            tracing::info!(conversation_id = %conv.id, "away message already sent for this closed period, or an agent just answered");
        }
        Ok(())
    }

    async fn automatic(
        &self,
        conv: &ConversationItem,
        kind: MessageKind,
        text: &str,
    ) -> Result<(), RouterError> {
        automatic::send(
            &self.store,
            &self.sqs,
            &self.cfg.outbound_queue_url,
            conv,
            Automatic {
                kind,
                text,
                quick_replies: None,
                require_active: true,
            },
            self.clock.now_ms(),
        )
        .await?;
        Ok(())
    }

    /// Queues a delivery to the AI agent; the sender makes it (signed, retried).
    async fn to_ai_agent(&self, msg: &Message, event: EventType) -> Result<(), RouterError> {
        enqueue_outbound(
            &self.sqs,
            &self.cfg.outbound_queue_url,
            &OutboundJob::ai_agent(msg, event),
        )
        .await?;
        tracing::info!(conversation_id = %msg.conversation_id, message_id = %msg.id, %event, "queued for the AI agent");
        Ok(())
    }

    /// A tap on a survey answer: stored on the conversation it rates (even though that one is
    /// resolved) instead of opening a new conversation. `Ok(false)` when it is not a survey
    /// answer this contact was asked (then it is an ordinary message).
    pub(crate) async fn on_csat_answer(
        &self,
        page: &PageItem,
        contact: &ContactItem,
        msg: &Message,
        mid: &str,
        conv_id: &str,
        score: i64,
    ) -> Result<bool, RouterError> {
        let Some(conv) = self.store.get_conversation(&page.account, conv_id).await? else {
            return Ok(false);
        };
        if conv.contact_id != contact.id || conv.csat_requested_at.is_none() {
            return Ok(false);
        }
        let mut m = msg.clone();
        m.id = pagedesk_shared::ids::new_id(pagedesk_shared::ids::message_prefix(), m.created_at);
        m.place(&page.account, &conv.id);
        m.kind = Some(MessageKind::Csat);
        let now = self.clock.now_ms();
        if conv.csat.is_none() && self.store.record_csat(&conv, &m, mid, score, now).await? {
            tracing::info!(conversation_id = %conv.id, "survey answer");
            return Ok(true);
        }
        // A second tap on the same survey: the first answer stands; the tap is kept with the
        // survey instead of opening a new conversation.
        let touch = Touch {
            at: m.created_at,
            inbound: false,
            require_active: false,
            now,
        };
        let outcome = self.store.append_message(&m, Some(mid), touch, &[]).await?;
        tracing::info!(conversation_id = %conv.id, outcome = ?outcome, "repeated survey answer kept with the survey");
        Ok(true)
    }
}
