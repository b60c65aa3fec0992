//! What every Page its own inbox costs (issue 30): an inbound message on a Page with settings
//! of its own, and the agent API's reads for an agent limited to some Pages beside one who
//! works every Page.

use super::*;

pub async fn page_inbox(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{}/settings", t.page_id),
            Some(&admin),
            // No greeting: the warm-up's automatic message would still be going out while the
            // steady messages are measured.
            Some(json!({"time_zone": "Europe/Berlin", "csat_enabled": true, "human_agent_enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let user = format!("7{}", unique());
    stack
        .post_webhook(&post(&t.page_id, &user, "warm-up"))
        .await;
    let conv = stack.single_conversation(&t, 1).await.0;
    let conv_id = conv["id"].as_str().unwrap_or_default().to_owned();
    drained(stack, clients).await;
    let n = 20u64;
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for i in 0..n {
        let (s, _) = stack
            .post_webhook(&post(&t.page_id, &user, &format!("steady {i}")))
            .await;
        assert_eq!(s, 200);
    }
    drained(stack, clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!(
        "aws  requests per inbound text message on a Page with settings of its own, steady state ({n}):"
    );
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));

    let (s, v) = stack
        .api(
            "PUT",
            "/agents/one-page",
            Some(&admin),
            Some(json!({"pages": [t.page_id]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    for (who, id) in [("every Page", "every-page"), ("one Page", "one-page")] {
        let tok = stack.token(&t.account, id, pagedesk_shared::adapters::auth::Role::Agent);
        let before = counts(stack).await;
        let cap_before = capacity(stack).await;
        for _ in 0..n {
            for path in [
                "/conversations?limit=25".to_owned(),
                format!("/conversations/{conv_id}"),
            ] {
                let (s, v) = stack.api("GET", &path, Some(&tok), None).await;
                assert_eq!(s, 200, "{path}: {v}");
            }
        }
        let after = counts(stack).await;
        let cap_after = capacity(stack).await;
        println!(
            "aws  requests per GET /conversations + GET /conversations/{{id}} by an agent with {who} ({n}):"
        );
        print_capacity(&cap_before, &cap_after, n);
        print_requests_where(&before, &after, n, |k| k.starts_with("dynamodb"));
    }
}

/// One reconciliation run (what a Page costs per `PAGEDESK_RECONCILE_SECONDS`, an hour by
/// default) over a Page whose `people` conversations were updated in the period, one message
/// of which never had its webhook: the scheduler's start (metered in this process), then the
/// router's steps on the local stack, and the Graph calls they made.
pub async fn reconciliation(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let t = stack.tenant().await;
    let people = 10;
    for i in 0..people {
        let psid = format!("4{:014}", unique());
        // The last person's message reaches the Page's history but not pagedesk.
        let drop = i == people - 1;
        let v = stack
            .sim(
                "POST",
                "/_sim/messages",
                Some(json!({"page_id": t.page_id, "psid": psid, "text": "hello", "drop_webhook": drop})),
            )
            .await;
        assert!(v["mid"].is_string(), "{v}");
    }
    stack.settled().await;
    let store = pagedesk_shared::store::Store::new(clients.dynamo(), stack.s("table"));
    let page = store
        .get_page(&t.page_id)
        .await
        .ok()
        .flatten()
        .expect("the bench's Page");
    let reconcile = pagedesk_scheduler::reconcile::Reconcile {
        sqs: clients.sqs(),
        queue_url: stack.queue_url("InboundQueue"),
        // Due at once: the run covers the period back from now.
        period_ms: 1,
    };
    let graph_before = graph_requests(stack).await;
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    let start_before = super::meter();
    reconcile.maybe_start(&store, &page, chrono_ms()).await;
    let start_after = super::meter();
    let done = pagedesk_e2e::eventually("the reconciliation done", 60, || async {
        let p = store.get_page(&t.page_id).await.ok().flatten()?;
        p.reconcile
            .filter(|r| r.status == "done")
            .map(|_| p.reconciled_messages)
    })
    .await;
    assert_eq!(done, 1, "the missed message, once");
    drained(stack, clients).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    let graph: Vec<String> = graph_requests(stack).await[graph_before.len()..]
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!(
        "aws  one reconciliation of a Page ({people} conversations updated in the period, 1 message without a webhook), per Page per PAGEDESK_RECONCILE_SECONDS:"
    );
    println!("       the scheduler's start (besides the health check it rides on):");
    print_capacity(&start_before.1, &start_after.1, 1);
    print_requests(&start_before.0, &start_after.0, 1);
    println!("       the router's steps:");
    print_capacity(&cap_before, &cap_after, 1);
    print_requests_where(&before, &after, 1, |k| {
        !k.starts_with("poll:") && !k.starts_with("sqs:ReceiveMessage")
    });
    println!(
        "       graph calls: {} ({} Conversations API list, {} thread reads)",
        graph.len(),
        graph
            .iter()
            .filter(|g| g.ends_with("/conversations"))
            .count(),
        graph
            .iter()
            .filter(|g| !g.ends_with("/conversations"))
            .count(),
    );
}

/// What the simulator has recorded of Graph calls so far.
async fn graph_requests(stack: &Stack) -> Vec<Value> {
    match stack.sim("GET", "/_sim/requests", None).await {
        Value::Array(a) => a,
        other => panic!("the simulator's request log: {other}"),
    }
}
