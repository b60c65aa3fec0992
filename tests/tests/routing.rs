//! Issue 4 end to end: agents, routing rules, round robin and load balancing under concurrent
//! routers, claims, assign/resolve/reopen load counts, business hours across DST, greeting,
//! away message, CSAT round trip, and the AI agent's answer and hand-off.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use pagedesk_e2e::{Stack, Tenant, eventually, messaging_event, now_ms, text_event, unique};
use pagedesk_shared::adapters::auth::Role;
use serde_json::{Value, json};
use sha2::Sha256;

fn at(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("rfc3339")
        .timestamp_millis()
}

async fn put(stack: &Stack, tok: &str, path: &str, body: Value) -> Value {
    let (status, v) = stack.api("PUT", path, Some(tok), Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {v}");
    v
}

async fn agent(stack: &Stack, t: &Tenant, id: &str, status: &str, max: Option<i64>) {
    put(
        stack,
        &stack.admin(&t.account),
        &format!("/agents/{id}"),
        json!({"name": format!("Agent {id}"), "status": status, "max_concurrent": max}),
    )
    .await;
}

async fn rules(stack: &Stack, t: &Tenant, rules: Value) -> Value {
    put(
        stack,
        &stack.admin(&t.account),
        "/routing-rules",
        json!({"rules": rules}),
    )
    .await
}

/// All conversations of the tenant (up to 100 per page, every page).
async fn conversations(stack: &Stack, t: &Tenant, query: &str) -> Vec<Value> {
    let tok = stack.admin(&t.account);
    stack
        .all_pages(&format!("/conversations?limit=100{query}"), &tok, "cursor")
        .await
}

/// Waits until the tenant has `n` conversations for which `done` holds.
async fn wait_conversations(
    stack: &Stack,
    t: &Tenant,
    n: usize,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    eventually(what, 40, || async {
        let all = conversations(stack, t, "").await;
        (all.len() >= n && all.iter().all(&done)).then_some(all)
    })
    .await
}

async fn write(stack: &Stack, t: &Tenant, user: &str, text: &str, ts: i64) {
    stack
        .deliver(&t.page_id, vec![text_event(&t.page_id, user, text, ts)])
        .await;
}

/// The conversation of `user` once it exists and `check` holds.
async fn conversation_of(
    stack: &Stack,
    t: &Tenant,
    user: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let contact = format!("ct_{}_{}", t.page_id, user);
    eventually(&format!("{what} ({user})"), 20, || async {
        conversations(stack, t, "")
            .await
            .into_iter()
            .find(|c| c["contact"]["id"] == contact.as_str() && check(c))
    })
    .await
}

async fn agent_load(stack: &Stack, t: &Tenant, id: &str) -> i64 {
    let v = stack
        .get(&format!("/agents/{id}"), &stack.admin(&t.account))
        .await;
    v["open_conversations"].as_i64().unwrap_or(-1)
}

async fn events_of(stack: &Stack, t: &Tenant, kind: &str) -> Vec<Value> {
    let tok = stack.admin(&t.account);
    // Everything done, then the feed holds events back for SETTLE_MS before it shows them.
    stack.settled().await;
    let settle = pagedesk_shared::store::SETTLE_MS as u64 + 200;
    tokio::time::sleep(std::time::Duration::from_millis(settle)).await;
    let all = stack.all_pages("/events?limit=200", &tok, "after").await;
    all.into_iter().filter(|e| e["type"] == kind).collect()
}

async fn sim_requests(stack: &Stack, path_suffix: &str) -> Vec<Value> {
    let all = stack.sim("GET", "/_sim/requests", None).await;
    all.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
                // Message sends, not the "seen" an agent's reading sends.
                && r["body"]["sender_action"].is_null()
        })
        .collect()
}

/// Send API calls to one person.
async fn sends_to(stack: &Stack, t: &Tenant, user: &str) -> Vec<Value> {
    sim_requests(stack, &format!("/{}/messages", t.page_id))
        .await
        .into_iter()
        .filter(|r| r["body"]["recipient"]["id"] == user)
        .collect()
}

