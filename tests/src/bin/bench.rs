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

#[path = "bench/instagram.rs"]
mod instagram;
#[path = "bench/page_inbox.rs"]
mod page_inbox;
#[path = "bench/webhooks.rs"]
mod webhooks;
#[path = "bench/workday.rs"]
mod workday;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pagedesk_e2e::{Stack, envelope, unique};
use pagedesk_local::aws::EMPTY_POLL;
use pagedesk_shared::meta::{event, signature, webhook};
use serde_json::{Value, json};

/// Nanoseconds per round of `f`, over enough rounds to take about 200 ms.
fn per_round(mut f: impl FnMut() -> usize) -> f64 {
    let mut rounds = 1u64;
    loop {
        let started = Instant::now();
        let mut sink = 0usize;
        for _ in 0..rounds {
            sink = sink.wrapping_add(std::hint::black_box(f()));
        }
        let took = started.elapsed();
        std::hint::black_box(sink);
        if took > Duration::from_millis(200) {
            return took.as_nanos() as f64 / rounds as f64;
        }
        rounds *= 2;
    }
}

/// The webhook's own work per event (signature check and split into queue messages, all but
/// the SQS call) beside the floor: HMAC-SHA256 of the same bytes plus one `serde_json` parse.
/// Fifteen interleaved measurements of each; the ratio is of the fastest of each, because
/// noise on a shared machine only ever adds time (the medians moved the ratio from 2.2 to 3.8
/// between runs of the same code while the bench's own stack was busy); the medians are
/// printed beside it.
fn webhook_cpu(label: &str, body: &[u8], events: usize) {
    let secret = b"bench-secret";
    let sig = signature::sign(secret, body);
    let work = || {
        let ok = signature::verify(secret, body, Some(&sig)).is_ok();
        let n = webhook::split(body, 0).map(|s| s.events.len()).unwrap_or(0);
        n * usize::from(ok)
    };
    let floor = || {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("any key length");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let v: Value = serde_json::from_slice(body).unwrap_or_default();
        usize::from(tag[0]) + usize::from(v.is_object())
    };
    let (mut works, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        works.push(per_round(work));
        floors.push(per_round(floor));
    }
    works.sort_by(f64::total_cmp);
    floors.sort_by(f64::total_cmp);
    let us = |ns: f64| ns / events as f64 / 1000.0;
    let (work, floor) = (works[0], floors[0]);
    let (work_med, floor_med) = (works[works.len() / 2], floors[floors.len() / 2]);
    println!(
        "cpu  webhook, {label} ({} bytes): {:.2} µs/event, floor {:.2} µs/event, ratio {:.2} \
         (medians: {:.2} / {:.2} µs, {:.2})",
        body.len(),
        us(work),
        us(floor),
        work / floor,
        us(work_med),
        us(floor_med),
        work_med / floor_med
    );
}

fn cpu_per_event() {
    // One event of about 1 KB, as one webhook delivery.
    let text = "How do I return the shoes I bought last week? ".repeat(19);
    let one = serde_json::to_vec(&envelope(
        "1",
        "messaging",
        vec![json!({"sender": {"id": "7000000000000001"},
        "recipient": {"id": "1"}, "timestamp": 1_700_000_000_000i64,
        "message": {"mid": "m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "text": text}})],
    ))
    .unwrap_or_default();
    webhook_cpu("a single event", &one, 1);
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"sender": {"id": format!("7{i}")}, "recipient": {"id": "1"}, "timestamp": 1_700_000_000_000i64 + i,
            "message": {"mid": format!("m_{i}"), "text": "How do I return the shoes I bought last week?"}}))
        .collect();
    let body = serde_json::to_vec(&envelope("1", "messaging", items)).unwrap_or_default();
    webhook_cpu("a batch of 100", &body, 100);
    let evs = webhook::split(&body, 0)
        .map(|s| s.events)
        .unwrap_or_default();
    let parsed: Vec<webhook::InboundEvent> = evs
        .iter()
        .filter_map(|e| serde_json::from_str(&e.body).ok())
        .collect();
    let router_ns = per_round(|| {
        parsed
            .iter()
            .filter(|e| matches!(event::parse(e), event::WebhookEvent::Inbound(_)))
            .count()
    });
    println!(
        "cpu  router parse:         {:.2} µs/event",
        router_ns / parsed.len().max(1) as f64 / 1000.0
    );
}

/// One of the local host's meters (`/_local/...` on the webhook's API), empty if unreachable.
async fn local_meter<T: serde::de::DeserializeOwned>(
    stack: &Stack,
    path: &str,
) -> BTreeMap<String, T> {
    let url = stack.s("webhook_url").replace("/webhook", path);
    match stack.http.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    }
}

