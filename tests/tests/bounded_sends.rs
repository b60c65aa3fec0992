//! Every outbound message ends `sent` or `failed` with a reason in bounded time: a send whose
//! attempts run out while it waits for an echo fails as `unconfirmed` (and its late echo still
//! makes it `sent`), and a message whose job was lost is failed as `not_sent` by the
//! scheduler's sweeper.

use std::sync::Arc;

use pagedesk_e2e::{Stack, eventually, seed_conversation, unique};
use pagedesk_scheduler::Scheduler;
use pagedesk_shared::clock::{Clock, MINUTE_MS, ManualClock, SystemClock};
use pagedesk_shared::contracts::queue::OutboundJob;
use pagedesk_shared::domain::{AuthorType, Direction, EventType, MessageStatus};
use pagedesk_shared::store::{EventItem, Message, QueueOutcome, Store, UNSENT_DEADLINE_MS};
use serde_json::json;

fn reply(account: &str, conv: &str, text: &str, at: i64) -> Message {
    Message {
        direction: Direction::Out,
        author_type: AuthorType::Agent,
        author_id: Some("agent-1".into()),
        text: Some(text.into()),
        status: MessageStatus::Queued,
        parts_total: Some(1),
        created_at: at,
        ..Default::default()
    }
    .placed(account, conv)
}

async fn queue(store: &Store, msg: &Message, now: i64) {
    let ev = EventItem::new(
        &msg.account,
        EventType::MessageCreated,
        Some(&msg.conversation_id),
        json!({"message_id": msg.id}),
        now,
    );
    assert_eq!(
        store
            .outbound()
            .queue_message(msg, now, Some(&ev), true)
            .await
            .expect("queue"),
        QueueOutcome::Stored
    );
}

#[tokio::test]
async fn a_send_that_runs_out_of_attempts_fails_as_unconfirmed_and_its_late_echo_settles_it() {
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
    let conv_id = conv["id"].as_str().unwrap_or_default().to_owned();
    let clients = stack.clients().await;
    let store = Store::new(clients.dynamo(), stack.s("table"));

    // A reply whose send timed out a moment ago: queued, waiting for Meta's echo.
    let msg = reply(&t.account, &conv_id, "are you there?", now);
    queue(&store, &msg, now).await;
    store
        .outbound()
        .release_message(&msg, Some(now))
        .await
        .expect("ambiguous");

    // Its job's last attempt (SQS's eighth receive) while the echo is still awaited.
    let resp = stack.send_job(&OutboundJob::send(&msg), 8).await;
    assert!(
        resp.batch_item_failures.is_empty(),
        "the job ends, not retried"
    );

    let stored = store
        .get_message(&t.account, &conv_id, &msg.reference())
        .await
        .expect("read")
        .expect("message");
    assert_eq!(stored.status, MessageStatus::Failed);
    assert_eq!(
        stored.error.map(|e| e.reason).as_deref(),
        Some("unconfirmed")
    );

    // Meta's echo comes after all: the send did go out.
    let echo = json!({"sender": {"id": t.page_id}, "recipient": {"id": user}, "timestamp": now + 5,
        "message": {"is_echo": true, "mid": format!("m_echo_{}", unique()), "text": "are you there?",
                    "metadata": pagedesk_sender::metadata(&conv_id, msg.reference(), 0)}});
    stack.deliver(&t.page_id, vec![echo]).await;
    let sent = eventually("the echo settles the message", 15, || {
        let store = store.clone();
        let (account, conv_id, sk) = (t.account.clone(), conv_id.clone(), msg.reference());
        async move {
            let m = store.get_message(&account, &conv_id, &sk).await.ok()??;
            (m.status == MessageStatus::Sent).then_some(m)
        }
    })
    .await;
    assert!(sent.error.is_none(), "the failure reason is gone once sent");
}