#[tokio::test]
async fn round_robin_is_even_across_two_concurrent_routers() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    for a in ["rr-a", "rr-b", "rr-c"] {
        agent(&stack, &t, a, "online", None).await;
    }
    rules(
        &stack,
        &t,
        json!([{"name": "everyone", "agents": ["rr-a", "rr-b", "rr-c"], "method": "round_robin"}]),
    )
    .await;
    // 100 people write at once, 10 per webhook call; the local host runs two router pollers,
    // as Lambda runs concurrent invocations for different message groups.
    let ts = now_ms();
    let calls = (0..10).map(|batch| {
        let items: Vec<Value> = (0..10)
            .map(|i| text_event(&t.page_id, &format!("rr{batch}x{i}"), "hello", ts))
            .collect();
        stack.deliver(&t.page_id, items)
    });
    futures::future::join_all(calls).await;
    let all = wait_conversations(&stack, &t, 100, "100 assigned conversations", |c| {
        c["assignee"].is_string()
    })
    .await;
    assert_eq!(all.len(), 100);
    let mut counts: HashMap<String, i64> = HashMap::new();
    for c in &all {
        *counts
            .entry(c["assignee"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    for a in ["rr-a", "rr-b", "rr-c"] {
        let n = counts.get(a).copied().unwrap_or(0);
        assert!(n == 33 || n == 34, "{a} got {n}: {counts:?}");
        assert_eq!(agent_load(&stack, &t, a).await, n, "load counter of {a}");
    }
    assert_eq!(counts.values().sum::<i64>(), 100);
}

#[tokio::test]
async fn load_balancing_respects_maximums_and_resolve_frees_a_place() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    for a in ["lb-a", "lb-b", "lb-c"] {
        agent(&stack, &t, a, "online", Some(2)).await;
    }
    rules(&stack, &t, json!([{"name": "balanced", "agents": ["lb-a", "lb-b", "lb-c"], "method": "load_balanced"}])).await;
    let ts = now_ms();
    let items: Vec<Value> = (0..10)
        .map(|i| text_event(&t.page_id, &format!("lb{i}"), "hi", ts))
        .collect();
    stack.deliver(&t.page_id, items).await;
    // Every conversation is routed (assigned, or left in the pool with the rule noted).
    let all = wait_conversations(&stack, &t, 10, "10 routed conversations", |c| {
        c["routing_rule"] == "balanced"
    })
    .await;
    let mut counts: HashMap<String, i64> = HashMap::new();
    for c in &all {
        if let Some(a) = c["assignee"].as_str() {
            *counts.entry(a.to_owned()).or_default() += 1;
        }
    }
    for a in ["lb-a", "lb-b", "lb-c"] {
        assert_eq!(
            counts.get(a).copied(),
            Some(2),
            "{a} is at its maximum, never above: {counts:?}"
        );
        assert_eq!(agent_load(&stack, &t, a).await, 2);
    }
    assert_eq!(
        all.iter().filter(|c| c["assignee"].is_null()).count(),
        4,
        "nobody available: unassigned"
    );
    // Resolving one of lb-b's frees a place: the next conversation goes to lb-b.
    let of_b = all.iter().find(|c| c["assignee"] == "lb-b").unwrap();
    let id = of_b["id"].as_str().unwrap();
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&stack.admin(&t.account)),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(agent_load(&stack, &t, "lb-b").await, 1);
    write(&stack, &t, "lb-next", "hello", now_ms()).await;
    let c = conversation_of(&stack, &t, "lb-next", "routed", |c| {
        c["routing_rule"] == "balanced"
    })
    .await;
    assert_eq!(c["assignee"], "lb-b");
    assert_eq!(agent_load(&stack, &t, "lb-b").await, 2);
}

#[tokio::test]
async fn ten_concurrent_claims_one_wins_and_loads_follow_assign_resolve_reopen() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    rules(&stack, &t, json!([{"name": "pool", "method": "claim"}])).await;
    write(&stack, &t, "claimer", "who will take this?", now_ms()).await;
    let c = conversation_of(&stack, &t, "claimer", "pooled", |c| {
        c["routing_rule"] == "pool"
    })
    .await;
    assert!(c["assignee"].is_null());
    let id = c["id"].as_str().unwrap().to_owned();
    let tokens: Vec<String> = (0..10)
        .map(|i| stack.token(&t.account, &format!("cl-{i}"), Role::Agent))
        .collect();
    let path = format!("/conversations/{id}/claim");
    let claims = tokens
        .iter()
        .map(|tok| stack.api("POST", &path, Some(tok), None));
    let results = futures::future::join_all(claims).await;
    let winners: Vec<&(u16, Value)> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let losers: Vec<&(u16, Value)> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(losers.len(), 9, "{results:?}");
    assert!(
        losers
            .iter()
            .all(|(_, v)| v["error"]["code"] == "already_assigned")
    );
    let winner = winners[0].1["assignee"].as_str().unwrap().to_owned();
    assert_eq!(agent_load(&stack, &t, &winner).await, 1);
    // Assign to someone else: the load moves with it.
    let admin = stack.admin(&t.account);
    agent(&stack, &t, "cl-other", "offline", None).await;
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/assign"),
            Some(&admin),
            Some(json!({"agent_id": "cl-other"})),
        )
        .await;
    assert_eq!(
        (status, v["assignee"].as_str()),
        (200, Some("cl-other")),
        "{v}"
    );
    assert_eq!(agent_load(&stack, &t, &winner).await, 0);
    assert_eq!(agent_load(&stack, &t, "cl-other").await, 1);
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/assign"),
            Some(&admin),
            Some(json!({"agent_id": "nobody-known"})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(agent_load(&stack, &t, "cl-other").await, 0);
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/claim"),
            Some(&tokens[0]),
            None,
        )
        .await;
    assert_eq!(status, 409, "a resolved conversation cannot be claimed");
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/reopen"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(agent_load(&stack, &t, "cl-other").await, 1);
    let claimed = events_of(&stack, &t, "conversation.claimed").await;
    assert_eq!(claimed.len(), 1, "one claim event: {claimed:?}");
    let assigned = events_of(&stack, &t, "conversation.assigned").await;
    assert!(
        assigned
            .iter()
            .any(|e| e["data"]["assignee"] == "cl-other" && e["data"]["by"] == "assign"),
        "{assigned:?}"
    );
}

