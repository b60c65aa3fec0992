//! Benchmarks that print figures to compare from run to run (they assert nothing):
//!
//! 1. CPU per event in the webhook (verify + split) and the router's parse, in-process.
//! 2. AWS requests per inbound text message in steady state (contact and conversation exist),
//!    counted by the SDK interceptor inside the local host, and DynamoDB's own meter of read
//!    and write units (`ConsumedCapacity`, table and each index; `PAGEDESK_MEASURE_CAPACITY=1`)
//!    for that, a reply, a new person's routed conversation, a comment and a lead.
//! 3. End-to-end latency on the local stack: signed POST → visible in the agent API.
//!
//! Run: `make bench` (starts its own stack), or with `PAGEDESK_STACK_FILE` set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pagedesk_e2e::{Stack, envelope, unique};
use pagedesk_shared::meta::{event, signature, webhook};
use serde_json::{Value, json};

fn cpu_per_event() {
    let secret = b"bench-secret";
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"sender": {"id": format!("7{i}")}, "recipient": {"id": "1"}, "timestamp": 1_700_000_000_000i64 + i,
            "message": {"mid": format!("m_{i}"), "text": "How do I return the shoes I bought last week?"}}))
        .collect();
    let body = serde_json::to_vec(&envelope("1", "messaging", items)).unwrap_or_default();
    let sig = signature::sign(secret, &body);
    let rounds = 200;
    let started = Instant::now();
    let mut n = 0usize;
    for _ in 0..rounds {
        let ok = signature::verify(secret, &body, Some(&sig)).is_ok();
        let split = webhook::split(&body, 0)
            .map(|s| s.events.len())
            .unwrap_or(0);
        n += split * usize::from(ok);
    }
    let webhook_ns = started.elapsed().as_nanos() as f64 / n.max(1) as f64;
    let evs = webhook::split(&body, 0)
        .map(|s| s.events)
        .unwrap_or_default();
    let parsed: Vec<webhook::InboundEvent> = evs
        .iter()
        .filter_map(|e| serde_json::from_str(&e.body).ok())
        .collect();
    let started = Instant::now();
    let mut m = 0usize;
    for _ in 0..rounds {
        for e in &parsed {
            if matches!(event::parse(e), event::Event::Inbound(_)) {
                m += 1;
            }
        }
    }
    let router_ns = started.elapsed().as_nanos() as f64 / m.max(1) as f64;
    println!(
        "cpu  webhook verify+split: {:.2} µs/event (batch of 100, {} bytes)",
        webhook_ns / 1000.0,
        body.len()
    );
    println!(
        "cpu  router parse:         {:.2} µs/event",
        router_ns / 1000.0
    );
}

