//! The scheduler against DynamoDB Local with an injected clock (on a table of its own, so its
//! cursor is not shared with the running stack), and the local host's schedule end to end.

use std::sync::Arc;
use std::time::Duration;

use pagedesk_e2e::{Stack, messaging_event, seed_conversation, unique};
use pagedesk_scheduler::Scheduler;
use pagedesk_shared::clock::{Clock, HOUR_MS, MINUTE_MS, ManualClock, SystemClock};
use pagedesk_shared::domain::window::{HUMAN_AGENT_MS, STANDARD_MS};
use pagedesk_shared::store::{Settings, Store, Timer};
use serde_json::json;

/// A table of its own: a store for the test's own reads and writes, and one for the scheduler
/// whose calls are held to the scheduler's policy in `template.yaml`.
async fn fresh_store(stack: &Stack) -> (Store, Store) {
    let fresh = stack.fresh_stack().await;
    let table = fresh.1.refs["Table"].clone();
    let held = stack.clients_as("SchedulerFunction", &fresh).await;
    (
        Store::new(stack.clients().await.dynamo(), &table),
        Store::new(held.dynamo(), table),
    )
}

/// A scheduler on `store` that reads the time from `clock`.
fn scheduler(store: &Store, clock: &ManualClock) -> Scheduler {
    Scheduler {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        health: None,
    }
}

/// Runs the scheduler until it has caught up with its clock: every run's report.
async fn catch_up(sched: &Scheduler) -> Vec<pagedesk_scheduler::Report> {
    let mut reports = Vec::new();
    loop {
        let r = sched.run().await.expect("a scheduler run");
        let done = r.caught_up;
        reports.push(r);
        if done {
            return reports;
        }
    }
}

async fn window_events(store: &Store, account: &str) -> Vec<(String, serde_json::Value)> {
    store
        .list_events(account, None, 500, i64::MAX / 2)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.as_str().starts_with("window."))
        .map(|e| (e.kind.as_str().to_owned(), e.data))
        .collect()
}

#[tokio::test]
async fn boundaries_late_repeated_and_concurrent_runs_emit_each_event_once() {
    let stack = Stack::connect();
    let (store, held) = fresh_store(&stack).await;
    let account = format!("acct-{}", unique());
    // Minute-aligned so the boundaries are exact.
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let clock = ManualClock::new(t);
    let sched = scheduler(&held, &clock);
    seed_conversation(&store, &account, t, t).await;

    let warn60 = t + STANDARD_MS - 60 * MINUTE_MS;
    clock.set(warn60 - 1);
    sched.run().await.unwrap();
    assert!(
        window_events(&store, &account).await.is_empty(),
        "just before: nothing"
    );

    clock.set(warn60);
    sched.run().await.unwrap();
    sched.run().await.unwrap();
    let ev = window_events(&store, &account).await;
    assert_eq!(
        ev.len(),
        1,
        "at the boundary, once, although it ran twice: {ev:?}"
    );
    assert_eq!(
        (ev[0].0.as_str(), ev[0].1["minutes_left"].as_i64()),
        ("window.expiring", Some(60))
    );

    // Late: the next run is 5 minutes after the close. The 15-minute warning is about the past
    // and is skipped; the close is recorded.
    clock.set(t + STANDARD_MS + 5 * MINUTE_MS);
    sched.run().await.unwrap();
    let kinds: Vec<String> = window_events(&store, &account)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(kinds, ["window.expiring", "window.closed"]);

    clock.set(t + HUMAN_AGENT_MS + HOUR_MS);
    catch_up(&sched).await;
    assert_eq!(
        window_events(&store, &account).await.len(),
        2,
        "Human Agent is off: no 7-day event"
    );
}