#[tokio::test]
async fn rules_in_order_sources_offline_agents_dst_and_agent_removal() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put(
        &stack,
        &admin,
        "/settings",
        json!({"time_zone": "America/New_York", "business_hours": {
        "mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
        "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}}),
    )
    .await;
    agent(&stack, &t, "owner-1", "offline", None).await;
    agent(&stack, &t, "day-1", "online", None).await;
    agent(&stack, &t, "day-2", "online", None).await;
    rules(&stack, &t, json!([
        {"name": "elsewhere", "match": {"pages": ["123456"]}, "agents": ["day-1"], "method": "owner"},
        {"name": "leads", "match": {"channels": ["lead"]}, "agents": ["day-1"], "method": "owner"},
        {"name": "refunds", "match": {"keywords": ["refund"], "channels": ["messenger"], "pages": [t.page_id]}, "agents": ["owner-1"], "method": "owner"},
        {"name": "night", "match": {"business_hours": "outside"}, "method": "claim"},
        {"name": "day", "match": {"business_hours": "inside"}, "agents": ["day-1", "day-2"], "method": "round_robin", "on_agent_removed": "reassign"}
    ])).await;
    // 13:30 UTC on two Mondays: 08:30 EST before the clocks go forward (8 March 2026), 09:30
    // EDT after. Business hours are judged at the time the person wrote.
    write(
        &stack,
        &t,
        "before-dst",
        "hello",
        at("2026-03-02T13:30:00Z"),
    )
    .await;
    write(&stack, &t, "after-dst", "hello", at("2026-03-09T13:30:00Z")).await;
    let before = conversation_of(&stack, &t, "before-dst", "routed", |c| {
        c["routing_rule"].is_string()
    })
    .await;
    let after = conversation_of(&stack, &t, "after-dst", "routed", |c| {
        c["routing_rule"].is_string()
    })
    .await;
    assert_eq!(
        (before["routing_rule"].as_str(), before["assignee"].as_str()),
        (Some("night"), None)
    );
    assert_eq!(after["routing_rule"], "day");
    let day_agent = after["assignee"].as_str().unwrap().to_owned();
    assert!(day_agent.starts_with("day-"));
    // The first matching rule wins over later ones (this is inside hours too); its owner is
    // offline, so it stays unassigned, visibly.
    write(
        &stack,
        &t,
        "refund-1",
        "I need a REFUND",
        at("2026-03-09T14:00:00Z"),
    )
    .await;
    let r1 = conversation_of(&stack, &t, "refund-1", "routed", |c| {
        c["routing_rule"].is_string()
    })
    .await;
    assert_eq!(
        (r1["routing_rule"].as_str(), r1["assignee"].as_str()),
        (Some("refunds"), None)
    );
    put(
        &stack,
        &stack.token(&t.account, "owner-1", Role::Agent),
        "/agents/owner-1",
        json!({"status": "online"}),
    )
    .await;
    write(
        &stack,
        &t,
        "refund-2",
        "refund please",
        at("2026-03-09T14:00:00Z"),
    )
    .await;
    let r2 = conversation_of(&stack, &t, "refund-2", "routed", |c| {
        c["routing_rule"].is_string()
    })
    .await;
    assert_eq!(r2["assignee"], "owner-1");
    // An offline agent is skipped by round robin.
    put(
        &stack,
        &admin,
        "/agents/day-2",
        json!({"status": "offline"}),
    )
    .await;
    for i in 0..3 {
        write(
            &stack,
            &t,
            &format!("day-x{i}"),
            "hi",
            at("2026-03-10T15:00:00Z"),
        )
        .await;
        let c = conversation_of(&stack, &t, &format!("day-x{i}"), "routed", |c| {
            c["routing_rule"].is_string()
        })
        .await;
        assert_eq!(c["assignee"], "day-1", "day-2 is offline");
    }
    put(&stack, &admin, "/agents/day-2", json!({"status": "online"})).await;
    // day-1 leaves "day" (reassign): their open "day" conversations go to day-2.
    let day1_before = conversations(&stack, &t, "&assignee=day-1").await.len();
    assert!(day1_before >= 3);
    let v = rules(&stack, &t, json!([
        {"name": "refunds", "match": {"keywords": ["refund"]}, "agents": ["owner-1"], "method": "owner"},
        {"name": "night", "match": {"business_hours": "outside"}, "method": "claim"},
        {"name": "day", "match": {"business_hours": "inside"}, "agents": ["day-2"], "method": "round_robin", "on_agent_removed": "reassign"}
    ])).await;
    assert_eq!(
        v["moved"]["reassigned"].as_i64(),
        Some(day1_before as i64),
        "{v}"
    );
    assert!(
        conversations(&stack, &t, "&assignee=day-1")
            .await
            .is_empty()
    );
    assert_eq!(agent_load(&stack, &t, "day-1").await, 0);
    let day2 = conversations(&stack, &t, "&assignee=day-2").await.len() as i64;
    assert_eq!(agent_load(&stack, &t, "day-2").await, day2);
    // day-2 leaves with policy unassign: back to the pool.
    let v = rules(&stack, &t, json!([
        {"name": "day", "match": {"business_hours": "inside"}, "agents": ["day-1"], "method": "round_robin", "on_agent_removed": "unassign"}
    ])).await;
    // Also owner-1's conversation: "refunds" is gone (its policy was the default, unassign).
    assert_eq!(v["moved"]["unassigned"].as_i64(), Some(day2 + 1), "{v}");
    assert_eq!(agent_load(&stack, &t, "day-2").await, 0);
    assert!(
        conversations(&stack, &t, "&assignee=day-2")
            .await
            .is_empty()
    );
    // owner-1's conversation came from "refunds", which is gone now (default policy unassign).
    assert_eq!(agent_load(&stack, &t, "owner-1").await, 0);
}

#[tokio::test]
async fn agents_api_permissions_and_validation() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let me = stack.token(&t.account, "ag-me", Role::Agent);
    // An agent known only from their token starts offline and may go online themselves.
    let v = stack.get("/agents/ag-me", &me).await;
    assert_eq!(
        (v["status"].as_str(), v["open_conversations"].as_i64()),
        (Some("offline"), Some(0))
    );
    let v = put(&stack, &me, "/agents/ag-me", json!({"status": "online"})).await;
    assert_eq!(v["status"], "online");
    let (status, _) = stack
        .api(
            "PUT",
            "/agents/ag-me",
            Some(&me),
            Some(json!({"max_concurrent": 50})),
        )
        .await;
    assert_eq!(status, 403, "agents set their status only");
    let (status, _) = stack
        .api(
            "PUT",
            "/agents/ag-other",
            Some(&me),
            Some(json!({"status": "online"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = stack.api("GET", "/agents/ag-other", Some(&me), None).await;
    assert_eq!(status, 403);
    let (status, v) = stack
        .api(
            "PUT",
            "/agents/ag-me",
            Some(&admin),
            Some(json!({"status": "away", "max_concurrent": 0, "colour": 1})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        v["error"]["problems"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );
    let v = put(
        &stack,
        &admin,
        "/agents/ag-me",
        json!({"name": "Me", "max_concurrent": 5}),
    )
    .await;
    assert_eq!(
        (
            v["name"].as_str(),
            v["max_concurrent"].as_i64(),
            v["status"].as_str()
        ),
        (Some("Me"), Some(5), Some("online"))
    );
    let list = stack.get("/agents", &admin).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = stack.api("GET", "/agents", Some(&me), None).await;
    assert_eq!(status, 403);
    let (status, v) = stack
        .api(
            "PUT",
            "/routing-rules",
            Some(&admin),
            Some(json!({"rules": [{"name": "x", "method": "owner"}]})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, _) = stack
        .api(
            "PUT",
            "/routing-rules",
            Some(&me),
            Some(json!({"rules": []})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn greeting_once_away_once_and_not_right_after_an_agent_answered() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    // Never open: every message falls in one closed period.
    put(&stack, &admin, "/settings", json!({"greeting": "Hi! We got your message.", "away_message": "We are closed right now.", "business_hours": {}})).await;
    for text in ["first", "second", "third"] {
        write(&stack, &t, "guest", text, now_ms()).await;
    }
    let c = conversation_of(&stack, &t, "guest", "conversation", |_| true).await;
    let id = c["id"].as_str().unwrap();
    let msgs = stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "3 in, greeting and away sent",
            |v| {
                let items = v["items"].as_array().cloned().unwrap_or_default();
                items.iter().filter(|m| m["direction"] == "in").count() == 3
                    && items
                        .iter()
                        .filter(|m| m["author"]["type"] == "system" && m["status"] == "sent")
                        .count()
                        == 2
            },
        )
        .await;
    let items = msgs["items"].as_array().unwrap();
    let kinds: Vec<&str> = items
        .iter()
        .filter(|m| m["author"]["type"] == "system")
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["greeting", "away"], "{msgs}");
    stack.settled().await;
    let sends = sends_to(&stack, &t, "guest").await;
    assert_eq!(sends.len(), 2, "greeting and away, once each: {sends:?}");
    for s in &sends {
        assert_eq!(
            s["body"]["messaging_type"], "RESPONSE",
            "automatic messages are never tagged"
        );
        assert!(s["body"]["tag"].is_null());
    }
    // A second person, while the away message is off: an agent answers, then it is switched
    // on; the person writes again right after the agent's answer: no away message.
    put(
        &stack,
        &admin,
        "/settings",
        json!({"greeting": null, "away_message": null}),
    )
    .await;
    write(&stack, &t, "guest2", "hello", now_ms()).await;
    let c2 = conversation_of(&stack, &t, "guest2", "conversation", |_| true).await;
    let id2 = c2["id"].as_str().unwrap();
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id2}/messages"),
            Some(&admin),
            Some(json!({"text": "Here to help"})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    put(
        &stack,
        &admin,
        "/settings",
        json!({"away_message": "We are closed right now."}),
    )
    .await;
    write(&stack, &t, "guest2", "thanks", now_ms()).await;
    stack
        .wait_for(
            &format!("/conversations/{id2}/messages"),
            &admin,
            "two messages in",
            |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().filter(|m| m["direction"] == "in").count() == 2)
            },
        )
        .await;
    stack.settled().await;
    let msgs = stack
        .get(&format!("/conversations/{id2}/messages"), &admin)
        .await;
    assert!(
        msgs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["author"]["type"] != "system"),
        "no away message right after an agent answered: {msgs}"
    );
}

/// A person's clock-skewed message (Meta's timestamp ahead of ours) is the conversation's
/// newest: the greeting and the survey queued after it go in behind it, checked against the
/// conversation (`ConditionCheckItem`, in the router and the agent API) without moving it.
#[tokio::test]
async fn automatic_messages_go_in_behind_a_newer_message_without_moving_the_conversation() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put(
        &stack,
        &admin,
        "/settings",
        json!({"greeting": "Hello from us", "csat_enabled": true}),
    )
    .await;
    let ahead = now_ms() + 10 * 60_000;
    write(&stack, &t, "skewed", "from the future", ahead).await;
    let c = conversation_of(&stack, &t, "skewed", "conversation", |_| true).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let system_sent = |n: usize| {
        move |v: &Value| {
            v["items"].as_array().is_some_and(|a| {
                a.iter()
                    .filter(|m| m["author"]["type"] == "system" && m["status"] == "sent")
                    .count()
                    == n
            })
        }
    };
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "the greeting sent",
            system_sent(1),
        )
        .await;
    let helper = stack.token(&t.account, "skew-agent", Role::Agent);
    for step in ["claim", "resolve"] {
        let (status, v) = stack
            .api(
                "POST",
                &format!("/conversations/{id}/{step}"),
                Some(&helper),
                None,
            )
            .await;
        assert_eq!(status, 200, "{step}: {v}");
    }
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "the survey sent",
            system_sent(2),
        )
        .await;
    let c = stack.get(&format!("/conversations/{id}"), &admin).await;
    assert_eq!(c["last_message"]["text"], "from the future", "{c}");
    assert_eq!(
        c["last_message_at"],
        stack
            .get(&format!("/conversations/{id}/messages"), &admin)
            .await["items"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["direction"] == "in"))
            .map(|m| m["created_at"].clone())
            .unwrap_or_default(),
        "{c}"
    );
}

#[tokio::test]
async fn csat_round_trip_through_the_simulator_and_a_signed_quick_reply() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put(&stack, &admin, "/settings", json!({"csat_enabled": true})).await;
    write(&stack, &t, "rater", "my order is late", now_ms()).await;
    let c = conversation_of(&stack, &t, "rater", "conversation", |_| true).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let helper = stack.token(&t.account, "csat-agent", Role::Agent);
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/claim"),
            Some(&helper),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&helper),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // The survey goes out with quick replies 1–5.
    let survey = eventually("the survey", 15, || async {
        sends_to(&stack, &t, "rater")
            .await
            .into_iter()
            .find(|r| r["body"]["message"]["quick_replies"].is_array())
    })
    .await;
    let qr = survey["body"]["message"]["quick_replies"]
        .as_array()
        .unwrap();
    assert_eq!(
        qr.iter()
            .map(|q| q["title"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["1", "2", "3", "4", "5"]
    );
    assert_eq!(survey["body"]["messaging_type"], "RESPONSE");
    let payload = qr[3]["payload"].as_str().unwrap().to_owned();
    // The person taps "4": Meta sends the quick reply as a message (signed webhook).
    let tap = messaging_event(
        &t.page_id,
        "rater",
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "text": "4", "quick_reply": {"payload": payload}}}),
    );
    stack.deliver(&t.page_id, vec![tap]).await;
    let rated = stack
        .wait_for(
            &format!("/conversations/{id}"),
            &admin,
            "csat stored",
            |v| v["csat"]["score"] == 4,
        )
        .await;
    assert_eq!(rated["csat"]["agent_id"], "csat-agent");
    assert_eq!(rated["status"], "resolved");
    // A second tap (a different score) changes nothing and opens no conversation either.
    let again = messaging_event(
        &t.page_id,
        "rater",
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "text": "1", "quick_reply": {"payload": qr[0]["payload"]}}}),
    );
    stack.deliver(&t.page_id, vec![again]).await;
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "both taps kept with the survey",
            |v| {
                // The survey itself is kind csat too: count the person's taps.
                v["items"].as_array().is_some_and(|a| {
                    a.iter()
                        .filter(|m| m["kind"] == "csat" && m["direction"] == "in")
                        .count()
                        == 2
                })
            },
        )
        .await;
    assert_eq!(
        stack.get(&format!("/conversations/{id}"), &admin).await["csat"]["score"],
        4
    );
    // The answers did not open a new conversation.
    assert_eq!(conversations(&stack, &t, "").await.len(), 1);
    let report = stack.get("/reports/csat", &admin).await;
    assert_eq!(
        (report["responses"].as_i64(), report["average"].as_f64()),
        (Some(1), Some(4.0)),
        "{report}"
    );
    assert_eq!(report["distribution"]["4"], 1);
    assert_eq!(report["by_agent"][0]["agent_id"], "csat-agent");
    assert_eq!(report["by_page"][0]["page_id"], t.page_id.as_str());
    assert_eq!(report["by_day"].as_array().map(Vec::len), Some(1));
    let other = stack
        .get("/reports/csat?agent_id=someone-else", &admin)
        .await;
    assert_eq!(other["responses"], 0);
    assert_eq!(events_of(&stack, &t, "csat.received").await.len(), 1);
    // Outside the 24 h window no survey is sent.
    write(
        &stack,
        &t,
        "late-rater",
        "old message",
        now_ms() - 30 * 3_600_000,
    )
    .await;
    let c = conversation_of(&stack, &t, "late-rater", "conversation", |_| true).await;
    let id = c["id"].as_str().unwrap();
    stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    stack.settled().await;
    assert!(
        sends_to(&stack, &t, "late-rater").await.is_empty(),
        "no survey outside the window"
    );
    let msgs = stack
        .get(&format!("/conversations/{id}/messages"), &admin)
        .await;
    assert!(
        msgs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] != "csat")
    );
}

