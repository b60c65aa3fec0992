//! What an Instagram Direct message costs beside a Messenger one (issue 28): the same number of
//! a person's messages into one open conversation of each channel. And what the health check
//! of a Page with an Instagram account costs, as it is and when the account changed.

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
    comment_replies(stack, clients, &account, &ig_id).await;
    health_check(stack, &account, &page_id).await;
}

/// A public and a private reply to Instagram comments, each measured through the stack (the
/// agent API, the sender, Graph's answer): the private one is counted against Meta's hourly
/// quota first. Three of each, the test stacks' quota.
async fn comment_replies(
    stack: &Stack,
    clients: &pagedesk_shared::adapters::aws::Clients,
    account: &str,
    ig_id: &str,
) {
    let admin = stack.admin(account);
    let media = format!("1790{:011}", unique());
    let mut comments = Vec::new();
    for i in 0..6 {
        let igsid = format!("3{:014}", unique());
        let v = stack
            .sim(
                "POST",
                "/_sim/instagram/comments",
                Some(json!({"ig_id": ig_id, "igsid": igsid, "text": format!("price {i}?"), "media_id": media})),
            )
            .await;
        comments.push(v["mid"].as_str().expect("the comment id").to_owned());
    }
    // Idle: every comment is stored (one conversation for the media item).
    stack.settled().await;
    drained(stack, clients).await;
    let list = stack
        .get("/conversations?channel=instagram_comment", &admin)
        .await;
    let conv = list["items"][0]["id"]
        .as_str()
        .expect("the comment conversation")
        .to_owned();
    let reply = |comment: String, private: bool| {
        let (conv, admin) = (conv.clone(), admin.clone());
        async move {
            let (status, v) = stack
                .api(
                    "POST",
                    &format!("/conversations/{conv}/messages"),
                    Some(&admin),
                    Some(json!({"text": "Thanks, see your inbox.", "reply_to": comment, "private": private})),
                )
                .await;
            assert_eq!(status, 202, "{v}");
        }
    };
    let (public, private) = comments.split_at(3);
    metered(
        stack,
        clients,
        "public reply to an Instagram comment",
        3,
        async |i| reply(public[i as usize].clone(), false).await,
    )
    .await;
    metered(
        stack,
        clients,
        "private reply to an Instagram comment (counted against Meta's 750 an hour)",
        3,
        async |i| reply(private[i as usize].clone(), true).await,
    )
    .await;
}

/// One health check of the Page (in this process, metered): when nothing changed, then when
/// another Instagram account was linked to the Page.
async fn health_check(stack: &Stack, account: &str, page_id: &str) {
    use pagedesk_shared::runtime::config::{GraphConfig, SchedulerConfig};
    let secrets = &stack.info["secrets"];
    let secret = |k: &str| secrets[k].as_str().map(str::to_owned);
    let cfg = SchedulerConfig {
        table: stack.s("table"),
        app_id: Some(stack.s("app_id")),
        app_secret_id: secret("AppSecret"),
        graph: GraphConfig {
            base_url: stack.s("sim_url"),
            version: "v25.0".into(),
            timeout_ms: 5_000,
            app_secret_id: secret("AppSecret"),
        },
        page_check_seconds: 86_400,
        secret_cache_seconds: 300,
        inbound_queue_url: None,
        reconcile_seconds: 86_400,
        verify_token_id: secret("VerifyToken"),
    };
    let clients = stack.clients().await;
    let health = pagedesk_scheduler::Health::new(&cfg, &clients);
    let store = pagedesk_shared::store::Store::new(clients.dynamo(), stack.s("table"));
    // Warm: the secrets are read once per warm function, not per check.
    health.check(&store, account, page_id, chrono_ms()).await;
    for (what, change) in [
        ("nothing changed", None),
        (
            "another Instagram account linked to the Page",
            Some(json!({"id": format!("178416{:011}", unique()), "username": "shop.new"})),
        ),
    ] {
        if let Some(ig) = change {
            let res = stack
                .http
                .put(format!(
                    "{}/_sim/pages/{page_id}/instagram",
                    stack.s("sim_url")
                ))
                .json(&ig)
                .send()
                .await
                .expect("sim reachable");
            assert_eq!(res.status().as_u16(), 204);
        }
        let graph_before = stack.sim("GET", "/_sim/requests", None).await;
        let before = super::meter();
        health.check(&store, account, page_id, chrono_ms()).await;
        let after = super::meter();
        let graph_after = stack.sim("GET", "/_sim/requests", None).await;
        let calls: Vec<String> = graph_after
            .as_array()
            .map(|a| a[graph_before.as_array().map_or(0, Vec::len)..].to_vec())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let path = r["path"].as_str().unwrap_or("?");
                // The Page and app ids vary from run to run; the shape is what counts.
                let shape: Vec<&str> = path
                    .split('/')
                    .map(|seg| {
                        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
                            "{id}"
                        } else {
                            seg
                        }
                    })
                    .collect();
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap_or("?"),
                    shape.join("/")
                )
            })
            .collect();
        println!(
            "aws  one health check of a Page with an Instagram account ({what}), per Page per PAGEDESK_PAGE_CHECK_SECONDS (warm secrets: in production the Page's token is read once per check, its cache lasting 300 s):"
        );
        print_capacity(&before.1, &after.1, 1);
        print_requests(&before.0, &after.0, 1);
        println!("       graph calls: {} ({})", calls.len(), calls.join(", "));
    }
}
