//! The events feed under slow writers: a front end that polls with its cursor sees every event
//! exactly once, in the order a full read afterwards gives, while writers whose requests reach
//! DynamoDB late (a delaying proxy) run concurrently: a scheduler run (one `now` for the whole
//! run) and router-like appends: transactions with event items, and Messenger messages put on
//! their own that are their own events through the `feed` index.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pagedesk_e2e::{Stack, delaying_proxy, seed_conversation, unique};
use pagedesk_scheduler::Scheduler;
use pagedesk_shared::clock::{Clock, MINUTE_MS, SystemClock};
use pagedesk_shared::domain::window::STANDARD_MS;
use pagedesk_shared::domain::{AuthorType, Direction, EventType, MessageStatus};
use pagedesk_shared::store::{
    AppendOutcome, EventCursor, EventItem, Message, SETTLE_MS, Store, Touch,
};
use serde_json::json;

const CONVERSATIONS: usize = 8;
const APPENDS_PER_WRITER: usize = 8;

async fn append(store: &Store, account: &str, conv: &str, keyed: bool) {
    let now = SystemClock.now_ms();
    let n = unique();
    let mut msg = Message {
        id: format!("ms_{n}"),
        direction: Direction::Out,
        author_type: AuthorType::Page,
        status: MessageStatus::Sent,
        created_at: now,
        ..Default::default()
    }
    .placed(account, conv);
    let touch = Touch {
        at: now,
        inbound: false,
        require_active: false,
        now,
    };
    if keyed {
        msg.key_by_meta(&format!("m_{n}"));
        msg.place(account, conv);
        let outcome = store
            .append_keyed_by_meta(&msg, touch, false)
            .await
            .expect("append");
        assert_eq!(outcome, AppendOutcome::Stored);
        return;
    }
    let event = EventItem::new(
        account,
        EventType::MessageCreated,
        Some(conv),
        json!({"message_id": msg.id}),
        now,
    );
    store
        .append_message(&msg, Some(&format!("m_{n}")), touch, &[event])
        .await
        .expect("append");
}

/// Everything in the feed, read to the end without hold-back.
async fn full_read(store: &Store, account: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<EventCursor> = None;
    let later = SystemClock.now_ms() + 2 * SETTLE_MS;
    loop {
        let page = store
            .list_events(account, after.as_ref(), 100, later)
            .await
            .expect("feed");
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(last.public_id().parse().expect("own cursor"));
        out.extend(page.iter().map(EventItem::public_id));
    }
}

#[tokio::test]
async fn a_polling_front_end_sees_every_event_once_whatever_the_writers_delays() {
    let stack = Stack::connect();
    let table = stack.fresh_table().await;
    let fast = Store::new(stack.clients().await.dynamo(), &table);
    let proxy = delaying_proxy(&stack.s("dynamodb_url"), 300).await;
    let slow_clients =
        pagedesk_local::aws::clients_for(&proxy, &stack.s("moto_url"), &stack.s("moto_url"));
    let slow = Store::new(slow_clients.dynamo(), &table);
    let account = format!("acct-{}", unique());

    // People who last wrote 23 h 1 min ago: the 60-minute warning fell due a minute ago.
    let now = SystemClock.now_ms();
    let mut convs = Vec::new();
    for _ in 0..CONVERSATIONS {
        convs.push(
            seed_conversation(&fast, &account, now - STANDARD_MS + 59 * MINUTE_MS, now).await,
        );
    }
    let baseline = full_read(&fast, &account).await.len();

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let store = fast.clone();
        let account = account.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut after: Option<EventCursor> = None;
            let mut quiet_since: Option<Instant> = None;
            loop {
                let page = store
                    .list_events(&account, after.as_ref(), 5, SystemClock.now_ms())
                    .await
                    .expect("poll");
                if let Some(last) = page.last() {
                    after = Some(last.public_id().parse().expect("own cursor"));
                }
                seen.extend(page.iter().map(EventItem::public_id));
                // After the writers stop, keep polling past the hold-back so late commits show.
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(7_000) {
                        return seen;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let scheduler = {
        let s = Scheduler {
            store: slow.clone(),
            clock: Arc::new(SystemClock),
            health: None,
        };
        tokio::spawn(async move { s.run().await.expect("scheduler run") })
    };
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = slow.clone();
            let account = account.clone();
            let convs = convs.clone();
            tokio::spawn(async move {
                for i in 0..APPENDS_PER_WRITER {
                    let conv = &convs[(i * 2 + w) % convs.len()];
                    append(&store, &account, conv, (i + w) % 2 == 0).await;
                }
            })
        })
        .collect();
    let report = scheduler.await.expect("scheduler task");
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = poller.await.expect("poller");

    let all = full_read(&fast, &account).await;
    assert_eq!(
        report.events, CONVERSATIONS,
        "one warning per conversation: {report:?}"
    );
    assert_eq!(
        all.len(),
        baseline + CONVERSATIONS + 2 * APPENDS_PER_WRITER,
        "every write left its event"
    );
    let unique_seen: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique_seen.len(),
        seen.len(),
        "the poller saw an event twice"
    );
    let missed: Vec<&String> = all.iter().filter(|id| !unique_seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "the poller skipped {} of {} events: {missed:?}",
        missed.len(),
        all.len()
    );
    assert_eq!(seen, all, "the poller saw the feed's order");
}