#[tokio::test]
async fn a_message_whose_job_was_lost_is_failed_by_the_sweeper_at_its_deadline() {
    let stack = Stack::connect();
    // A table of its own: the scheduler's cursor and clock are the test's. The scheduler's
    // calls are held to its policy (its batched read is `dynamodb:BatchGetItem`).
    let fresh = stack.fresh_stack().await;
    let table = fresh.1.refs["Table"].clone();
    let store = Store::new(stack.clients().await.dynamo(), &table);
    let held = Store::new(
        stack.clients_as("SchedulerFunction", &fresh).await.dynamo(),
        table,
    );
    let account = format!("acct-{}", unique());
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let conv = seed_conversation(&store, &account, t, t).await;
    // Two replies queued at t: one goes out, the other's enqueue died (no job at all).
    let sent = reply(&account, &conv, "sent in time", t);
    let lost = reply(&account, &conv, "lost", t);
    queue(&store, &sent, t).await;
    queue(&store, &lost, t).await;
    assert!(
        store
            .outbound()
            .record_part(
                &sent,
                pagedesk_shared::store::SentPart {
                    index: 0,
                    mid: &format!("m_{}", unique()),
                    sent_at: t + 1,
                    messaging_type: None
                },
                t + 1,
            )
            .await
            .expect("sent")
    );

    let clock = ManualClock::new(t + UNSENT_DEADLINE_MS - MINUTE_MS);
    let sched = Scheduler {
        store: held,
        clock: Arc::new(clock.clone()),
        health: None,
    };
    assert_eq!(
        sched.run().await.expect("run").unsent_failed,
        0,
        "not yet due"
    );
    clock.set(t + UNSENT_DEADLINE_MS + MINUTE_MS);
    let report = sched.run().await.expect("run");
    assert_eq!(report.unsent_failed, 1, "{report:?}");
    assert_eq!(sched.run().await.expect("run").unsent_failed, 0, "once");

    let lost = store
        .get_message(&account, &conv, &lost.reference())
        .await
        .expect("read")
        .expect("lost");
    assert_eq!(lost.status, MessageStatus::Failed);
    assert_eq!(lost.error.map(|e| e.reason).as_deref(), Some("not_sent"));
    let sent = store
        .get_message(&account, &conv, &sent.reference())
        .await
        .expect("read")
        .expect("sent");
    assert_eq!(sent.status, MessageStatus::Sent);
    let events = store
        .list_events(&account, None, 100, i64::MAX / 2)
        .await
        .expect("feed");
    assert!(
        events.iter().any(|e| e.kind == EventType::MessageStatus
            && e.data["message_id"] == lost.id.as_str()
            && e.data["reason"] == "not_sent"),
        "the failure is in the feed"
    );
}

#[tokio::test]
async fn a_reply_older_than_the_last_message_goes_in_behind_it_without_moving_the_conversation() {
    let stack = Stack::connect();
    let store = Store::new(stack.clients().await.dynamo(), stack.s("table"));
    let account = format!("acct-{}", unique());
    let t = SystemClock.now_ms();
    // The person's message is stamped by Meta's clock, a little ahead of ours; a reply made
    // just before it (or a retry finishing an earlier call) is older.
    let conv = seed_conversation(&store, &account, t, t).await;
    let conversation = async || {
        store
            .get_conversation(&account, &conv)
            .await
            .expect("read")
            .expect("conversation")
    };
    let before = conversation().await;
    // Both ways a reply is stored: plain writes, and a transaction with its event.
    let plain = reply(&account, &conv, "plain, older", t - 2_000);
    assert_eq!(
        store
            .outbound()
            .queue_message(&plain, t, None, true)
            .await
            .expect("queue"),
        QueueOutcome::Stored
    );
    let with_event = reply(&account, &conv, "with event, older", t - 1_000);
    queue(&store, &with_event, t).await;
    let after = conversation().await;
    assert_eq!(after.last_message_at, Some(t), "not moved back");
    assert_eq!(
        after.listed_at(),
        before.listed_at(),
        "the list keeps its place"
    );
    assert_eq!(after.last_message, before.last_message, "the preview stays");
    for m in [&plain, &with_event] {
        let stored = store
            .get_message(&account, &conv, &m.reference())
            .await
            .expect("read")
            .expect("stored behind");
        assert_eq!(stored.status, MessageStatus::Queued);
    }
    // A newer reply still moves it, and a resolved conversation still refuses.
    let newer = reply(&account, &conv, "newer", t + 1_000);
    assert_eq!(
        store
            .outbound()
            .queue_message(&newer, t, None, true)
            .await
            .expect("queue"),
        QueueOutcome::Stored
    );
    let moved = conversation().await;
    assert_eq!(moved.last_message_at, Some(t + 1_000));
    assert_eq!(moved.listed_at(), Some(t + 1_000), "moved up the list");
    assert!(moved.listed_at() > before.listed_at());
    assert!(
        store
            .resolve_conversation(&moved, t + 2_000)
            .await
            .expect("resolve")
    );
    for at in [t - 3_000, t + 3_000] {
        let late = reply(&account, &conv, "after resolving", at);
        assert_eq!(
            store
                .outbound()
                .queue_message(&late, t, None, true)
                .await
                .expect("queue"),
            QueueOutcome::ConversationNotOpen,
            "at {at}"
        );
    }
}