#[tokio::test]
async fn concurrent_runs_and_the_human_agent_period() {
    let stack = Stack::connect();
    let (store, held) = fresh_store(&stack).await;
    let account = format!("acct-{}", unique());
    let settings = Settings {
        human_agent_enabled: true,
        ..Default::default()
    };
    store.put_settings(&account, &settings).await.unwrap();
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let clock = ManualClock::new(t);
    for _ in 0..3 {
        seed_conversation(&store, &account, t, t).await;
    }
    // Four schedulers at once at the 15-minute warning (a late run: the 60 is due too).
    clock.set(t + STANDARD_MS - 15 * MINUTE_MS);
    let runs = (0..4).map(|_| {
        let s = scheduler(&held, &clock);
        tokio::spawn(async move { s.run().await.unwrap() })
    });
    for r in futures_join(runs).await {
        r.unwrap();
    }
    let ev = window_events(&store, &account).await;
    assert_eq!(
        ev.len(),
        6,
        "two warnings for each of three conversations, once each: {ev:?}"
    );
    assert!(ev.iter().all(|(_, d)| d["human_agent_until"].is_string()));

    // Days later (an outage): runs catch up without skipping the close.
    clock.set(t + HUMAN_AGENT_MS);
    let sched = scheduler(&held, &clock);
    let mut runs = 0;
    while !sched.run().await.unwrap().caught_up {
        runs += 1;
        assert!(runs < 20, "catching up must end");
    }
    let kinds: Vec<String> = window_events(&store, &account)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "window.closed").count(), 3);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "window.human_agent_ended")
            .count(),
        3
    );
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test]
async fn the_local_hosts_schedule_warns_and_closes_windows() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let now = SystemClock.now_ms();
    // One person wrote 23 h 1 min ago (the 60-minute warning is due), another 25 h ago.
    for (user, at) in [
        (format!("7{}", unique()), now - 23 * HOUR_MS - MINUTE_MS),
        (format!("7{}", unique()), now - 25 * HOUR_MS),
    ] {
        let ev = messaging_event(
            &t.page_id,
            &user,
            at,
            json!({"message": {"mid": format!("m_{}", unique()), "text": "hi"}}),
        );
        stack.deliver(&t.page_id, vec![ev]).await;
    }
    let v = stack
        .wait_for("/events?limit=500", &tok, "window events", |v| {
            let kinds: Vec<&str> = v["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["type"].as_str()).collect())
                .unwrap_or_default();
            kinds.contains(&"window.expiring") && kinds.contains(&"window.closed")
        })
        .await;
    let expiring = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "window.expiring")
        .unwrap();
    assert_eq!(expiring["data"]["minutes_left"], 60);
    // Two more scheduler runs, whatever their pace, then the feed's hold-back for time itself.
    stack.scheduler_ran(2).await;
    stack.settled().await;
    tokio::time::sleep(Duration::from_millis(
        pagedesk_shared::store::SETTLE_MS as u64 + 200,
    ))
    .await;
    let again = stack.get("/events?limit=500", &tok).await;
    let count = |k: &str| {
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == k)
            .count()
    };
    assert_eq!(
        (count("window.expiring"), count("window.closed")),
        (1, 1),
        "runs every second, each event once"
    );
}

/// A new message from the person does not rewrite the scheduler's entry (it moves lazily): the
/// entry set for the first window fires at its old time, emits nothing, and moves itself to the
/// new window's first mark, where the warning then comes once.
#[tokio::test]
async fn a_person_who_writes_again_moves_the_warning_without_an_early_one() {
    use pagedesk_shared::domain::{AuthorType, Direction, MessageStatus};
    use pagedesk_shared::store::{AppendOutcome, Message, Touch};
    let stack = Stack::connect();
    let (store, held) = fresh_store(&stack).await;
    let account = format!("acct-{}", unique());
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let clock = ManualClock::new(t);
    let sched = scheduler(&held, &clock);
    let conv = seed_conversation(&store, &account, t, t).await;
    let first_due = store
        .get_conversation(&account, &conv)
        .await
        .unwrap()
        .and_then(|c| c.window_check_at())
        .expect("scheduled");

    let later = t + 2 * HOUR_MS;
    let mut msg = Message {
        direction: Direction::In,
        author_type: AuthorType::Contact,
        status: MessageStatus::Received,
        created_at: later,
        ..Default::default()
    };
    msg.key_by_meta(&format!("m_{}", unique()));
    msg.place(&account, &conv);
    let touch = Touch {
        at: later,
        inbound: true,
        require_active: true,
        now: later,
    };
    assert_eq!(
        store
            .append_keyed_by_meta(&msg, touch, false)
            .await
            .unwrap(),
        AppendOutcome::Stored
    );
    let c = store
        .get_conversation(&account, &conv)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.last_inbound_at, Some(later));
    assert_eq!(
        c.window_check_at(),
        Some(first_due),
        "not moved by the message"
    );

    // The old entry's time: nothing to say, the entry moves to the new window's warning.
    let warn60 = |at: i64| at + STANDARD_MS - 60 * MINUTE_MS;
    clock.set(warn60(t));
    catch_up(&sched).await;
    assert!(window_events(&store, &account).await.is_empty());
    let moved = store
        .get_conversation(&account, &conv)
        .await
        .unwrap()
        .and_then(|c| c.window_check_at())
        .expect("still scheduled");
    assert_eq!(moved, warn60(later));

    clock.set(warn60(later));
    catch_up(&sched).await;
    let ev = window_events(&store, &account).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        (ev[0].0.as_str(), ev[0].1["minutes_left"].as_i64()),
        ("window.expiring", Some(60))
    );
}

