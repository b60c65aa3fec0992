//! What an agent's tools cost (issue 27): a note, a label change, a contact search, the label
//! counts, a snooze and the person's message that ends it.

use super::*;

/// The body of the `i`-th request of a case.
type BodyOf = Box<dyn Fn(u64) -> Value>;

pub async fn workday(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let user = format!("7{}", unique());
    stack
        .post_webhook(&post(&t.page_id, &user, "warm-up"))
        .await;
    let conv = stack.single_conversation(&t, 1).await.0;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    drained(stack, clients).await;
    let n = 20u64;
    let cases: [(&str, &str, BodyOf); 2] = [
        (
            "POST /conversations/{id}/notes",
            "notes",
            Box::new(|i| json!({"text": format!("note {i} for @nobody")})),
        ),
        (
            "PUT /conversations/{id}/labels (two labels)",
            "labels",
            Box::new(|i| json!({"labels": ["vip", format!("l{}", i % 3)]})),
        ),
    ];
    for (what, path, body) in &cases {
        let method = if *path == "notes" { "POST" } else { "PUT" };
        let before = counts(stack).await;
        let cap_before = capacity(stack).await;
        for i in 0..n {
            let (s, v) = stack
                .api(
                    method,
                    &format!("/conversations/{id}/{path}"),
                    Some(&admin),
                    Some(body(i)),
                )
                .await;
            assert!(s == 200 || s == 201, "{what}: {s} {v}");
        }
        let after = counts(stack).await;
        let cap_after = capacity(stack).await;
        println!("aws  requests per {what} ({n}):");
        print_capacity(&cap_before, &cap_after, n);
        print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    }
    let name = conv["contact"]["name"]
        .as_str()
        .unwrap_or("Test Person")
        .to_owned();
    let word = name.split_whitespace().next().unwrap_or("Test").to_owned();
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for _ in 0..n {
        let (s, v) = stack
            .api("GET", &format!("/contacts?q={word}"), Some(&admin), None)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per GET /contacts?q=<a name word> by an admin ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for _ in 0..n {
        let (s, v) = stack.api("GET", "/labels", Some(&admin), None).await;
        assert_eq!(s, 200, "{v}");
    }
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per GET /labels, one labelled open conversation in the account ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    snooze(stack, &t, &admin, &user, &id, n).await;
}

/// A snooze, then the person's message into the open conversation beside the same message
/// into a snoozed one (the difference is what waking it costs: one failed conditional write,
/// one read, one transaction).
async fn snooze(
    stack: &Stack,
    t: &pagedesk_e2e::Tenant,
    admin: &str,
    user: &str,
    id: &str,
    n: u64,
) {
    let path = format!("/conversations/{id}/snooze");
    let snooze = || async {
        let until = chrono_ms() + 3_600_000;
        let until = chrono::DateTime::from_timestamp_millis(until)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        let (s, v) = stack
            .api("POST", &path, Some(admin), Some(json!({"until": until})))
            .await;
        assert_eq!(s, 200, "snooze: {v}");
    };
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for _ in 0..n {
        snooze().await;
    }
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per POST /conversations/{{id}}/snooze ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    let (s, v) = stack.api("DELETE", &path, Some(admin), None).await;
    assert_eq!(s, 200, "wake: {v}");
    stack.settled().await;
    for snoozed in [false, true] {
        let (mut before, mut cap_before) = (BTreeMap::new(), BTreeMap::new());
        let mut total: BTreeMap<String, u64> = BTreeMap::new();
        let mut cap_total: BTreeMap<String, f64> = BTreeMap::new();
        for _ in 0..n {
            if snoozed {
                snooze().await;
            }
            before.clone_from(&counts(stack).await);
            cap_before.clone_from(&capacity(stack).await);
            stack
                .post_webhook(&post(&t.page_id, user, "and now?"))
                .await;
            stack.settled().await;
            // Only the message's own requests count (not the snooze before it).
            for (k, v) in counts(stack).await {
                *total.entry(k.clone()).or_default() +=
                    v.saturating_sub(before.get(&k).copied().unwrap_or(0));
            }
            for (k, v) in capacity(stack).await {
                *cap_total.entry(k.clone()).or_default() +=
                    v - cap_before.get(&k).copied().unwrap_or(0.0);
            }
        }
        let what = if snoozed { "a snoozed" } else { "an open" };
        println!("aws  requests per person's message into {what} conversation ({n}):");
        print_capacity(&BTreeMap::new(), &cap_total, n);
        print_requests_where(&BTreeMap::new(), &total, n, |k| k.starts_with("dynamodb"));
    }
}
