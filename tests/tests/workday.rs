//! An agent's everyday tools through the local stack (issue 27): private notes, labels and
//! saved replies.

use pagedesk_e2e::{Stack, eventually, now_ms, text_event, unique};
use pagedesk_shared::adapters::auth::Role;
use serde_json::{Value, json};

async fn put(stack: &Stack, tok: &str, path: &str, body: Value) -> Value {
    let (status, v) = stack.api("PUT", path, Some(tok), Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {v}");
    v
}

/// Every Send API call the simulator has recorded.
async fn sends(stack: &Stack) -> Vec<Value> {
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    calls
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with("/messages")))
        .collect()
}

#[tokio::test]
async fn a_note_stays_with_the_team_names_agents_and_survives_erasure() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    for a in ["ann", "ann-2"] {
        put(
            &stack,
            &admin,
            &format!("/agents/{a}"),
            json!({"status": "online"}),
        )
        .await;
    }
    let user = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &user, "my order is late", now_ms())],
        )
        .await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    stack.settled().await;
    let sends_before = sends(&stack).await.len();
    let ann = stack.token(&t.account, "ann", Role::Agent);
    let secret = format!(
        "refund approved, ref {} @ann-2 please check, cc ann@example.com",
        unique()
    );
    let (status, note) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/notes"),
            Some(&ann),
            Some(json!({"text": secret})),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["kind"], "note");
    assert_eq!(note["author"], json!({"type": "agent", "id": "ann"}));

    // In the timeline, after the person's message; the conversation has not moved.
    let msgs = stack.all_messages(&id, &admin).await;
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[1]["id"], note["id"]);
    assert_eq!(msgs[1]["text"], secret.as_str());
    let after = stack.get(&format!("/conversations/{id}"), &admin).await;
    for field in [
        "last_message_at",
        "last_message",
        "last_inbound_at",
        "window",
        "updated_at",
    ] {
        assert_eq!(after[field], conv[field], "{field} moved: {after}");
    }
    // The feed has it with the agent it names (not the address, not an unknown name).
    let ev = eventually("note.created in the feed", 20, || async {
        let all = stack.all_pages("/events?limit=500", &admin, "after").await;
        all.into_iter().find(|e| e["type"] == "note.created")
    })
    .await;
    assert_eq!(ev["conversation_id"], id.as_str(), "{ev}");
    assert_eq!(ev["data"]["mentions"], json!(["ann-2"]), "{ev}");
    assert_eq!(ev["data"]["note"]["id"], note["id"], "{ev}");
    // Meta never sees it.
    stack.settled().await;
    let new_sends: Vec<Value> = sends(&stack).await.split_off(sends_before);
    assert!(
        !new_sends.iter().any(|c| c.to_string().contains(&secret)),
        "{new_sends:?}"
    );

    // Bad notes are refused and nothing is stored.
    for bad in [
        json!({"text": "  "}),
        json!({"text": "x".repeat(5001)}),
        json!({}),
    ] {
        let (status, v) = stack
            .api(
                "POST",
                &format!("/conversations/{id}/notes"),
                Some(&ann),
                Some(bad),
            )
            .await;
        assert_eq!(status, 422, "{v}");
    }
    assert_eq!(stack.all_messages(&id, &admin).await.len(), 2);

    // Erasing the person keeps the team's note.
    let contact = conv["contact"]["id"].as_str().unwrap_or_default();
    let (status, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let msgs = stack.all_messages(&id, &admin).await;
    assert_eq!(msgs[0]["erased"], true, "{msgs:?}");
    assert_eq!(msgs[1]["text"], secret.as_str(), "{msgs:?}");
}