fn verify(secret: &str, req: &Value) -> bool {
    let ts = req["headers"]["x-pagedesk-timestamp"]
        .as_str()
        .unwrap_or_default();
    let sig = req["headers"]["x-pagedesk-signature"]
        .as_str()
        .unwrap_or_default();
    let body = serde_json::to_vec(&req["body"]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    sig == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_ai_agent_answers_and_hands_off_to_the_rules_people() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let hook = format!("/_bot/{}", t.account);
    let secret = "a-very-secret-signing-key";
    let v = put(
        &stack,
        &admin,
        "/settings",
        json!({"ai_agent": {"url": format!("{}{hook}", stack.s("sim_url")), "secret": secret}}),
    )
    .await;
    assert_eq!(v["ai_agent"]["secret_set"], true);
    assert!(
        v["ai_agent"].get("secret").is_none(),
        "the key is never shown back"
    );
    agent(&stack, &t, "human-1", "online", None).await;
    rules(&stack, &t, json!([{"name": "humans", "match": {"keywords": ["human"]}, "agents": ["human-1"], "method": "round_robin"}])).await;
    // The first delivery fails once (503): it is retried.
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": hook, "status": 503, "times": 1})),
        )
        .await;
    write(
        &stack,
        &t,
        "botuser",
        "what are your opening hours?",
        now_ms(),
    )
    .await;
    let c = conversation_of(&stack, &t, "botuser", "with the AI agent", |c| {
        c["ai_agent_active"] == true
    })
    .await;
    assert!(c["assignee"].is_null());
    let id = c["id"].as_str().unwrap().to_owned();
    let deliveries = eventually("the AI agent delivery and its retry", 15, || async {
        let d = sim_requests(&stack, &hook).await;
        (d.len() >= 2).then_some(d)
    })
    .await;
    assert_eq!(
        deliveries[0]["headers"]["x-pagedesk-delivery"],
        deliveries[1]["headers"]["x-pagedesk-delivery"],
        "a retry is the same delivery"
    );
    let first = &deliveries[1];
    assert!(verify(secret, first), "signature verifies: {first}");
    assert!(!verify("another-secret-key", first));
    assert_eq!(first["body"]["type"], "conversation.created");
    assert_eq!(first["body"]["conversation"]["id"], id.as_str());
    assert_eq!(
        first["body"]["message"]["text"],
        "what are your opening hours?"
    );
    // The bot answers through the agent API as author `bot`.
    let bot = stack.token(&t.account, "bot-1", Role::Bot);
    let (status, m) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/messages"),
            Some(&bot),
            Some(json!({"text": "We are open 9 to 5."})),
        )
        .await;
    assert_eq!(
        (status, m["author"]["type"].as_str()),
        (202, Some("bot")),
        "{m}"
    );
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "bot answer sent",
            |v| {
                v["items"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|m| m["author"]["type"] == "bot" && m["status"] == "sent")
                })
            },
        )
        .await;
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/claim"),
            Some(&bot),
            None,
        )
        .await;
    assert_eq!(status, 403, "the bot does not claim");
    // The person asks for a human; the bot hears it and hands off.
    write(&stack, &t, "botuser", "can I talk to a human?", now_ms()).await;
    eventually("the message delivered to the AI agent", 15, || async {
        sim_requests(&stack, &hook)
            .await
            .iter()
            .any(|r| r["body"]["type"] == "message.created")
            .then_some(())
    })
    .await;
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/handoff"),
            Some(&bot),
            Some(json!({"note": "asked for a person"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["assignee"].as_str(),
            v["ai_agent_active"].as_bool(),
            v["routing_rule"].as_str()
        ),
        (Some("human-1"), Some(false), Some("humans")),
        "{v}"
    );
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/messages"),
            Some(&bot),
            Some(json!({"text": "still me"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_with_ai_agent"))
    );
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/handoff"),
            Some(&bot),
            None,
        )
        .await;
    assert_eq!(status, 409);
    let before = sim_requests(&stack, &hook).await.len();
    write(&stack, &t, "botuser", "thanks", now_ms()).await;
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &admin,
            "third message",
            |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().filter(|m| m["direction"] == "in").count() == 3)
            },
        )
        .await;
    stack.settled().await;
    assert_eq!(
        sim_requests(&stack, &hook).await.len(),
        before,
        "after hand-off the bot hears nothing"
    );
    let handed = events_of(&stack, &t, "conversation.handed_off").await;
    assert_eq!(handed.len(), 1, "{handed:?}");
}