async fn counts(stack: &Stack) -> BTreeMap<String, u64> {
    let url = stack
        .s("webhook_url")
        .replace("/webhook", "/_local/aws-requests");
    match stack.http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

async fn capacity(stack: &Stack) -> BTreeMap<String, f64> {
    let url = stack
        .s("webhook_url")
        .replace("/webhook", "/_local/aws-capacity");
    match stack.http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

/// Units per operation between two meter readings: `write:total  3.00 (table 2.00, gsi1 1.00)`.
fn print_capacity(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, n: u64) {
    if after.is_empty() {
        println!(
            "       (no capacity figures: run with PAGEDESK_MEASURE_CAPACITY=1, as `make bench` does)"
        );
        return;
    }
    for kind in ["write", "read"] {
        let d = |k: &str| {
            (after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0))
                / n as f64
        };
        let parts: Vec<String> = after
            .keys()
            .filter(|k| k.starts_with(kind) && !k.ends_with(":total"))
            .filter(|k| d(k) > 0.0)
            .map(|k| format!("{} {:.2}", &k[kind.len() + 1..], d(k)))
            .collect();
        println!(
            "       dynamodb {kind} units {:>6.2}  ({})",
            d(&format!("{kind}:total")),
            parts.join(", ")
        );
    }
}

async fn drained(stack: &Stack, clients: &pagedesk_shared::aws::Clients) {
    drained_queue(stack, clients, "InboundQueue").await
}

async fn drained_queue(stack: &Stack, clients: &pagedesk_shared::aws::Clients, queue: &str) {
    let q = stack.queue_url(queue);
    for _ in 0..200 {
        let a = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&q)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .ok()
            .and_then(|o| o.attributes)
            .unwrap_or_default();
        let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
            a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1)
        };
        if n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages) == 0
            && n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible) == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn post(page: &str, user: &str, text: &str) -> Vec<u8> {
    let now = chrono_ms();
    envelope(page, "messaging", vec![json!({"sender": {"id": user}, "recipient": {"id": page}, "timestamp": now, "message": {"mid": format!("m_{}", unique()), "text": text}})])
        .to_string()
        .into_bytes()
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    cpu_per_event();
    let stack = Stack::connect();
    let clients = stack.clients().await;
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    // Warm-up: creates the contact and the conversation, and warms the router's caches.
    stack
        .post_webhook(&post(&t.page_id, &user, "warm-up"))
        .await;
    stack.single_conversation(&t, 1).await;
    drained(&stack, &clients).await;

    let n = 20u64;
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    for i in 0..n {
        let (s, _) = stack
            .post_webhook(&post(&t.page_id, &user, &format!("steady {i}")))
            .await;
        assert_eq!(s, 200);
    }
    drained(&stack, &clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    println!("aws  requests per inbound text message, steady state ({n} messages):");
    print_capacity(&cap_before, &cap_after, n);
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            let note = if k.starts_with("sqs:ReceiveMessage")
                || k.starts_with("sqs:DeleteMessage")
                || k.starts_with("sqs:ChangeMessageVisibility")
            {
                "  (event-source mapping: Lambda's poller in the cloud)"
            } else {
                ""
            };
            println!("       {k:<40} {:.2}{note}", d as f64 / n as f64);
        }
    }

    // Outbound: requests per reply (agent API + sender + the echo's handling), steady state.
    stack
        .sim("PUT", "/_sim/settings", Some(json!({"echoes": true})))
        .await;
    let conv_id = stack.single_conversation(&t, 1).await.0["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let agent = stack.token(&t.account, "agent-1", pagedesk_shared::auth::Role::Agent);
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    let m_out = 20u64;
    for i in 0..m_out {
        let (s, _) = stack
            .api(
                "POST",
                &format!("/conversations/{conv_id}/messages"),
                Some(&agent),
                Some(json!({"text": format!("reply {i}")})),
            )
            .await;
        assert_eq!(s, 202);
    }
    drained_queue(&stack, &clients, "OutboundQueue").await;
    drained(&stack, &clients).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    println!(
        "aws  requests per outbound reply: API call + send + the echo's confirmation ({m_out} replies):"
    );
    print_capacity(&cap_before, &cap_after, m_out);
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            println!("       {k:<40} {:.2}", d as f64 / m_out as f64);
        }
    }
    let mut reply_lat = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let (_, m) = stack
            .api(
                "POST",
                &format!("/conversations/{conv_id}/messages"),
                Some(&agent),
                Some(json!({"text": format!("timed reply {i}")})),
            )
            .await;
        let id = m["id"].as_str().unwrap_or_default().to_owned();
        loop {
            let v = stack
                .get(
                    &format!("/conversations/{conv_id}/messages?limit=200"),
                    &tok_for(&stack, &t),
                )
                .await;
            if v["items"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["id"] == id.as_str() && x["status"] == "sent")
            }) || started.elapsed() > Duration::from_secs(10)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reply_lat.push(started.elapsed());
    }
    reply_lat.sort();
    let q = |l: &Vec<Duration>, x: f64| {
        l[((l.len() as f64 - 1.0) * x).round() as usize].as_secs_f64() * 1000.0
    };
    println!(
        "e2e  reply POST -> sent (Send API answered) on the local stack: p50 {:.0} ms, p90 {:.0} ms",
        q(&reply_lat, 0.5),
        q(&reply_lat, 0.9)
    );

    // End-to-end latency: POST → message visible through the agent API.
    let tok = stack.admin(&t.account);
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    let mut lat = Vec::new();
    for i in 0..30 {
        let text = format!("latency {i} {}", unique());
        let started = Instant::now();
        stack.post_webhook(&post(&t.page_id, &user, &text)).await;
        loop {
            let v = stack
                .get(&format!("/conversations/{id}/messages?limit=200"), &tok)
                .await;
            let found = v["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m["text"] == text.as_str()));
            if found {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lat.push(started.elapsed());
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "e2e  webhook POST -> visible in agent API (local stack, 30 runs): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        p(0.5),
        p(0.9),
        p(1.0)
    );

    // Routing: requests per new conversation from a new person, round robin over 3 agents.
    let r = stack.tenant().await;
    let admin = stack.admin(&r.account);
    for a in ["bench-a", "bench-b", "bench-c"] {
        let (s, _) = stack
            .api(
                "PUT",
                &format!("/agents/{a}"),
                Some(&admin),
                Some(json!({"status": "online"})),
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = stack
        .api("PUT", "/routing-rules", Some(&admin),
            Some(json!({"rules": [{"name": "all", "agents": ["bench-a", "bench-b", "bench-c"], "method": "round_robin"}]})))
        .await;
    assert_eq!(s, 200);
    // Warm the router's settings cache for this account.
    stack
        .post_webhook(&post(&r.page_id, &format!("7{}", unique()), "warm-up"))
        .await;
    drained(&stack, &clients).await;
    let n_new = 20u64;
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    for _ in 0..n_new {
        let (s, _) = stack
            .post_webhook(&post(&r.page_id, &format!("7{}", unique()), "hello"))
            .await;
        assert_eq!(s, 200);
    }
    drained(&stack, &clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    println!(
        "aws  requests per new conversation from a new person, routed round robin ({n_new}; includes the profile lookup's secret read on a cold cache):"
    );
    print_capacity(&cap_before, &cap_after, n_new);
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 && !k.starts_with("sqs:ReceiveMessage") && !k.starts_with("sqs:DeleteMessage") {
            println!("       {k:<40} {:.2}", d as f64 / n_new as f64);
        }
    }
    comments_and_leads(&stack, &clients).await;
}

/// A comment under one post (steady: its conversation exists) and a lead (each a new
/// conversation): units and requests per event.
async fn comments_and_leads(stack: &Stack, clients: &pagedesk_shared::aws::Clients) {
    let t = stack.tenant().await;
    let change = |value: Value| {
        json!({"object": "page", "entry": [{"id": t.page_id, "time": chrono_ms() / 1000, "changes": [value]}]})
            .to_string()
            .into_bytes()
    };
    let comment = |i: u64| {
        change(
            json!({"field": "feed", "value": {"from": {"id": format!("7{}", unique()), "name": "C"},
            "item": "comment", "verb": "add", "post_id": format!("{}_1", t.page_id),
            "comment_id": format!("1_{}", unique()), "parent_id": format!("{}_1", t.page_id),
            "created_time": chrono_ms() / 1000, "message": format!("comment {i}")}}),
        )
    };
    stack.post_webhook(&comment(0)).await;
    drained(stack, clients).await;
    let n = 10u64;
    let (before, cap_before) = (counts(stack).await, capacity(stack).await);
    for i in 1..=n {
        stack.post_webhook(&comment(i)).await;
    }
    drained(stack, clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (after, cap_after) = (counts(stack).await, capacity(stack).await);
    println!("aws  per comment under a post with a conversation ({n}):");
    print_requests(&before, &after, n);
    print_capacity(&cap_before, &cap_after, n);
    let (before, cap_before) = (counts(stack).await, capacity(stack).await);
    for _ in 0..n {
        stack
            .post_webhook(&change(
                json!({"field": "leadgen", "value": {"leadgen_id": format!("{}", unique()),
                "page_id": t.page_id, "form_id": "1", "created_time": chrono_ms() / 1000}}),
            ))
            .await;
    }
    drained(stack, clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (after, cap_after) = (counts(stack).await, capacity(stack).await);
    println!("aws  per lead (a new contact and conversation each) ({n}):");
    print_requests(&before, &after, n);
    print_capacity(&cap_before, &cap_after, n);
}

fn print_requests(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, n: u64) {
    for (k, v) in after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 && !k.starts_with("sqs:ReceiveMessage") && !k.starts_with("sqs:DeleteMessage") {
            println!("       {k:<40} {:.2}", d as f64 / n as f64);
        }
    }
}

fn tok_for(stack: &Stack, t: &pagedesk_e2e::Tenant) -> String {
    stack.admin(&t.account)
}