#[tokio::test]
async fn labels_filter_count_and_come_from_rules() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put(
        &stack,
        &admin,
        "/routing-rules",
        json!({"rules": [{"name": "refunds", "match": {"keywords": ["refund"]}, "agents": [], "method": "claim", "labels": ["refund"]}]}),
    )
    .await;
    let (a, b) = (format!("5{:014}", unique()), format!("5{:014}", unique()));
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &a, "I want a refund", now_ms())],
        )
        .await;
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &b, "hello", now_ms())],
        )
        .await;
    // Both conversations there, the refund one routed by its rule.
    let listed = eventually("both conversations routed", 20, || async {
        let all = stack
            .all_pages("/conversations?limit=100", &admin, "cursor")
            .await;
        (all.len() == 2 && all.iter().any(|c| c["routing_rule"] == "refunds")).then_some(all)
    })
    .await;
    let by = |psid: &str| {
        listed
            .iter()
            .find(|c| {
                c["contact"]["id"]
                    .as_str()
                    .is_some_and(|x| x.ends_with(psid))
            })
            .cloned()
            .unwrap_or_default()
    };
    let (ca, cb) = (by(&a), by(&b));
    let (ida, idb) = (
        ca["id"].as_str().unwrap_or_default(),
        cb["id"].as_str().unwrap_or_default(),
    );
    let ca = eventually("the rule's label", 20, || async {
        let c = stack.get(&format!("/conversations/{ida}"), &admin).await;
        (c["labels"] == json!(["refund"])).then_some(c)
    })
    .await;
    assert_eq!(ca["routing_rule"], "refunds");

    let agent = stack.token(&t.account, "helper", Role::Agent);
    let v = put(
        &stack,
        &agent,
        &format!("/conversations/{idb}/labels"),
        json!({"labels": ["vip", "refund", "vip"]}),
    )
    .await;
    assert_eq!(v["labels"], json!(["refund", "vip"]), "{v}");
    for bad in [
        json!({"labels": ["VIP"]}),
        json!({"labels": (0..21).map(|i| format!("l{i}")).collect::<Vec<_>>()}),
        json!({"labels": "vip"}),
    ] {
        let (status, v) = stack
            .api(
                "PUT",
                &format!("/conversations/{idb}/labels"),
                Some(&agent),
                Some(bad),
            )
            .await;
        assert_eq!(status, 422, "{v}");
    }
    let ids = |items: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = items
            .iter()
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let mut both = vec![ida.to_owned(), idb.to_owned()];
    both.sort();
    assert_eq!(
        ids(stack
            .all_pages("/conversations?label=refund&limit=1", &agent, "cursor")
            .await),
        both
    );
    assert_eq!(
        ids(stack
            .all_pages("/conversations?label=vip", &agent, "cursor")
            .await),
        [idb]
    );
    assert!(
        stack
            .all_pages("/conversations?label=none", &agent, "cursor")
            .await
            .is_empty()
    );
    let (status, _) = stack
        .api("GET", "/conversations?label=No%20Way", Some(&agent), None)
        .await;
    assert_eq!(status, 400);

    let counts = stack.get("/labels", &agent).await;
    assert_eq!(
        counts["items"],
        json!([{"name": "refund", "open_conversations": 2}, {"name": "vip", "open_conversations": 1}]),
        "{counts}"
    );
    // Resolved conversations leave the counts; the label stays known.
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{idb}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let counts = stack.get("/labels", &agent).await;
    assert_eq!(
        counts["items"],
        json!([{"name": "refund", "open_conversations": 1}, {"name": "vip", "open_conversations": 0}]),
        "{counts}"
    );
    // Taking every label off.
    let v = put(
        &stack,
        &agent,
        &format!("/conversations/{ida}/labels"),
        json!({"labels": []}),
    )
    .await;
    assert_eq!(v["labels"], json!([]), "{v}");
}

