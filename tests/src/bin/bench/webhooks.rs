//! What outgoing webhooks cost (issue 29): the same person's messages with and without a
//! webhook subscribed to every event; the difference, per delivery, is the webhook's price
//! (the stream's poke, the dispatch turn, the delivery job and its record).

use super::*;

/// The requests the simulator's stand-in endpoint `/_bot/<path>` accepted.
async fn accepted(stack: &Stack, path: &str) -> usize {
    let want = format!("/_bot/{path}");
    stack
        .sim("GET", "/_sim/requests", None)
        .await
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["path"] == want.as_str() && r["effective"] == true)
                .count()
        })
        .unwrap_or(0)
}

/// `n` messages of one person into `t`'s Page, spaced so each is its own dispatch turn
/// (the worst case: no turn carries two events), then the stack settled.
async fn messages(stack: &Stack, t: &pagedesk_e2e::Tenant, n: u64) {
    let user = format!("7{}", unique());
    for i in 0..n {
        stack
            .post_webhook(&post(&t.page_id, &user, &format!("webhook bench {i}")))
            .await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    stack.settled().await;
}

/// The local host's own calls (polling, idle checks), not the functions'.
fn host_call(k: &str) -> bool {
    k == EMPTY_POLL
        || k.starts_with("sqs:ReceiveMessage")
        || k.starts_with("sqs:DeleteMessage")
        || k.starts_with("sqs:GetQueueAttributes")
}

pub async fn webhooks(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let n = 10u64;
    // Without a webhook: the router's own cost, and what the stream handler adds (nothing
    // queued for an account without webhooks).
    let plain = stack.tenant().await;
    messages(stack, &plain, 1).await;
    drained(stack, clients).await;
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    messages(stack, &plain, n).await;
    let base = counts(stack).await;
    let cap_base = capacity(stack).await;

    let t = stack.tenant().await;
    let path = format!("bench-{}", unique());
    let (s, v) = stack
        .api(
            "POST",
            "/webhooks",
            Some(&stack.admin(&t.account)),
            Some(json!({"url": format!("{}/_bot/{path}", stack.s("sim_url")), "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    messages(stack, &t, 1).await;
    drained(stack, clients).await;
    let warm = accepted(stack, &path).await;
    let with_before = counts(stack).await;
    let cap_with_before = capacity(stack).await;
    messages(stack, &t, n).await;
    let with_after = counts(stack).await;
    let cap_with_after = capacity(stack).await;
    let deliveries = (accepted(stack, &path).await - warm) as u64;
    assert!(
        deliveries >= n,
        "every message delivered: {deliveries} of {n}"
    );

    println!("aws  requests per person's message, no webhook in the account ({n}):");
    print_capacity(&cap_before, &cap_base, n);
    print_requests_where(&before, &base, n, |k| !host_call(k));
    println!(
        "aws  requests per person's message, one webhook taking every event ({n} messages, {deliveries} deliveries):"
    );
    print_capacity(&cap_with_before, &cap_with_after, n);
    print_requests_where(&with_before, &with_after, n, |k| !host_call(k));
    // The difference per delivery (a new conversation's first message also brings its
    // `conversation.created` and routing events; here one conversation takes all).
    let diff = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, k: &str| {
        b.get(k).copied().unwrap_or(0) as f64 - a.get(k).copied().unwrap_or(0) as f64
    };
    // Receives, deletes and queue attributes are the local host's polling and idle checks,
    // not the functions' calls: Lambda's poller adds one receive and one delete per record.
    println!(
        "aws  what one delivery adds (with minus without, per delivery; plus Lambda's receive and delete of each queued record):"
    );
    for k in with_after.keys() {
        if host_call(k) {
            continue;
        }
        let d = diff(&with_before, &with_after, k) - diff(&before, &base, k);
        if d.abs() >= 0.01 * deliveries as f64 {
            println!("       {k:<40} {:.2}", d / deliveries as f64);
        }
    }
    let units = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, k: &str| {
        b.get(k).copied().unwrap_or(0.0) - a.get(k).copied().unwrap_or(0.0)
    };
    for kind in ["write", "read"] {
        let k = format!("{kind}:total");
        if cap_with_after.contains_key(&k) {
            let d =
                units(&cap_with_before, &cap_with_after, &k) - units(&cap_before, &cap_base, &k);
            println!(
                "       dynamodb {kind} units {:>6.2}",
                d / deliveries as f64
            );
        }
    }
}