async fn counts(stack: &Stack) -> BTreeMap<String, u64> {
    local_meter(stack, "/_local/aws-requests").await
}

/// Posts `n` replies (`body(i)`) to the conversation and waits until they, their sends and
/// their echoes are handled.
async fn send_replies(
    stack: &Stack,
    clients: &pagedesk_shared::adapters::aws::Clients,
    conv_id: &str,
    agent: &str,
    n: u64,
    body: impl Fn(u64) -> Value,
) {
    for i in 0..n {
        let (s, _) = stack
            .api(
                "POST",
                &format!("/conversations/{conv_id}/messages"),
                Some(agent),
                Some(body(i)),
            )
            .await;
        assert_eq!(s, 202);
    }
    drained_queue(stack, clients, "OutboundQueue").await;
    drained(stack, clients).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn invocations(stack: &Stack) -> BTreeMap<String, Value> {
    local_meter(stack, "/_local/invocations").await
}

// ---- prices -------------------------------------------------------------------------------
// AWS's published on-demand prices, us-east-1, as of 2026-11-21 (aws.amazon.com/<service>/pricing):
// API Gateway HTTP API $1.00 per million requests (first 300 million a month); Lambda x86
// $0.20 per million requests and $0.0000166667 per GB-second; SQS FIFO $0.50 per million
// requests (each 64 KB chunk one request; the event-source mapping's receives and deletes
// count); DynamoDB on-demand $0.625 per million write request units and $0.125 per million read
// request units (since the November 2024 reduction), storage $0.25 per GB-month; Secrets Manager
// $0.05 per 10,000 calls. CloudWatch Logs ($0.50 per GB ingested) is left out: it depends on the
// log level the account sets.
const APIGW_PER_M: f64 = 1.00;
const LAMBDA_REQ_PER_M: f64 = 0.20;
const LAMBDA_GB_S: f64 = 0.000_016_666_7;
const SQS_PER_M: f64 = 0.50;
const WRU_PER_M: f64 = 0.625;
const RRU_PER_M: f64 = 0.125;
const STORAGE_GB_MONTH: f64 = 0.25;
const SECRETS_PER_M: f64 = 5.00;

/// Memory of each function in the template (MB): its own MemorySize, else the Globals'.
fn memory_mb(function: &str) -> f64 {
    let tpl: serde_yaml_ng::Value = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .ok()
    .and_then(|t| serde_yaml_ng::from_str(&t).ok())
    .unwrap_or_default();
    tpl["Resources"][function]["Properties"]["MemorySize"]
        .as_f64()
        .or_else(|| tpl["Globals"]["Function"]["MemorySize"].as_f64())
        .unwrap_or(128.0)
}

/// DynamoDB's size of an item (attribute names plus values, as its pricing page counts them).
fn item_size(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    fn value(v: &A) -> usize {
        match v {
            A::S(s) => s.len(),
            A::N(n) => n.len().div_ceil(2) + 1,
            A::B(b) => b.as_ref().len(),
            A::Bool(_) | A::Null(_) => 1,
            A::Ss(l) => l.iter().map(String::len).sum(),
            A::Ns(l) => l.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
            A::L(l) => 3 + l.iter().map(|v| value(v) + 1).sum::<usize>(),
            A::M(m) => 3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// Dollars per million operations from per-operation figures, all in, and what each part costs.
struct Cost {
    lines: Vec<(String, f64)>,
}

impl Cost {
    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, d)| d).sum()
    }
    fn print(&self, what: &str) {
        println!("cost {what}: ${:.2} per million, all in", self.total());
        let mut lines: Vec<&(String, f64)> = self.lines.iter().collect();
        lines.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (k, d) in lines {
            println!("       {k:<58} ${d:>6.2}");
        }
    }
}

/// The cost of one operation measured between two readings, per million: `posts` webhook
/// requests through API Gateway per operation.
/// One reading of the local meters: SDK requests, DynamoDB units, invocations.
type Reading<'a> = (
    &'a BTreeMap<String, u64>,
    &'a BTreeMap<String, f64>,
    &'a BTreeMap<String, Value>,
);