/// An agent's reply stored on `conv` at `at` (the conversation's latest message from then).
async fn agent_reply(store: &Store, account: &str, conv: &str, at: i64) {
    use pagedesk_shared::domain::{AuthorType, Direction, MessageStatus};
    use pagedesk_shared::store::{InWindow, Message};
    let msg = Message {
        direction: Direction::Out,
        author_type: AuthorType::Agent,
        author_id: Some("ann".into()),
        text: Some("Here is your answer".into()),
        status: MessageStatus::Queued,
        created_at: at,
        ..Default::default()
    }
    .placed(account, conv);
    let stored = store
        .outbound()
        .queue_reply_in_window(&msg, at)
        .await
        .unwrap();
    assert!(matches!(stored, InWindow::Stored(_)), "{stored:?}");
}

/// Auto-resolve: only what waits on the person, at its moment, with `resolved_by: auto`, and
/// no survey; a person who wrote since, or a Page without the setting, keeps the conversation.
#[tokio::test]
async fn auto_resolve_resolves_only_what_waits_on_the_person_at_its_moment() {
    use pagedesk_shared::domain::{AuthorType, Direction, MessageStatus};
    use pagedesk_shared::store::{AppendOutcome, Message, Touch};
    let stack = Stack::connect();
    let (store, held) = fresh_store(&stack).await;
    let (on, off) = (format!("acct-{}", unique()), format!("acct-{}", unique()));
    let auto = Settings {
        auto_resolve_hours: Some(2),
        csat_enabled: true,
        ..Default::default()
    };
    store.put_settings(&on, &auto).await.unwrap();
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let clock = ManualClock::new(t);
    let sched = scheduler(&held, &clock);
    let waits = seed_conversation(&store, &on, t, t).await;
    let answered_back = seed_conversation(&store, &on, t, t).await;
    let setting_off = seed_conversation(&store, &off, t, t).await;
    let snoozed_past = seed_conversation(&store, &on, t, t).await;
    let reply_at = t + MINUTE_MS;
    for (account, conv) in [
        (&on, &waits),
        (&on, &answered_back),
        (&off, &setting_off),
        (&on, &snoozed_past),
    ] {
        agent_reply(&store, account, conv, reply_at).await;
        // As the sender does once the reply is out.
        store
            .schedule_timer(account, conv, Timer::AutoResolve, reply_at + 2 * HOUR_MS)
            .await
            .unwrap();
    }
    // One is snoozed past its moment: it is resolved only once it is open again.
    let conv = store
        .get_conversation(&on, &snoozed_past)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .snooze(&conv, reply_at + 3 * HOUR_MS, "ann", reply_at)
            .await
            .unwrap()
    );
    // The person answers one of them.
    let mut msg = Message {
        direction: Direction::In,
        author_type: AuthorType::Contact,
        status: MessageStatus::Received,
        created_at: reply_at + HOUR_MS,
        ..Default::default()
    };
    msg.key_by_meta(&format!("m_{}", unique()));
    msg.place(&on, &answered_back);
    let touch = Touch {
        at: reply_at + HOUR_MS,
        inbound: true,
        require_active: true,
        now: reply_at + HOUR_MS,
    };
    assert_eq!(
        store
            .append_keyed_by_meta(&msg, touch, false)
            .await
            .unwrap(),
        AppendOutcome::Stored
    );

    let status = |account: String, conv: String| {
        let store = store.clone();
        async move {
            let c = store
                .get_conversation(&account, &conv)
                .await
                .unwrap()
                .unwrap();
            (c.status.as_str().to_owned(), c.resolved_by)
        }
    };
    clock.set(reply_at + 2 * HOUR_MS - 1);
    catch_up(&sched).await;
    assert_eq!(
        status(on.clone(), waits.clone()).await.0,
        "open",
        "not before its moment"
    );
    clock.set(reply_at + 2 * HOUR_MS + 30_000);
    let resolved: usize = catch_up(&sched).await.iter().map(|r| r.auto_resolved).sum();
    assert_eq!(resolved, 1);
    assert_eq!(
        status(on.clone(), waits.clone()).await,
        ("resolved".to_owned(), Some("auto".to_owned()))
    );
    assert_eq!(
        status(on.clone(), answered_back.clone()).await.0,
        "open",
        "the person wrote since"
    );
    assert_eq!(
        status(off.clone(), setting_off.clone()).await.0,
        "open",
        "the setting is off"
    );
    // No survey for it, and the event says who resolved it.
    let msgs = store.latest_messages(&on, &waits, 50).await.unwrap();
    assert!(
        !msgs
            .iter()
            .any(|m| m.kind.is_some_and(|k| k.as_str() == "csat")),
        "{msgs:?}"
    );
    let events = store
        .list_events(&on, None, 500, i64::MAX / 2)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.conversation_id.as_deref() == Some(waits.as_str())
                && e.data["resolved_by"] == "auto"),
        "{events:?}"
    );
    assert_eq!(
        status(on.clone(), snoozed_past.clone()).await.0,
        "snoozed",
        "not while snoozed"
    );
    clock.set(reply_at + 3 * HOUR_MS + MINUTE_MS + 30_000);
    let resolved: usize = catch_up(&sched).await.iter().map(|r| r.auto_resolved).sum();
    assert_eq!(resolved, 1, "a minute after its snooze ended");
    assert_eq!(
        status(on.clone(), snoozed_past.clone()).await,
        ("resolved".to_owned(), Some("auto".to_owned()))
    );
    // Every moment was used up: a later run finds nothing more.
    clock.set(reply_at + 10 * HOUR_MS);
    let r = sched.run().await.unwrap();
    assert_eq!(r.auto_resolved, 0);
}