#[tokio::test]
async fn saved_replies_are_written_by_admins_and_read_by_everyone() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let agent = stack.token(&t.account, "helper", Role::Agent);
    let text = "Hi {{contact.first_name}}, this is {{agent.name}} from {{page.name}}.";
    let v = put(
        &stack,
        &admin,
        "/saved-replies/hello",
        json!({"text": text}),
    )
    .await;
    assert_eq!(v["shortcut"], "hello");
    assert_eq!(v["text"], text);
    let first = v["created_at"].clone();
    let v = put(
        &stack,
        &admin,
        "/saved-replies/hello",
        json!({"text": "Hi {{contact.name}}"}),
    )
    .await;
    assert_eq!(v["created_at"], first, "made once: {v}");
    put(
        &stack,
        &admin,
        "/saved-replies/bye",
        json!({"text": "Bye!"}),
    )
    .await;
    let list = stack.get("/saved-replies", &agent).await;
    let shortcuts: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["shortcut"].as_str())
        .collect();
    assert_eq!(shortcuts, ["bye", "hello"], "{list}");

    let (status, _) = stack
        .api(
            "PUT",
            "/saved-replies/mine",
            Some(&agent),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, 403, "agents read, admins write");
    for (path, body) in [
        ("/saved-replies/Hello", json!({"text": "x"})),
        ("/saved-replies/ok", json!({"text": "Hi {{contact.email}}"})),
        ("/saved-replies/ok", json!({"text": " "})),
    ] {
        let (status, v) = stack.api("PUT", path, Some(&admin), Some(body)).await;
        assert_eq!(status, 422, "{path}: {v}");
    }
    let (status, _) = stack
        .api("DELETE", "/saved-replies/bye", Some(&admin), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = stack
        .api("DELETE", "/saved-replies/bye", Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    let list = stack.get("/saved-replies", &agent).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    // Another account sees none of them.
    let other = stack.admin(&format!("acct-{}", unique()));
    assert_eq!(
        stack.get("/saved-replies", &other).await["items"],
        json!([])
    );
}

/// The sender actions the simulator has recorded for `psid`, in order.
async fn actions_to(stack: &Stack, psid: &str) -> Vec<Value> {
    sends(stack)
        .await
        .into_iter()
        .filter(|c| c["body"]["recipient"]["id"] == psid && !c["body"]["sender_action"].is_null())
        .map(|c| c["body"].clone())
        .collect()
}

fn named<'a>(actions: &'a [Value], action: &str) -> Vec<&'a Value> {
    actions
        .iter()
        .filter(|a| a["sender_action"] == action)
        .collect()
}