fn cost_between(before: Reading<'_>, after: Reading<'_>, n: u64, posts: f64) -> Cost {
    let n = n as f64;
    let req = |prefix: &str| {
        after
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (v - before.0.get(k).copied().unwrap_or(0)) as f64)
            .sum::<f64>()
            / n
    };
    let cap = |k: &str| {
        (after.1.get(k).copied().unwrap_or(0.0) - before.1.get(k).copied().unwrap_or(0.0)) / n
    };
    let mut lines = Vec::new();
    if posts > 0.0 {
        lines.push((
            format!("API Gateway ({posts:.2} requests)"),
            posts * APIGW_PER_M,
        ));
    }
    let (mut calls, mut gb_s) = (0.0, 0.0);
    for (f, v) in after.2 {
        let b = before.2.get(f);
        let count =
            v["count"].as_f64().unwrap_or(0.0) - b.and_then(|b| b["count"].as_f64()).unwrap_or(0.0);
        let ms = v["ms"].as_f64().unwrap_or(0.0) - b.and_then(|b| b["ms"].as_f64()).unwrap_or(0.0);
        if count <= 0.0 {
            continue;
        }
        // Lambda rounds each invocation up to the next millisecond.
        let billed_ms = ms + count * 0.5;
        calls += count / n;
        gb_s += billed_ms / 1000.0 * memory_mb(f) / 1024.0 / n;
        println!(
            "       {f:<24} {:.2} invocations, {:.1} ms each ({} MB)",
            count / n,
            ms / count,
            memory_mb(f)
        );
    }
    lines.push((
        format!("Lambda requests ({calls:.2})"),
        calls * LAMBDA_REQ_PER_M,
    ));
    lines.push((
        format!("Lambda duration ({:.4} GB-s)", gb_s),
        gb_s * LAMBDA_GB_S * 1e6,
    ));
    // The local host's empty polls stand for the event-source mapping's, which come per queue
    // (a few a minute each poller) whatever the traffic: not part of what a message costs.
    let sqs = req("sqs:") - req(EMPTY_POLL);
    lines.push((
        format!("SQS FIFO ({sqs:.2} requests; empty polls left out)"),
        sqs * SQS_PER_M,
    ));
    let (w, r) = (cap("write:total"), cap("read:total"));
    lines.push((format!("DynamoDB writes ({w:.2} WRU)"), w * WRU_PER_M));
    lines.push((format!("DynamoDB reads ({r:.2} RRU)"), r * RRU_PER_M));
    let secrets = req("secretsmanager:");
    if secrets > 0.0 {
        lines.push((
            format!("Secrets Manager ({secrets:.3} calls)"),
            secrets * SECRETS_PER_M,
        ));
    }
    Cost { lines }
}