/// Snooze: the scheduler opens a snoozed conversation at its moment and announces it once; a
/// snooze moved meanwhile keeps its new moment; one resolved meanwhile stays resolved.
#[tokio::test]
async fn a_snooze_ends_at_its_moment_once_and_a_moved_one_keeps_its_new_moment() {
    use pagedesk_shared::domain::ConversationStatus;
    use pagedesk_shared::store::ConversationQuery;
    let stack = Stack::connect();
    let (store, held) = fresh_store(&stack).await;
    let account = format!("acct-{}", unique());
    let t = (SystemClock.now_ms() / MINUTE_MS) * MINUTE_MS;
    let clock = ManualClock::new(t);
    let sched = scheduler(&held, &clock);
    let get = |conv: String| {
        let (store, account) = (store.clone(), account.clone());
        async move {
            store
                .get_conversation(&account, &conv)
                .await
                .expect("read")
                .expect("there")
        }
    };
    let (ends, moved, resolved) = (
        seed_conversation(&store, &account, t, t).await,
        seed_conversation(&store, &account, t, t).await,
        seed_conversation(&store, &account, t, t).await,
    );
    for conv in [&ends, &moved, &resolved] {
        assert!(
            store
                .snooze(&get(conv.clone()).await, t + HOUR_MS, "ann", t)
                .await
                .unwrap()
        );
    }
    // Moved to later before its moment, and resolved while snoozed.
    assert!(
        store
            .snooze(
                &get(moved.clone()).await,
                t + 3 * HOUR_MS,
                "ann",
                t + MINUTE_MS
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .resolve_conversation(&get(resolved.clone()).await, t + MINUTE_MS)
            .await
            .unwrap()
    );
    let snoozed = store
        .list_conversations(
            &account,
            &ConversationQuery {
                status: Some(ConversationStatus::Snoozed),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .expect("no cursor");
    let mut listed: Vec<&str> = snoozed.items.iter().map(|c| c.id.as_str()).collect();
    listed.sort_unstable();
    let mut expected = vec![ends.as_str(), moved.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected, "the snoozed list");

    let run_to = |at: i64| {
        clock.set(at);
        let sched = &sched;
        async move {
            catch_up(sched)
                .await
                .iter()
                .map(|r| r.unsnoozed)
                .sum::<usize>()
        }
    };
    assert_eq!(run_to(t + HOUR_MS - 1).await, 0, "not before its moment");
    assert_eq!(get(ends.clone()).await.status, ConversationStatus::Snoozed);
    assert_eq!(run_to(t + HOUR_MS + 30_000).await, 1);
    let woke = get(ends.clone()).await;
    assert_eq!(
        (woke.status, woke.snoozed_until),
        (ConversationStatus::Open, None)
    );
    assert_eq!(get(moved.clone()).await.status, ConversationStatus::Snoozed);
    assert_eq!(
        get(resolved.clone()).await.status,
        ConversationStatus::Resolved
    );
    assert_eq!(run_to(t + 3 * HOUR_MS + 30_000).await, 1, "the moved one");
    assert_eq!(get(moved.clone()).await.status, ConversationStatus::Open);
    assert_eq!(run_to(t + 6 * HOUR_MS).await, 0, "every moment was used up");

    let events = store
        .list_events(&account, None, 500, i64::MAX / 2)
        .await
        .unwrap();
    let unsnoozed = |conv: &str| -> Vec<serde_json::Value> {
        events
            .iter()
            .filter(|e| {
                e.kind.as_str() == "conversation.unsnoozed"
                    && e.conversation_id.as_deref() == Some(conv)
            })
            .map(|e| e.data.clone())
            .collect()
    };
    assert_eq!(
        unsnoozed(&ends),
        vec![json!({"status": "open", "by": "time"})]
    );
    assert_eq!(unsnoozed(&moved).len(), 1);
    assert!(unsnoozed(&resolved).is_empty());
}
