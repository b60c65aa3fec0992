//! `make load`: inbound messages through the whole local stack (signed webhook POSTs, SQS
//! FIFO, two pollers per queue, router, DynamoDB Local), then counted from the agent API.
//! Prints the time to drain and the lost, duplicated and out-of-order counts (it asserts
//! nothing; the exit status is non-zero when anything was lost or duplicated).
//!
//! `LOAD_MESSAGES` (10000) over `LOAD_PEOPLE` (1000) conversations, `LOAD_BODY` (100) events
//! per webhook POST, posted one after another as Meta does for one Page, holding back while
//! more than `LOAD_BACKLOG` (1000) posted messages are not stored yet: moto's FIFO queue costs
//! grow with its depth (every send and receive walks every queued message), so an unbounded
//! backlog measures moto, not pagedesk. The backlog is read from the events feed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pagedesk_e2e::{Stack, created_by_conversation, envelope, unique};
use pagedesk_shared::clock::{Clock, SystemClock};
use serde_json::{Value, json};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

#[tokio::main]
async fn main() {
    let total = env_usize("LOAD_MESSAGES", 10_000);
    let people_n = env_usize("LOAD_PEOPLE", 1_000).max(1);
    let body_n = env_usize("LOAD_BODY", 100).max(1);
    let per = total / people_n;
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let base = SystemClock.now_ms();
    let people: Vec<String> = (0..people_n).map(|_| format!("7{}", unique())).collect();
    let mut events = Vec::with_capacity(per * people_n);
    for i in 0..per {
        for p in &people {
            events.push(json!({"sender": {"id": p}, "recipient": {"id": t.page_id},
                "timestamp": base + i as i64,
                "message": {"mid": format!("m_{p}_{i}"), "text": i.to_string()}}));
        }
    }
    let expected = events.len();
    println!("load: {expected} messages from {people_n} people, {body_n} per POST");

    let backlog = env_usize("LOAD_BACKLOG", 1_000);
    let mut feed = Feed::default();
    let started = Instant::now();
    let mut retries = 0;
    let mut posted_n = 0;
    for chunk in events.chunks(body_n) {
        while posted_n > feed.created() + backlog {
            feed.read(&stack, &tok).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        posted_n += chunk.len();
        let body = envelope(&t.page_id, "messaging", chunk.to_vec()).to_string();
        // Meta retries until it gets a 200.
        loop {
            let (status, _) = stack.post_webhook(body.as_bytes()).await;
            if status == 200 {
                break;
            }
            retries += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let posted = started.elapsed();

    // The feed in the order the router stored the messages.
    let mut last_progress = Instant::now();
    let mut drained = None;
    while last_progress.elapsed() < Duration::from_secs(60) {
        if feed.read(&stack, &tok).await {
            last_progress = Instant::now();
        }
        if feed.created() >= expected {
            // The feed holds events back a few seconds: subtract that from the drain time.
            drained = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let order = created_by_conversation(&feed.items);
    let (mut stored, mut lost, mut duplicated, mut out_of_order) = (0usize, 0usize, 0usize, 0usize);
    for (conv, ids) in &order {
        let msgs = stack.all_messages(conv, &tok).await;
        let text_of: HashMap<&str, usize> = msgs
            .iter()
            .filter_map(|m| Some((m["id"].as_str()?, m["text"].as_str()?.parse().ok()?)))
            .collect();
        let mut seen = vec![0usize; per];
        for i in text_of.values() {
            if let Some(n) = seen.get_mut(*i) {
                *n += 1;
            }
        }
        stored += msgs.len();
        lost += seen.iter().filter(|n| **n == 0).count();
        duplicated += seen.iter().map(|n| n.saturating_sub(1)).sum::<usize>();
        let processed: Vec<usize> = ids
            .iter()
            .filter_map(|id| text_of.get(id.as_str()).copied())
            .collect();
        out_of_order += processed.windows(2).filter(|w| w[0] > w[1]).count();
    }
    lost += (people_n - order.len()) * per;
    println!(
        "load: posted in {:.1} s ({retries} POSTs retried after a non-200)",
        posted.as_secs_f64()
    );
    match drained {
        Some(d) => println!(
            "load: drained in {:.1} s (POST of the first body to the last message.created seen in the feed, which holds events back 5 s): {:.0} messages/s",
            d.as_secs_f64(),
            expected as f64 / d.as_secs_f64()
        ),
        None => println!("load: not drained: the feed stopped growing for 60 s"),
    }
    println!(
        "load: conversations {} of {people_n}, messages stored {stored} of {expected}, lost {lost}, duplicated {duplicated}, out of order {out_of_order}",
        order.len()
    );
    if lost > 0 || duplicated > 0 {
        std::process::exit(1);
    }
}

/// The account's events feed, read on as it grows.
#[derive(Default)]
struct Feed {
    items: Vec<Value>,
    cursor: Option<String>,
}

impl Feed {
    /// Reads what is new; `true` when there was something.
    async fn read(&mut self, stack: &Stack, tok: &str) -> bool {
        let mut any = false;
        loop {
            let path = match &self.cursor {
                Some(c) => format!("/events?limit=500&after={c}"),
                None => "/events?limit=500".to_owned(),
            };
            let v = stack.get(&path, tok).await;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if let Some(c) = v["next_cursor"].as_str() {
                self.cursor = Some(c.to_owned());
            }
            if items.is_empty() {
                return any;
            }
            any = true;
            self.items.extend(items);
        }
    }

    fn created(&self) -> usize {
        self.items
            .iter()
            .filter(|e| e["type"] == "message.created")
            .count()
    }
}