async fn capacity(stack: &Stack) -> BTreeMap<String, f64> {
    local_meter(stack, "/_local/aws-capacity").await
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

async fn drained(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    drained_queue(stack, clients, "InboundQueue").await
}

async fn drained_queue(
    stack: &Stack,
    clients: &pagedesk_shared::adapters::aws::Clients,
    queue: &str,
) {
    let q = stack.queue_url(queue);
    for _ in 0..200 {
        let a = clients
            .sqs()
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
    // One part alone while working on it: PAGEDESK_BENCH_ONLY=workday.
    match std::env::var("PAGEDESK_BENCH_ONLY").as_deref() {
        Ok("workday") => return workday::workday(&stack, &clients).await,
        Ok("webhooks") => return webhooks::webhooks(&stack, &clients).await,
        Ok("instagram") => return instagram::instagram(&stack, &clients).await,
        _ => {}
    }
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
    let inv_before = invocations(&stack).await;
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
    let inv_after = invocations(&stack).await;
    println!("aws  requests per inbound text message, steady state ({n} messages):");
    print_capacity(&cap_before, &cap_after, n);
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            let note = if k == EMPTY_POLL {
                "  (of the receives above: none carried a message)"
            } else if k.starts_with("sqs:ReceiveMessage")
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
    let mut inbound_cost = cost_between(
        (&before, &cap_before, &inv_before),
        (&after, &cap_after, &inv_after),
        n,
        1.0,
    );
    // Storage: a million messages kept for a month counts in the total; kept for good, a
    // year's worth at a million a month is twelve times that every month (printed below).
    let msg_bytes = message_bytes(&stack, &t).await;
    let month = msg_bytes as f64 * 1e6 / (1u64 << 30) as f64 * STORAGE_GB_MONTH;
    inbound_cost.lines.push((
        format!("storage, one month ({msg_bytes} B a message)"),
        month,
    ));
    inbound_cost.print("per inbound text message");
    println!(
        "       (kept for good: after a year at a million messages a month, storage is ${:.2} a month)",
        12.0 * month
    );

    // Outbound: requests per reply (agent API + sender + the echo's handling), steady state.
    stack
        .sim("PUT", "/_sim/settings", Some(json!({"echoes": true})))
        .await;
    let conv_id = stack.single_conversation(&t, 1).await.0["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let agent = stack.token(
        &t.account,
        "agent-1",
        pagedesk_shared::adapters::auth::Role::Agent,
    );
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    let inv_before = invocations(&stack).await;
    let m_out = 20u64;
    send_replies(
        &stack,
        &clients,
        &conv_id,
        &agent,
        m_out,
        |i| json!({"text": format!("reply {i}")}),
    )
    .await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    let inv_after = invocations(&stack).await;
    println!(
        "aws  requests per outbound reply: API call + send + the echo's confirmation ({m_out} replies):"
    );
    print_capacity(&cap_before, &cap_after, m_out);
    print_requests_where(&before, &after, m_out, |_| true);
    // The echo comes back through API Gateway like any webhook; the reply's own call goes
    // through the function URL (no charge beyond Lambda's).
    cost_between(
        (&before, &cap_before, &inv_before),
        (&after, &cap_after, &inv_after),
        m_out,
        1.0,
    )
    .print("per reply (API call, send, echo)");
    // The web front end sends every reply with a `client_id` (its guard is one more write).
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    send_replies(
        &stack,
        &clients,
        &conv_id,
        &agent,
        m_out,
        |i| json!({"text": format!("reply {i}"), "client_id": format!("bench-{i}")}),
    )
    .await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    println!("aws  the same with a client_id, as the web front end sends ({m_out} replies):");
    print_capacity(&cap_before, &cap_after, m_out);
    print_requests_where(&before, &after, m_out, |k| k.starts_with("dynamodb"));
    // Meta answers sends with delivery and read receipts (typically one of each per reply the
    // person sees): each a webhook of its own that moves a watermark.
    let n_receipts = 20u64;
    let before = counts(&stack).await;
    let cap_before = capacity(&stack).await;
    let inv_before = invocations(&stack).await;
    for i in 0..n_receipts {
        let at = chrono_ms() + i as i64;
        let receipt = if i % 2 == 0 {
            json!({"delivery": {"mids": [format!("m_{}", unique())], "watermark": at}})
        } else {
            json!({"read": {"watermark": at}})
        };
        let mut ev =
            json!({"sender": {"id": user}, "recipient": {"id": t.page_id}, "timestamp": at});
        if let (Some(e), Some(r)) = (ev.as_object_mut(), receipt.as_object()) {
            e.extend(r.clone());
        }
        let body = envelope(&t.page_id, "messaging", vec![ev])
            .to_string()
            .into_bytes();
        let (s, _) = stack.post_webhook(&body).await;
        assert_eq!(s, 200);
        // Each moves its watermark: the next is a millisecond later at least.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drained(&stack, &clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = counts(&stack).await;
    let cap_after = capacity(&stack).await;
    let inv_after = invocations(&stack).await;
    println!(
        "aws  per receipt (delivery and read alternating, each moving its watermark; {n_receipts}):"
    );
    print_capacity(&cap_before, &cap_after, n_receipts);
    print_requests(&before, &after, n_receipts);
    cost_between(
        (&before, &cap_before, &inv_before),
        (&after, &cap_after, &inv_after),
        n_receipts,
        1.0,
    )
    .print("per receipt");
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
    print_requests(&before, &after, n_new);
    comments_and_leads(&stack, &clients).await;
    page_inbox::page_inbox(&stack, &clients).await;
    page_inbox::reconciliation(&stack, &clients).await;
    workday::workday(&stack, &clients).await;
    webhooks::webhooks(&stack, &clients).await;
    instagram::instagram(&stack, &clients).await;
    scheduler_minute(&stack).await;
    sweeper_minute(&stack).await;
}

/// What a reply costs later: the scheduler's sweeper passes its deadline entry once,
/// `UNSENT_DEADLINE_MS` after it was queued (100 replies queued and sent in one minute, on a
/// table of its own with an injected clock, metered in this process).
async fn sweeper_minute(stack: &Stack) {
    use pagedesk_shared::clock::MINUTE_MS;
    use pagedesk_shared::domain::{AuthorType, Direction, MessageStatus};
    use pagedesk_shared::store::{Message, QueueOutcome, UNSENT_DEADLINE_MS};
    let clients = stack.clients().await;
    let store = pagedesk_shared::store::Store::new(clients.dynamo(), stack.fresh_table().await);
    let account = format!("acct-{}", unique());
    let t = (chrono_ms() / MINUTE_MS) * MINUTE_MS;
    let conv = pagedesk_e2e::seed_conversation(&store, &account, t, t).await;
    let n = 100u64;
    for i in 0..n {
        let msg = Message {
            direction: Direction::Out,
            author_type: AuthorType::Agent,
            author_id: Some("agent-1".into()),
            text: Some(format!("reply {i}")),
            status: MessageStatus::Queued,
            parts_total: Some(1),
            created_at: t,
            ..Default::default()
        }
        .placed(&account, &conv);
        let queued = store.outbound().queue_message(&msg, t, None, true).await;
        assert!(matches!(queued, Ok(QueueOutcome::Stored)), "{queued:?}");
        let mid = format!("m_{}", unique());
        let recorded = store
            .outbound()
            .record_part(&msg, pagedesk_shared::store::SentPart::new(0, &mid, t), t)
            .await;
        assert!(matches!(recorded, Ok(true)), "{recorded:?}");
    }
    let run = metered_scheduler_run(
        store,
        t + UNSENT_DEADLINE_MS - MINUTE_MS,
        t + UNSENT_DEADLINE_MS + MINUTE_MS,
    )
    .await;
    let ((req0, cap0), (req1, cap1)) = (run.before, run.after);
    println!(
        "aws  later, per reply: the sweeper passing {n} sent replies at their deadline (failed: {:?}):",
        run.report.map(|r| r.unsent_failed).ok()
    );
    print_capacity(&cap0, &cap1, n);
    print_requests(&req0, &req1, n);
    let rru = (cap1.get("read:total").copied().unwrap_or(0.0)
        - cap0.get("read:total").copied().unwrap_or(0.0))
        / n as f64;
    println!(
        "       ${:.3} per million replies (reads; the scheduler's own invocation is per minute, not per reply)",
        rru * RRU_PER_M
    );
}

/// This process's request counts and DynamoDB units.
type Meter = (BTreeMap<String, u64>, BTreeMap<String, f64>);

fn meter() -> Meter {
    (
        pagedesk_local::aws::request_counts(),
        pagedesk_local::aws::consumed_capacity(),
    )
}

struct SchedulerRun {
    report: pagedesk_shared::Result<pagedesk_scheduler::Report>,
    took: Duration,
    before: Meter,
    after: Meter,
}

/// The scheduler over `store` with its clock at `warm` (what is due by then is handled and
/// left out), then at `at`: that second run, metered in this process.
async fn metered_scheduler_run(
    store: pagedesk_shared::store::Store,
    warm: i64,
    at: i64,
) -> SchedulerRun {
    let clock = pagedesk_shared::clock::ManualClock::new(warm);
    let sched = pagedesk_scheduler::Scheduler {
        store,
        clock: std::sync::Arc::new(clock.clone()),
        health: None,
    };
    let _ = sched.run().await;
    let before = meter();
    clock.set(at);
    let started = Instant::now();
    let report = sched.run().await;
    let took = started.elapsed();
    SchedulerRun {
        report,
        took,
        before,
        after: meter(),
    }
}

/// One scheduler run over a minute in which 100 conversations have a window mark due, on a
/// table of its own with an injected clock, metered in this process.
async fn scheduler_minute(stack: &Stack) {
    use pagedesk_shared::clock::MINUTE_MS;
    use pagedesk_shared::domain::window::STANDARD_MS;
    let clients = stack.clients().await;
    let store = pagedesk_shared::store::Store::new(clients.dynamo(), stack.fresh_table().await);
    let account = format!("acct-{}", unique());
    let t = (chrono_ms() / MINUTE_MS) * MINUTE_MS;
    for _ in 0..100 {
        pagedesk_e2e::seed_conversation(&store, &account, t, t).await;
    }
    let run = metered_scheduler_run(
        store,
        t + STANDARD_MS - 60 * MINUTE_MS - 1,
        t + STANDARD_MS - 59 * MINUTE_MS,
    )
    .await;
    let ((req0, cap0), (req1, cap1)) = (run.before, run.after);
    println!(
        "aws  one scheduler minute with 100 conversations due (a 60-minute warning each), {:.0} ms: {:?}",
        run.took.as_secs_f64() * 1000.0,
        run.report.map(|r| (r.conversations, r.events)).ok()
    );
    print_capacity(&cap0, &cap1, 1);
    print_requests(&req0, &req1, 1);
}

/// A comment under one post (steady: its conversation exists) and a lead (each a new
/// conversation): units and requests per event.
async fn comments_and_leads(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
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

/// The requests counted between `before` and `after`, per operation (`n` of them), but the
/// receives and deletes of the local host's pollers.
fn print_requests(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, n: u64) {
    print_requests_where(before, after, n, |k| {
        !k.starts_with("sqs:ReceiveMessage")
            && !k.starts_with("sqs:DeleteMessage")
            && k != EMPTY_POLL
    });
}

/// The requests counted between `before` and `after`, per operation (`n` of them), those
/// whose name `keep` accepts.
fn print_requests_where(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    n: u64,
    keep: impl Fn(&str) -> bool,
) {
    for (k, v) in after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 && keep(k) {
            println!("       {k:<40} {:.2}", d as f64 / n as f64);
        }
    }
}

/// DynamoDB's size of a steady-state inbound message item of `t`'s conversation.
async fn message_bytes(stack: &Stack, t: &pagedesk_e2e::Tenant) -> usize {
    let (conv, _) = stack.single_conversation(t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default();
    stack
        .message_items(&t.account, id)
        .await
        .first()
        .map(item_size)
        .unwrap_or(0)
}

fn tok_for(stack: &Stack, t: &pagedesk_e2e::Tenant) -> String {
    stack.admin(&t.account)
}