#[tokio::test]
async fn an_ai_agent_that_refuses_hands_the_conversation_to_people() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let hook = format!("/_bot/{}", t.account);
    put(&stack, &admin, "/settings", json!({"ai_agent": {"url": format!("{}{hook}", stack.s("sim_url")), "secret": "0123456789abcdef"}})).await;
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": hook, "status": 400, "times": 1})),
        )
        .await;
    write(&stack, &t, "nobot", "hello?", now_ms()).await;
    let handed = eventually("a hand-off after the AI agent refused", 20, || async {
        let h = events_of(&stack, &t, "conversation.handed_off").await;
        (!h.is_empty()).then_some(h)
    })
    .await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0]["data"]["by"], "ai_agent_unreachable");
    let c = conversation_of(&stack, &t, "nobot", "conversation", |_| true).await;
    assert_eq!(c["ai_agent_active"], false);
    assert!(c["assignee"].is_null(), "no rules: the pool");
}

/// The hand-off the sender makes when the AI agent cannot be reached follows the rules as they
/// stand then: here the hours closed while the AI agent was failing, so the after-hours rule
/// takes the conversation, and its agent gets it. (The sender lists the rule's agents: the one
/// path that needs its policy's `dynamodb:Query`.)
#[tokio::test]
async fn an_unreachable_ai_agent_hands_off_by_the_rules_that_match_at_the_time() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let hook = format!("/_bot/{}", t.account);
    put(&stack, &admin, "/settings", json!({"ai_agent": {"url": format!("{}{hook}", stack.s("sim_url")), "secret": "0123456789abcdef"}})).await;
    agent(&stack, &t, "night-1", "online", None).await;
    rules(&stack, &t, json!([{"name": "night", "match": {"business_hours": "outside"}, "agents": ["night-1"], "method": "round_robin"}])).await;
    // Failing for now (retried), until the hours have closed.
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": hook, "status": 503, "times": 1000})),
        )
        .await;
    write(&stack, &t, "latebot", "anyone there?", now_ms()).await;
    let c = conversation_of(&stack, &t, "latebot", "with the AI agent", |c| {
        c["ai_agent_active"] == true
    })
    .await;
    assert!(
        c["assignee"].is_null(),
        "open hours: the rule did not match"
    );
    eventually("a failed delivery to the AI agent", 20, || async {
        (!sim_requests(&stack, &hook).await.is_empty()).then_some(())
    })
    .await;
    // Closed all week but one minute on Sundays.
    put(
        &stack,
        &admin,
        "/settings",
        json!({"business_hours": {"sun": [["00:00", "00:01"]]}}),
    )
    .await;
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": hook, "status": 400, "times": 1, "replace": true})),
        )
        .await;
    let handed = eventually("a hand-off after the AI agent refused", 30, || async {
        let h = events_of(&stack, &t, "conversation.handed_off").await;
        (!h.is_empty()).then_some(h)
    })
    .await;
    assert_eq!(handed[0]["data"]["by"], "ai_agent_unreachable");
    let c = conversation_of(&stack, &t, "latebot", "handed off", |c| {
        c["ai_agent_active"] == false
    })
    .await;
    assert_eq!(
        (c["assignee"].as_str(), c["routing_rule"].as_str()),
        (Some("night-1"), Some("night")),
        "{c}"
    );
}

