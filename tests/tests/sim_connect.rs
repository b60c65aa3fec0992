//! The Meta simulator's side of connecting Pages (groundwork for issue 9): Facebook users with
//! Pages, Login's code and token exchanges, `/me/accounts` paging, permissions, `/debug_token`,
//! subscriptions, revoked tokens and the Conversations API, all over HTTP as Meta answers them.

use pagedesk_e2e::{Stack, unique};
use serde_json::{Value, json};

async fn graph(stack: &Stack, method: &str, path_and_query: &str) -> (u16, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}/v25.0{path_and_query}", stack.s("sim_url"))
    };
    let res = stack
        .http
        .request(method.parse().expect("method"), url)
        .send()
        .await
        .expect("sim reachable");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_facebook_user_logs_in_lists_pages_and_a_page_is_subscribed_revoked_and_read() {
    let stack = Stack::connect();
    let n = unique();
    let pages: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("8{n}{i:02}"), "name": format!("Page {i}")}))
        .collect();
    let user = stack
        .sim("POST", "/_sim/fb-users", Some(json!({"id": format!("u{n}"), "name": "Ada Admin", "pages": pages, "declined": ["leads_retrieval"]})))
        .await;
    let code = user["code"].as_str().expect("code");

    // Login's code for a token, once; then a long-lived token.
    let (s, short) = graph(
        &stack,
        "GET",
        &format!(
            "/oauth/access_token?client_id=1&client_secret=x&redirect_uri=https://h/cb&code={code}"
        ),
    )
    .await;
    assert_eq!(s, 200, "{short}");
    let (s, again) = graph(
        &stack,
        "GET",
        &format!(
            "/oauth/access_token?client_id=1&client_secret=x&redirect_uri=https://h/cb&code={code}"
        ),
    )
    .await;
    assert_eq!(
        (s, again["error"]["code"].as_i64()),
        (400, Some(100)),
        "a code works once"
    );
    let short = short["access_token"].as_str().expect("token");
    let (s, long) = graph(&stack, "GET", &format!("/oauth/access_token?grant_type=fb_exchange_token&client_id=1&client_secret=x&fb_exchange_token={short}")).await;
    assert_eq!(
        (s, long["expires_in"].as_i64()),
        (200, Some(5_183_944)),
        "{long}"
    );
    let long = long["access_token"]
        .as_str()
        .expect("long token")
        .to_owned();

    // Every Page, 25 at a time, following `next`.
    let mut listed = Vec::new();
    let mut url = format!("/me/accounts?access_token={long}");
    loop {
        let (s, v) = graph(&stack, "GET", &url).await;
        assert_eq!(s, 200, "{v}");
        listed.extend(v["data"].as_array().cloned().unwrap_or_default());
        match v["paging"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(listed.len(), 30);
    let page = listed[0]["id"].as_str().expect("page id").to_owned();
    let page_token = listed[0]["access_token"]
        .as_str()
        .expect("page token")
        .to_owned();

    let (_, perms) = graph(
        &stack,
        "GET",
        &format!("/me/permissions?access_token={long}"),
    )
    .await;
    let declined: Vec<&str> = perms["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["status"] == "declined")
        .filter_map(|p| p["permission"].as_str())
        .collect();
    assert_eq!(declined, ["leads_retrieval"]);
    let (_, me) = graph(&stack, "GET", &format!("/me?access_token={page_token}")).await;
    assert_eq!(me["id"], page.as_str(), "a Page token answers the Page");
    let (_, me) = graph(&stack, "GET", "/me?access_token=junk").await;
    assert_eq!(
        me["error"]["code"], 190,
        "tokens the simulator did not mint are unknown"
    );

    // Subscription: none, made, lost.
    let subs = |t: &str| format!("/{page}/subscribed_apps?access_token={t}");
    let (_, v) = graph(&stack, "GET", &subs(&page_token)).await;
    assert_eq!(v["data"], json!([]));
    let (s, v) = graph(
        &stack,
        "POST",
        &format!(
            "{}&subscribed_fields=messages,message_echoes,feed",
            subs(&page_token)
        ),
    )
    .await;
    assert_eq!((s, v["success"].as_bool()), (200, Some(true)));
    let (_, v) = graph(&stack, "GET", &subs(&page_token)).await;
    assert_eq!(
        v["data"][0]["subscribed_fields"],
        json!(["messages", "message_echoes", "feed"])
    );
    let (_, v) = graph(&stack, "GET", &subs(&long)).await;
    assert_eq!(v["error"]["code"], 190, "a user token is not the Page's");
    stack
        .sim("DELETE", &format!("/_sim/pages/{page}/subscription"), None)
        .await;
    let (_, v) = graph(&stack, "GET", &subs(&page_token)).await;
    assert_eq!(v["data"], json!([]));

    // Old conversations through the Conversations API: the 20 most recent messages.
    let msgs: Vec<Value> = (0..25)
        .map(|i| json!({"from": if i % 2 == 0 { "user" } else { "page" }, "text": format!("old {i}"), "created_time": format!("2026-11-20T10:{i:02}:00+0000")}))
        .collect();
    stack
        .sim(
            "POST",
            &format!("/_sim/pages/{page}/history"),
            Some(json!({"psid": format!("7{n}"), "messages": msgs})),
        )
        .await;
    let (_, convs) = graph(
        &stack,
        "GET",
        &format!("/{page}/conversations?platform=messenger&access_token={page_token}"),
    )
    .await;
    let thread = convs["data"][0]["id"].as_str().expect("thread").to_owned();
    let (_, m) = graph(
        &stack,
        "GET",
        &format!("/{thread}/messages?access_token={page_token}"),
    )
    .await;
    let m = m["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(m.len(), 20);
    assert_eq!(m[0]["message"], "old 24", "newest first");
    assert_eq!(m[0]["from"]["id"], format!("7{n}").as_str());

    // Health: debug_token sees the token, then its death; Graph answers 190 everywhere.
    let app = "1|sim-app-token";
    let (_, d) = graph(
        &stack,
        "GET",
        &format!("/debug_token?input_token={page_token}&access_token={app}"),
    )
    .await;
    assert_eq!(
        (d["data"]["is_valid"].as_bool(), d["data"]["type"].as_str()),
        (Some(true), Some("PAGE")),
        "{d}"
    );
    stack
        .sim("POST", &format!("/_sim/pages/{page}/revoke"), None)
        .await;
    let (_, d) = graph(
        &stack,
        "GET",
        &format!("/debug_token?input_token={page_token}&access_token={app}"),
    )
    .await;
    assert_eq!(d["data"]["is_valid"], false);
    let (s, v) = graph(
        &stack,
        "POST",
        &format!("/{page}/messages?access_token={page_token}"),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_i64()), (400, Some(190)), "{v}");
}
