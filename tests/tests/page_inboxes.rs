//! Every Page its own inbox: a Page's settings over its account's, through the local stack.

use pagedesk_e2e::{Stack, Tenant, eventually, now_ms, text_event, unique};
use pagedesk_shared::access::Role;
use serde_json::{Value, json};

async fn put(stack: &Stack, tok: &str, path: &str, body: Value) -> Value {
    let (status, v) = stack.api("PUT", path, Some(tok), Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {v}");
    v
}

/// The messages of `user`'s conversation on `page` once `done` holds for them.
async fn messages_of(
    stack: &Stack,
    t: &Tenant,
    page: &str,
    user: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> (String, Vec<Value>) {
    stack
        .messages_when(&t.account, page, user, what, 20, done)
        .await
}

/// The texts of the automatic messages sent.
fn sent_system(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|m| m["author"]["type"] == "system" && m["status"] == "sent")
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

async fn bot_deliveries(stack: &Stack, hook: &str) -> Vec<Value> {
    let all = stack.sim("GET", "/_sim/requests", None).await;
    all.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(hook)))
        .collect()
}

#[tokio::test]
async fn each_page_greets_routes_and_surveys_by_its_own_settings() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let (a, b) = (t.page_id.clone(), stack.another_page(&t, "Page B").await);
    let admin = stack.admin(&t.account);
    // The account: closed all week, its own greeting and away message, no survey.
    put(&stack, &admin, "/settings", json!({"greeting": "Hello from the account", "away_message": "We are away", "business_hours": {}, "csat_enabled": false})).await;
    // Page A: a German greeting and an AI agent of its own (its key made and shown once).
    let hook = format!("/_bot/{}-a", t.account);
    let v = put(&stack, &admin, &format!("/pages/{a}/settings"), json!({"greeting": "Hallo von A", "time_zone": "Europe/Berlin", "ai_agent": {"url": format!("{}{hook}", stack.s("sim_url"))}})).await;
    assert_eq!(v["page_id"], a.as_str());
    let secret = v["overrides"]["ai_agent"]["secret"]
        .as_str()
        .map(str::to_owned);
    assert!(secret.is_some_and(|s| s.len() >= 16), "{v}");
    let mut keys: Vec<&str> = v["overrides"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(keys, ["ai_agent", "greeting", "time_zone"], "{v}");
    assert_eq!(
        (
            v["effective"]["greeting"].as_str(),
            v["effective"]["away_message"].as_str(),
            v["effective"]["csat_enabled"].as_bool()
        ),
        (Some("Hallo von A"), Some("We are away"), Some(false)),
        "{v}"
    );
    // Page B: another greeting, always open (null keeps its meaning), the survey on, and its
    // own people for what no rule takes.
    put(
        &stack,
        &admin,
        "/agents/b-desk",
        json!({"status": "online"}),
    )
    .await;
    put(
        &stack,
        &admin,
        &format!("/pages/{b}/settings"),
        json!({"greeting": "Hi from B", "business_hours": null, "csat_enabled": true,
            "fallback": {"agents": ["b-desk"], "method": "round_robin"}}),
    )
    .await;
    let v = stack.get(&format!("/pages/{a}/settings"), &admin).await;
    assert!(
        v["overrides"]["ai_agent"].get("secret").is_none(),
        "the key is shown once: {v}"
    );
    assert_eq!(v["overrides"]["ai_agent"]["secret_set"], true, "{v}");
    assert_eq!(
        stack.get("/settings", &admin).await["greeting"],
        "Hello from the account"
    );

    // A: its greeting, and its AI agent has the conversation (so no away message).
    stack
        .deliver(&a, vec![text_event(&a, "anna", "Hallo?", now_ms())])
        .await;
    let (a_conv, items) = messages_of(&stack, &t, &a, "anna", "A's greeting", |m| {
        !sent_system(m).is_empty()
    })
    .await;
    assert_eq!(sent_system(&items), ["Hallo von A"]);
    let delivered = eventually("the delivery to A's AI agent", 20, || async {
        let d = bot_deliveries(&stack, &hook).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(delivered[0]["body"]["conversation"]["id"], a_conv.as_str());
    // B: its greeting, open (no away message), no AI agent.
    stack
        .deliver(&b, vec![text_event(&b, "ben", "hello?", now_ms())])
        .await;
    let (b_conv, items) = messages_of(&stack, &t, &b, "ben", "B's greeting", |m| {
        !sent_system(m).is_empty()
    })
    .await;
    stack.settled().await;
    let (_, items_now) = messages_of(&stack, &t, &b, "ben", "B settled", |_| true).await;
    assert_eq!(sent_system(&items_now), ["Hi from B"], "{items:?}");
    let c = stack.get(&format!("/conversations/{b_conv}"), &admin).await;
    assert_eq!(c["ai_agent_active"], false, "{c}");
    assert_eq!(
        (c["assignee"].as_str(), c["routing_rule"].as_str()),
        (Some("b-desk"), Some("fallback")),
        "no rule matched: B's fallback: {c}"
    );
    assert_eq!(
        bot_deliveries(&stack, &hook).await.len(),
        delivered.len(),
        "B is not A's AI agent's"
    );

    // Resolving (A by someone who claims it, B by its fallback agent): the survey on B only.
    let helper = stack.token(&t.account, "page-agent", Role::Agent);
    let desk = stack.token(&t.account, "b-desk", Role::Agent);
    for (id, who, steps) in [
        (&a_conv, &helper, &["claim", "resolve"][..]),
        (&b_conv, &desk, &["resolve"][..]),
    ] {
        for step in steps {
            let (status, v) = stack
                .api(
                    "POST",
                    &format!("/conversations/{id}/{step}"),
                    Some(who),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{step} {id}: {v}");
        }
    }
    messages_of(&stack, &t, &b, "ben", "B's survey", |m| {
        sent_system(m).len() == 2
    })
    .await;
    stack.settled().await;
    let (_, items) = messages_of(&stack, &t, &a, "anna", "A settled", |_| true).await;
    assert_eq!(sent_system(&items), ["Hallo von A"], "no survey on A");

    // A gives its greeting and AI agent back: the next person gets the account's greeting, and
    // its away message (the account is closed; no AI agent now).
    let v = put(
        &stack,
        &admin,
        &format!("/pages/{a}/settings"),
        json!({"inherit": ["greeting", "ai_agent"]}),
    )
    .await;
    assert_eq!(v["overrides"].as_object().map(|o| o.len()), Some(1), "{v}");
    assert_eq!(v["effective"]["greeting"], "Hello from the account");
    assert!(v["effective"]["ai_agent"].is_null(), "{v}");
    stack
        .deliver(&a, vec![text_event(&a, "carl", "hi", now_ms())])
        .await;
    let (carl, items) = messages_of(
        &stack,
        &t,
        &a,
        "carl",
        "the account's greeting and away",
        |m| sent_system(m).len() == 2,
    )
    .await;
    assert_eq!(
        sent_system(&items),
        ["Hello from the account", "We are away"]
    );
    let c = stack.get(&format!("/conversations/{carl}"), &admin).await;
    assert!(c["assignee"].is_null(), "A has no fallback: the pool: {c}");
}

#[tokio::test]
async fn page_settings_are_checked_like_the_accounts_and_kept_to_its_pages() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let path = format!("/pages/{}/settings", t.page_id);
    let (status, v) = stack
        .api("PUT", &path, Some(&admin), Some(json!({"time_zone": "Mars/Olympus", "history_depth": 7, "colour": 1, "greeting": "x", "inherit": ["greeting", "nothing"]})))
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(
        v["error"]["problems"].as_array().map(Vec::len),
        Some(5),
        "every problem listed: {v}"
    );
    let v = stack.get(&path, &admin).await;
    assert_eq!(v["overrides"], json!({}), "nothing changed: {v}");
    // Agents may read the settings that apply to a Page; only admins change them.
    let agent = stack.token(&t.account, "reader", Role::Agent);
    let (status, _) = stack.api("GET", &path, Some(&agent), None).await;
    assert_eq!(status, 200);
    let (status, _) = stack
        .api("PUT", &path, Some(&agent), Some(json!({"greeting": "x"})))
        .await;
    assert_eq!(status, 403);
    // Another account's Page is not found.
    let other = stack.admin(&format!("acct-{}", unique()));
    for method in ["GET", "PUT"] {
        let (status, _) = stack
            .api(method, &path, Some(&other), Some(json!({"greeting": "x"})))
            .await;
        assert_eq!(status, 404, "{method}");
    }
}

/// The conversation of `user` on `page`, as an admin lists it, once it exists.
async fn conversation_on(stack: &Stack, t: &Tenant, page: &str, user: &str) -> Value {
    let admin = stack.admin(&t.account);
    let contact = format!("ct_{page}_{user}");
    eventually(&format!("the conversation of {user}"), 20, || async {
        stack
            .all_pages("/conversations?limit=100", &admin, "cursor")
            .await
            .into_iter()
            .find(|c| c["contact"]["id"] == contact.as_str() && !c["routing_rule"].is_null())
    })
    .await
}

#[tokio::test]
async fn an_agent_limited_to_one_page_sees_and_gets_nothing_of_another() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let (a, b) = (t.page_id.clone(), stack.another_page(&t, "Page B").await);
    let admin = stack.admin(&t.account);
    let (status, v) = stack
        .api(
            "PUT",
            "/agents/b-only",
            Some(&admin),
            Some(json!({"pages": ["123"]})),
        )
        .await;
    assert_eq!(status, 422, "not a Page of the account: {v}");
    let v = put(
        &stack,
        &admin,
        "/agents/b-only",
        json!({"status": "online", "pages": [b]}),
    )
    .await;
    assert_eq!(v["pages"], json!([b]), "{v}");
    // A rule of Page A alone comes first: its conversations go to A's pool.
    put(
        &stack,
        &admin,
        "/routing-rules",
        json!({"rules": [
            {"name": "a-pool", "match": {"pages": [a]}, "method": "claim", "labels": ["from-a"]},
            {"name": "all", "agents": ["b-only"], "method": "round_robin"},
        ]}),
    )
    .await;
    let ag = stack.get(&format!("/pages/{a}"), &admin).await;
    assert!(
        !ag["agents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == "b-only")),
        "{ag}"
    );

    stack
        .deliver(&a, vec![text_event(&a, "on-a", "hello A", now_ms())])
        .await;
    stack
        .deliver(&b, vec![text_event(&b, "on-b", "hello B", now_ms())])
        .await;
    let ca = conversation_on(&stack, &t, &a, "on-a").await;
    let cb = conversation_on(&stack, &t, &b, "on-b").await;
    assert!(
        ca["assignee"].is_null(),
        "routing never gives b-only A's conversation: {ca}"
    );
    assert_eq!(cb["assignee"], "b-only", "{cb}");
    let (a_id, b_id) = (
        ca["id"].as_str().unwrap_or_default(),
        cb["id"].as_str().unwrap_or_default(),
    );

    // Through every route, A's conversation does not exist for the agent.
    let me = stack.token(&t.account, "b-only", Role::Agent);
    let listed = stack
        .all_pages("/conversations?limit=100", &me, "cursor")
        .await;
    let ids: Vec<&str> = listed.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [b_id], "only B's");
    let filtered = stack
        .all_pages(
            &format!("/conversations?limit=100&page_id={a}"),
            &me,
            "cursor",
        )
        .await;
    assert!(filtered.is_empty(), "{filtered:?}");
    for (method, path, body) in [
        ("GET", format!("/conversations/{a_id}"), None),
        ("GET", format!("/conversations/{a_id}/messages"), None),
        (
            "POST",
            format!("/conversations/{a_id}/messages"),
            Some(json!({"text": "hi"})),
        ),
        ("POST", format!("/conversations/{a_id}/claim"), None),
        ("POST", format!("/conversations/{a_id}/resolve"), None),
        // A's greeting, hours, fallback agents and AI agent are A's business too.
        ("GET", format!("/pages/{a}/settings"), None),
        (
            "GET",
            format!(
                "/contacts/{}",
                ca["contact"]["id"].as_str().unwrap_or_default()
            ),
            None,
        ),
    ] {
        let (status, v) = stack.api(method, &path, Some(&me), body).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
    }
    let (status, _) = stack
        .api("GET", &format!("/pages/{b}/settings"), Some(&me), None)
        .await;
    assert_eq!(status, 200, "their own Page's settings");
    // Account-wide facts, as far as their Pages go: A's labelled conversation is not counted
    // for them, and A's rule is not shown.
    let count = |v: &Value, label: &str| {
        v["items"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["name"] == label))
            .map(|x| x["open_conversations"].clone())
    };
    assert_eq!(
        count(&stack.get("/labels", &admin).await, "from-a"),
        Some(json!(1))
    );
    assert_eq!(
        count(&stack.get("/labels", &me).await, "from-a"),
        Some(json!(0))
    );
    let rules = stack.get("/routing-rules", &me).await;
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["all"], "{rules}");
    let rules = stack.get("/routing-rules", &admin).await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(2), "{rules}");

    // Once the feed shows both conversations' events to an admin, the agent's feed has B's
    // and nothing of A.
    eventually("both conversations' events in the feed", 20, || async {
        let all = stack.all_pages("/events?limit=500", &admin, "after").await;
        (all.iter().any(|e| e["conversation_id"] == a_id)
            && all.iter().any(|e| e["conversation_id"] == b_id))
        .then_some(())
    })
    .await;
    let events = stack.all_pages("/events?limit=500", &me, "after").await;
    assert!(
        events.iter().any(|e| e["conversation_id"] == b_id),
        "B's events are there"
    );
    assert!(
        !events
            .iter()
            .any(|e| e["conversation_id"] == a_id || e["data"]["page_id"] == a.as_str()),
        "nothing of A in the feed"
    );
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{a_id}/assign"),
            Some(&admin),
            Some(json!({"agent_id": "b-only"})),
        )
        .await;
    assert_eq!(
        status, 422,
        "an admin cannot give it A's conversation either: {v}"
    );

    // Given A instead of B: B's open conversation goes back (the rule does not reassign).
    let v = put(&stack, &admin, "/agents/b-only", json!({"pages": [a]})).await;
    assert_eq!(v["open_conversations"], 0, "{v}");
    let cb = stack.get(&format!("/conversations/{b_id}"), &admin).await;
    assert!(cb["assignee"].is_null(), "{cb}");
    let (status, _) = stack
        .api("GET", &format!("/conversations/{b_id}"), Some(&me), None)
        .await;
    assert_eq!(status, 404, "B is out of reach at once");
    let (status, _) = stack
        .api("GET", &format!("/conversations/{a_id}"), Some(&me), None)
        .await;
    assert_eq!(status, 200);
    let ag = stack.get(&format!("/pages/{a}"), &admin).await;
    assert!(
        ag["agents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == "b-only")),
        "{ag}"
    );
}

