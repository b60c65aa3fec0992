//! The AI agent holds a conversation only until a person takes it. A claim that lands between
//! the API's read and its write, or while the AI agent's message waits in the queue, wins: the
//! AI agent's reply is not stored, its resolve does not close the conversation, and its queued
//! message is not sent. Each step is made by hand, in order, so the interleaving is certain.

use pagedesk_e2e::{Stack, seed_conversation, unique};
use pagedesk_shared::clock::{Clock, SystemClock};
use pagedesk_shared::contracts::queue::OutboundJob;
use pagedesk_shared::domain::{
    AuthorType, ConversationStatus, Direction, EventType, MessageStatus,
};
use pagedesk_shared::store::{
    AssignOutcome, Assignment, Capacity, ConversationItem, EventItem, Message, QueueOutcome,
    Resolution, Store,
};
use serde_json::json;

fn bot_reply(account: &str, conv: &str, at: i64) -> Message {
    Message {
        direction: Direction::Out,
        author_type: AuthorType::Bot,
        author_id: Some("bot".into()),
        text: Some(format!("the AI agent answers {}", unique())),
        status: MessageStatus::Queued,
        parts_total: Some(1),
        created_at: at,
        ..Default::default()
    }
    .placed(account, conv)
}

fn event(conv: &ConversationItem, now: i64) -> EventItem {
    EventItem::new(
        &conv.account,
        EventType::ConversationUpdated,
        Some(&conv.id),
        json!({}),
        now,
    )
}

async fn read(store: &Store, account: &str, conv: &str) -> ConversationItem {
    store
        .get_conversation(account, conv)
        .await
        .expect("read")
        .expect("the conversation")
}

/// The conversation goes to the AI agent; answers it as the API reads it for the AI agent.
async fn with_ai_agent(store: &Store, account: &str, conv: &str, now: i64) -> ConversationItem {
    let c = read(store, account, conv).await;
    assert!(
        store
            .mark_routed(&c, None, Some(true), &event(&c, now), now)
            .await
            .expect("routed")
    );
    let c = read(store, account, conv).await;
    assert!(c.with_ai_agent(), "the AI agent holds it");
    c
}

/// A person claims the conversation the API read as `seen`.
async fn claim(store: &Store, seen: &ConversationItem, who: &str, now: i64) {
    let outcome = store
        .assign(
            seen,
            &Assignment {
                to: Some(who),
                from: None,
                capacity: Capacity::Any,
                rule: None,
                ai_agent_active: Some(false),
                event: event(seen, now),
                now,
            },
        )
        .await
        .expect("claim");
    assert_eq!(outcome, AssignOutcome::Done);
}

#[tokio::test]
async fn a_claim_between_the_read_and_the_write_keeps_the_ai_agent_out() {
    let stack = Stack::connect();
    let store = Store::new(stack.clients().await.dynamo(), stack.fresh_table().await);
    let account = format!("acct-{}", unique());
    let now = SystemClock.now_ms();
    let conv = seed_conversation(&store, &account, now - 1_000, now - 1_000).await;
    // The API reads the conversation for the AI agent's reply (or resolve): it is the AI
    // agent's. Then, before the write, a person claims it.
    let seen = with_ai_agent(&store, &account, &conv, now).await;
    claim(&store, &seen, "alice", now).await;

    // Both ways a reply is stored: plain writes, and a transaction with its event.
    for with_event in [false, true] {
        let msg = bot_reply(&account, &conv, now + 1);
        let ev = event(&seen, now + 1);
        let outcome = store
            .outbound()
            .queue_message(&msg, now + 1, with_event.then_some(&ev), true)
            .await
            .expect("queue");
        assert_eq!(
            outcome,
            QueueOutcome::NotWithAiAgent,
            "with event: {with_event}"
        );
        assert!(
            store
                .get_message(&account, &conv, &msg.reference())
                .await
                .expect("read")
                .is_none(),
            "nothing stored (with event: {with_event})"
        );
    }
    // Its resolve from the same read closes nothing.
    assert_eq!(
        store
            .resolve_as_ai_agent(&seen, now + 2)
            .await
            .expect("resolve"),
        Resolution::NotWithAiAgent
    );
    let after = read(&store, &account, &conv).await;
    assert_eq!(
        (
            after.status,
            after.assignee.as_deref(),
            after.last_message_at
        ),
        (
            ConversationStatus::Open,
            Some("alice"),
            seen.last_message_at
        ),
        "the person's, open, untouched"
    );
    // While it was the AI agent's, the same calls went through (the condition is not a wall).
    let other = seed_conversation(&store, &account, now - 1_000, now - 1_000).await;
    let held = with_ai_agent(&store, &account, &other, now).await;
    let msg = bot_reply(&account, &other, now + 1);
    assert_eq!(
        store
            .outbound()
            .queue_message(&msg, now + 1, None, true)
            .await
            .expect("queue"),
        QueueOutcome::Stored
    );
    assert_eq!(
        store
            .resolve_as_ai_agent(&held, now + 2)
            .await
            .expect("resolve"),
        Resolution::Resolved
    );
}

#[tokio::test]
async fn the_ai_agents_queued_message_is_not_sent_once_a_person_took_the_conversation() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let now = SystemClock.now_ms();
    stack
        .deliver(
            &t.page_id,
            vec![pagedesk_e2e::text_event(&t.page_id, &user, "hi", now)],
        )
        .await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let conv = conv["id"].as_str().expect("an id").to_owned();
    let clients = stack.clients().await;
    let store = Store::new(clients.dynamo(), stack.s("table"));
    // The AI agent's answer is stored and waits in the queue (its job is sent by hand below)…
    with_ai_agent(&store, &t.account, &conv, now).await;
    let msg = bot_reply(&t.account, &conv, SystemClock.now_ms());
    assert_eq!(
        store
            .outbound()
            .queue_message(&msg, msg.created_at, None, true)
            .await
            .expect("queue"),
        QueueOutcome::Stored
    );
    // …when a person claims the conversation.
    let seen = read(&store, &t.account, &conv).await;
    claim(&store, &seen, "alice", SystemClock.now_ms()).await;

    let resp = stack.send_job(&OutboundJob::send(&msg), 1).await;
    assert!(resp.batch_item_failures.is_empty(), "the job ends");

    let stored = store
        .get_message(&t.account, &conv, &msg.reference())
        .await
        .expect("read")
        .expect("the message");
    assert_eq!(
        (stored.status, stored.error.map(|e| e.reason)),
        (MessageStatus::Failed, Some("not_with_ai_agent".to_owned()))
    );
    let text = msg.text.clone().unwrap_or_default();
    let sends = stack.sim("GET", "/_sim/requests", None).await;
    let sent_it = sends
        .as_array()
        .expect("the simulator's log")
        .iter()
        .any(|r| r.to_string().contains(&text));
    assert!(!sent_it, "nothing went to Meta");
}