#[tokio::test]
async fn the_ai_agent_acts_only_on_its_conversations_and_a_person_answering_takes_over() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    // A conversation from before the AI agent was set up stays with people.
    write(&stack, &t, "people-user", "hello", now_ms()).await;
    let plain = conversation_of(&stack, &t, "people-user", "conversation", |_| true).await;
    let plain = plain["id"].as_str().unwrap().to_owned();
    let hook = format!("/_bot/{}", t.account);
    put(
        &stack,
        &admin,
        "/settings",
        json!({"ai_agent": {"url": format!("{}{hook}", stack.s("sim_url")), "secret": "a-very-secret-signing-key"}}),
    )
    .await;
    write(&stack, &t, "bot-user", "when are you open?", now_ms()).await;
    let held = conversation_of(&stack, &t, "bot-user", "with the AI agent", |c| {
        c["ai_agent_active"] == true
    })
    .await;
    let held = held["id"].as_str().unwrap().to_owned();
    let bot = stack.token(&t.account, "bot-1", Role::Bot);
    // The bot cannot resolve or reopen a conversation that is not with it.
    for action in ["resolve", "reopen"] {
        let (status, v) = stack
            .api(
                "POST",
                &format!("/conversations/{plain}/{action}"),
                Some(&bot),
                None,
            )
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (409, Some("not_with_ai_agent")),
            "{action}: {v}"
        );
    }
    assert_eq!(
        stack.get(&format!("/conversations/{plain}"), &admin).await["status"],
        "open"
    );
    // A person answering in the AI agent's conversation takes it over.
    let person = stack.token(&t.account, "human-9", Role::Agent);
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{held}/messages"),
            Some(&person),
            Some(json!({"text": "Let me help you myself."})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let c = stack.get(&format!("/conversations/{held}"), &admin).await;
    assert_eq!(
        (c["assignee"].as_str(), c["ai_agent_active"].as_bool()),
        (Some("human-9"), Some(false)),
        "{c}"
    );
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{held}/messages"),
            Some(&bot),
            Some(json!({"text": "We are open 9 to 5."})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_with_ai_agent")),
        "the bot and a person never both answer: {v}"
    );
    let (status, _) = stack
        .api(
            "POST",
            &format!("/conversations/{held}/resolve"),
            Some(&bot),
            None,
        )
        .await;
    assert_eq!(status, 409, "nor does it resolve what a person took over");
}