#[tokio::test]
async fn a_page_shared_only_me_is_its_admins_alone_until_shared() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let a = t.page_id.clone();
    let admin = stack.admin(&t.account);
    put(
        &stack,
        &admin,
        "/agents/helper",
        json!({"status": "online"}),
    )
    .await;
    let team = json!({"name": "all", "agents": ["helper"], "method": "round_robin"});
    put(&stack, &admin, "/routing-rules", json!({"rules": [team]})).await;
    stack
        .deliver(&a, vec![text_event(&a, "early", "hello", now_ms())])
        .await;
    let before = conversation_on(&stack, &t, &a, "early").await;
    assert_eq!(before["assignee"], "helper", "{before}");
    let c1 = before["id"].as_str().unwrap_or_default().to_owned();

    // Only me: the helper's open conversation goes back to the pool and out of their reach.
    let v = put(
        &stack,
        &admin,
        &format!("/pages/{a}/sharing"),
        json!({"mode": "only_me"}),
    )
    .await;
    assert_eq!(
        v["sharing"],
        json!({"mode": "only_me", "admin": "admin-1"}),
        "{v}"
    );
    assert_eq!(v["moved"], 1, "{v}");
    assert_eq!(v["agents"], json!([]), "no agent may work it: {v}");
    let helper = stack.token(&t.account, "helper", Role::Agent);
    let (status, _) = stack
        .api("GET", &format!("/conversations/{c1}"), Some(&helper), None)
        .await;
    assert_eq!(status, 404);
    let listed = stack
        .all_pages("/conversations?limit=100", &helper, "cursor")
        .await;
    assert!(listed.is_empty(), "the helper lists nothing: {listed:?}");
    let c = stack.get(&format!("/conversations/{c1}"), &admin).await;
    assert!(c["assignee"].is_null(), "{c}");

    // With the owner rule replaced by one naming the helper, routing still never gives them
    // the Page.
    put(&stack, &admin, "/routing-rules", json!({"rules": [team]})).await;
    stack
        .deliver(&a, vec![text_event(&a, "later", "hi again", now_ms())])
        .await;
    let after = conversation_on(&stack, &t, &a, "later").await;
    assert_eq!(after["routing_rule"], "all", "{after}");
    assert!(after["assignee"].is_null(), "{after}");
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{c1}/assign"),
            Some(&admin),
            Some(json!({"agent_id": "helper"})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = stack
        .api(
            "PUT",
            &format!("/pages/{a}/sharing"),
            Some(&admin),
            Some(json!({"mode": "shared", "rule": "nope"})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(
        stack.get(&format!("/pages/{a}"), &admin).await["sharing"]["mode"],
        "only_me",
        "a refused change changes nothing"
    );

    // Shared again: the helper works the Page.
    let v = put(
        &stack,
        &admin,
        &format!("/pages/{a}/sharing"),
        json!({"mode": "shared", "rule": "all"}),
    )
    .await;
    assert_eq!(v["sharing"], json!({"mode": "shared"}), "{v}");
    assert_eq!(v["agents"], json!(["helper"]), "{v}");
    let (status, _) = stack
        .api("GET", &format!("/conversations/{c1}"), Some(&helper), None)
        .await;
    assert_eq!(status, 200);
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{c1}/assign"),
            Some(&admin),
            Some(json!({"agent_id": "helper"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
}