#[tokio::test]
async fn seen_typing_and_reactions_reach_messenger_within_their_limits() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let agent = stack.token(&t.account, "helper", Role::Agent);
    let psid = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &psid, "is anyone there?", now_ms())],
        )
        .await;
    let (conv, msgs) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/conversations/{id}/messages");

    // Opening it sends mark_seen once (single_conversation's admin read already did).
    assert_eq!(
        named(&actions_to(&stack, &psid).await, "mark_seen").len(),
        1
    );
    stack.api("GET", &path, Some(&agent), None).await;
    assert_eq!(
        named(&actions_to(&stack, &psid).await, "mark_seen").len(),
        1,
        "once per message"
    );
    // A new message of the person: seen again when opened.
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &psid, "hello?", now_ms())],
        )
        .await;
    stack
        .wait_for(&path, &agent, "the second message", |v| {
            v["items"].as_array().is_some_and(|a| a.len() >= 2)
        })
        .await;
    assert_eq!(
        named(&actions_to(&stack, &psid).await, "mark_seen").len(),
        2
    );
    // Read receipts off for the Page: nothing more.
    put(
        &stack,
        &admin,
        &format!("/pages/{}/settings", t.page_id),
        json!({"send_read_receipts": false}),
    )
    .await;
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &psid, "third", now_ms())],
        )
        .await;
    stack
        .wait_for(&path, &agent, "the third message", |v| {
            v["items"].as_array().is_some_and(|a| a.len() >= 3)
        })
        .await;
    assert_eq!(
        named(&actions_to(&stack, &psid).await, "mark_seen").len(),
        2,
        "receipts off"
    );

    // typing_on at most once every 5 s, whoever asks.
    let typing = format!("/conversations/{id}/typing");
    let (s, v) = stack.api("POST", &typing, Some(&agent), None).await;
    assert_eq!((s, &v["sent"]), (200, &json!(true)), "{v}");
    let (s, v) = stack.api("POST", &typing, Some(&admin), None).await;
    assert_eq!(
        (s, &v["sent"], &v["reason"]),
        (200, &json!(false), &json!("too_soon")),
        "{v}"
    );
    assert_eq!(
        named(&actions_to(&stack, &psid).await, "typing_on").len(),
        1
    );

    // A thumbs-up on the person's message, then taken back.
    let first = &msgs[0];
    let mid = first["external_id"].as_str().unwrap_or_default();
    let reaction = format!(
        "/conversations/{id}/messages/{}/reaction",
        first["id"].as_str().unwrap_or_default()
    );
    let v = put(&stack, &agent, &reaction, json!({"emoji": "👍"})).await;
    assert_eq!(v["page_reaction"], "👍", "{v}");
    let acts = actions_to(&stack, &psid).await;
    let react = named(&acts, "react");
    assert_eq!(react.len(), 1, "{acts:?}");
    assert_eq!(
        react[0]["payload"],
        json!({"message_id": mid, "reaction": "👍"})
    );
    let shown = stack.all_messages(&id, &agent).await;
    assert_eq!(shown[0]["page_reaction"], "👍", "{shown:?}");
    let (s, v) = stack.api("DELETE", &reaction, Some(&agent), None).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["page_reaction"].is_null(), "{v}");
    let acts = actions_to(&stack, &psid).await;
    assert_eq!(
        named(&acts, "unreact")[0]["payload"],
        json!({"message_id": mid})
    );
    // Not on a note, not an unknown id, not a word.
    let (_, note) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/notes"),
            Some(&agent),
            Some(json!({"text": "n"})),
        )
        .await;
    let on_note = format!(
        "/conversations/{id}/messages/{}/reaction",
        note["id"].as_str().unwrap_or_default()
    );
    for (p, body, want) in [
        (on_note.as_str(), json!({"emoji": "👍"}), 409),
        (
            &format!("/conversations/{id}/messages/ms_01hzzzzzzzzzzzzzzzzzzzzzzz/reaction"),
            json!({"emoji": "👍"}),
            404,
        ),
        (reaction.as_str(), json!({"emoji": "ok"}), 422),
    ] {
        let (s, v) = stack.api("PUT", p, Some(&agent), Some(body)).await;
        assert_eq!(s, want, "{p}: {v}");
    }

    // Outside the standard window: nothing goes to Meta.
    let late = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(
                &t.page_id,
                &late,
                "old",
                now_ms() - 25 * 3_600_000,
            )],
        )
        .await;
    let old = eventually("the old conversation", 20, || async {
        stack
            .all_pages("/conversations?status=all&limit=100", &admin, "cursor")
            .await
            .into_iter()
            .find(|c| {
                c["contact"]["id"]
                    .as_str()
                    .is_some_and(|x| x.ends_with(&late))
            })
    })
    .await;
    let old_id = old["id"].as_str().unwrap_or_default();
    let msgs = stack.all_messages(old_id, &agent).await;
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{old_id}/typing"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!((s, &v["reason"]), (200, &json!("window_closed")), "{v}");
    let (s, v) = stack
        .api(
            "PUT",
            &format!(
                "/conversations/{old_id}/messages/{}/reaction",
                msgs[0]["id"].as_str().unwrap_or_default()
            ),
            Some(&agent),
            Some(json!({"emoji": "👍"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("window_closed")),
        "{v}"
    );
    assert!(
        actions_to(&stack, &late).await.is_empty(),
        "nothing outside the window"
    );
}

#[tokio::test]
async fn a_sent_reply_puts_the_auto_resolve_moment_in_the_schedule() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put(
        &stack,
        &admin,
        "/settings",
        json!({"auto_resolve_hours": 3}),
    )
    .await;
    let psid = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(&t.page_id, &psid, "question", now_ms())],
        )
        .await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    let (s, reply) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/messages"),
            Some(&admin),
            Some(json!({"text": "answer"})),
        )
        .await;
    assert_eq!(s, 202, "{reply}");
    let created =
        chrono::DateTime::parse_from_rfc3339(reply["created_at"].as_str().unwrap_or_default())
            .map(|d| d.timestamp_millis())
            .expect("created_at");
    let dynamo = stack.clients().await.dynamo();
    let row = eventually("the auto-resolve moment", 30, || async {
        dynamo
            .get_item()
            .table_name(stack.s("table"))
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("ACC#{}#CONV#{id}", t.account)),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("AUTORESOLVE".into()),
            )
            .consistent_read(true)
            .send()
            .await
            .ok()?
            .item
    })
    .await;
    let at = created + 3 * 3_600_000;
    assert_eq!(
        row.get("duesk")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some(format!("{at:013}#{}#{id}#AUTORESOLVE", t.account).as_str()),
        "three hours after the reply"
    );
}

