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
