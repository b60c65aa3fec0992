//! What an Instagram Direct message costs beside a Messenger one (issue 28): the same number of
//! a person's messages into one open conversation of each channel.

use super::*;

/// Sends `n` messages of one person through `send` and waits until the stack has handled them.
async fn metered(
    stack: &Stack,
    clients: &pagedesk_shared::adapters::aws::Clients,
    what: &str,
    n: u64,
    send: impl AsyncFn(u64),
) {
    let before = counts(stack).await;
    let cap_before = capacity(stack).await;
    for i in 0..n {
        send(i).await;
    }
    stack.settled().await;
    drained(stack, clients).await;
    let after = counts(stack).await;
    let cap_after = capacity(stack).await;
    println!("aws  requests per {what} ({n}):");
    print_capacity(&cap_before, &cap_after, n);
    print_requests_where(&before, &after, n, |k| {
        !k.starts_with("sqs:ReceiveMessage")
            && !k.starts_with("sqs:DeleteMessage")
            && !k.starts_with("sqs:GetQueueAttributes")
            && k != EMPTY_POLL
    });
}

pub async fn instagram(stack: &Stack, clients: &pagedesk_shared::adapters::aws::Clients) {
    let n = 20u64;
    let run = unique();
    let page_id = format!("9{run:014}");
    let ig_id = format!("178414{run:011}");
    let login = stack
        .sim(
            "POST",
            "/_sim/fb-users",
            Some(json!({"id": format!("7{run:014}"), "name": "Owner", "pages": [
                {"id": page_id, "name": "Shop", "instagram_business_account": {"id": ig_id, "username": "shop"}}]})),
        )
        .await;
    let account = format!("acct-bench-ig-{run}");
    let (s, v) = stack
        .api(
            "POST",
            "/pages/connect",
            Some(&stack.admin(&account)),
            Some(json!({"user_access_token": login["user_access_token"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let psid = format!("5{:014}", unique());
    let igsid = format!("3{:014}", unique());
    // Warm-up: each person's contact and open conversation exist before measuring.
    let messenger = |i: u64| {
        let body = json!({"page_id": page_id, "psid": psid, "text": format!("messenger {i}")});
        async move {
            stack.sim("POST", "/_sim/messages", Some(body)).await;
        }
    };
    let instagram = |i: u64| {
        let body = json!({"ig_id": ig_id, "igsid": igsid, "text": format!("instagram {i}")});
        async move {
            stack
                .sim("POST", "/_sim/instagram/messages", Some(body))
                .await;
        }
    };
    messenger(1000).await;
    instagram(1000).await;
    stack.settled().await;
    drained(stack, clients).await;
    metered(
        stack,
        clients,
        "person's Messenger message into an open conversation",
        n,
        async |i| messenger(i).await,
    )
    .await;
    metered(
        stack,
        clients,
        "person's Instagram Direct message into an open conversation",
        n,
        async |i| instagram(i).await,
    )
    .await;
}