#[tokio::test]
async fn an_agent_chooses_what_their_inbox_notifies_them_of() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let ann = stack.token(&account, "ann", Role::Agent);
    let path = "/agents/ann/preferences";
    assert_eq!(
        stack.get(path, &ann).await,
        json!({"assigned": true, "messages": true, "mentions": true, "sound": false}),
        "the defaults"
    );
    let v = put(
        &stack,
        &ann,
        path,
        json!({"messages": false, "sound": true}),
    )
    .await;
    assert_eq!(
        v,
        json!({"assigned": true, "messages": false, "mentions": true, "sound": true})
    );
    assert_eq!(stack.get(path, &ann).await, v, "kept");
    let bob = stack.token(&account, "bob", Role::Agent);
    let (s, _) = stack.api("GET", path, Some(&bob), None).await;
    assert_eq!(s, 403, "another agent's");
    let (s, _) = stack.api("PUT", path, Some(&bob), Some(json!({}))).await;
    assert_eq!(s, 403);
    for bad in [json!({"popups": true}), json!({"sound": "yes"})] {
        let (s, v) = stack.api("PUT", path, Some(&ann), Some(bad)).await;
        assert_eq!(s, 422, "{v}");
    }
    let admin = stack.admin(&account);
    assert_eq!(
        stack.get(path, &admin).await["sound"],
        true,
        "an admin reads them"
    );
}

/// The events of `kind` about `conv` in the feed, read once `marker` (a note written after
/// everything the test waits on) shows: the feed is in order, so nothing before it is missing.
async fn events_before_note(
    stack: &Stack,
    token: &str,
    conv: &str,
    marker: &str,
    kind: &str,
) -> Vec<Value> {
    let feed = stack
        .watch_feed(token, 100, 60, |seen| {
            seen.iter()
                .any(|e| e["type"] == "note.created" && e["data"]["note"]["id"] == marker)
        })
        .await;
    feed.into_iter()
        .filter(|e| e["type"] == kind && e["conversation_id"] == conv)
        .collect()
}

/// `POST /conversations/{id}/snooze`: validated, listed as `snoozed`, replies still go out,
/// and the person's message (delivered three times) opens it again once, in the same
/// conversation; an agent wakes it early with `DELETE`.
#[tokio::test]
async fn a_snoozed_conversation_wakes_once_when_the_person_writes() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let psid = format!("5{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(
                &t.page_id,
                &psid,
                "where is my parcel",
                now_ms(),
            )],
        )
        .await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    // An agent, who cannot list the Pages, sees the Page's name (for `{{page.name}}`).
    let agent = stack.token(&t.account, "helper", Role::Agent);
    let seen = stack.get(&format!("/conversations/{id}"), &agent).await;
    assert_eq!(seen["page_name"], "Test Page", "{seen}");
    let listed = stack.get("/conversations", &agent).await;
    assert_eq!(listed["items"][0]["page_name"], "Test Page", "{listed}");
    let path = format!("/conversations/{id}/snooze");
    let rfc = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .expect("a time")
    };
    for bad in [
        json!({"until": "tomorrow"}),
        json!({"until": rfc(now_ms() - 60_000)}),
        json!({"until": rfc(now_ms() + 400 * 86_400_000)}),
        json!({"until": rfc(now_ms() + 60_000), "note": "x"}),
        json!({}),
    ] {
        let (s, v) = stack
            .api("POST", &path, Some(&admin), Some(bad.clone()))
            .await;
        assert_eq!(s, 422, "{bad} → {v}");
    }
    let until = (now_ms() / 1000 + 2 * 3600) * 1000;
    let (s, v) = stack
        .api(
            "POST",
            &path,
            Some(&admin),
            Some(json!({"until": rfc(until)})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["snoozed_until"].as_str()),
        (Some("snoozed"), Some(rfc(until).as_str()))
    );
    let ids = |list: Value| -> Vec<String> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        ids(stack.get("/conversations?status=snoozed", &admin).await),
        vec![id.clone()]
    );
    assert!(ids(stack.get("/conversations?status=open", &admin).await).is_empty());

    // A reply while snoozed goes out and leaves it snoozed.
    let (s, reply) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/messages"),
            Some(&admin),
            Some(json!({"text": "we are checking with the courier"})),
        )
        .await;
    assert_eq!(s, 202, "{reply}");
    stack.settled().await;
    assert_eq!(
        stack.get(&format!("/conversations/{id}"), &admin).await["status"],
        "snoozed"
    );

    // The person writes; Meta delivers it three times.
    let again = text_event(&t.page_id, &psid, "any news?", now_ms());
    for _ in 0..3 {
        stack.deliver(&t.page_id, vec![again.clone()]).await;
    }
    stack.settled().await;
    let after = stack.get(&format!("/conversations/{id}"), &admin).await;
    assert_eq!(
        (after["status"].as_str(), &after["snoozed_until"]),
        (Some("open"), &Value::Null)
    );
    let all = ids(stack.get("/conversations?status=all", &admin).await);
    assert_eq!(
        all,
        vec![id.clone()],
        "the same conversation, not a new one"
    );
    let texts: Vec<Value> = stack
        .all_messages(&id, &admin)
        .await
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![
            json!("where is my parcel"),
            json!("we are checking with the courier"),
            json!("any news?")
        ]
    );
    let (s, v) = stack.api("DELETE", &path, Some(&admin), None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("not_snoozed")),
        "{v}"
    );

    // Snoozed again, woken early by an agent.
    let (s, _) = stack
        .api(
            "POST",
            &path,
            Some(&admin),
            Some(json!({"until": rfc(until)})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = stack.api("DELETE", &path, Some(&admin), None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("open")), "{v}");

    let (s, note) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/notes"),
            Some(&admin),
            Some(json!({"text": "marker"})),
        )
        .await;
    assert_eq!(s, 201, "{note}");
    let marker = note["id"].as_str().unwrap_or_default();
    let woken: Vec<Value> =
        events_before_note(&stack, &admin, &id, marker, "conversation.unsnoozed")
            .await
            .into_iter()
            .map(|e| e["data"]["by"].clone())
            .collect();
    assert_eq!(
        woken,
        vec![json!("message"), json!("agent")],
        "each wake announced once"
    );

    // A resolved conversation cannot be snoozed.
    let (s, _) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = stack
        .api(
            "POST",
            &path,
            Some(&admin),
            Some(json!({"until": rfc(until)})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("conversation_not_open")),
        "{v}"
    );
}
