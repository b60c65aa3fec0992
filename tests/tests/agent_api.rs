//! The agent API's read side and page registration: auth, accounts, filters, pagination,
//! contacts, conversation reuse and history, and the OpenAPI document against the running API.

use std::collections::BTreeSet;
use std::time::Duration;

use pagedesk_e2e::{Stack, Tenant, envelope, fixture, messaging_event, unique};
use pagedesk_shared::adapters::auth::Role;
use serde_json::{Value, json};

async fn say(stack: &Stack, t: &Tenant, user: &str, text: &str) {
    let ev = messaging_event(
        &t.page_id,
        user,
        pagedesk_shared::clock::Clock::now_ms(&pagedesk_shared::clock::SystemClock),
        json!({"message": {"mid": format!("m_{}", unique()), "text": text}}),
    );
    let (status, body) = stack
        .post_webhook(
            envelope(&t.page_id, "messaging", vec![ev])
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn conversations(stack: &Stack, t: &Tenant, query: &str, n: usize) -> Vec<Value> {
    let v = stack
        .wait_for(
            &format!("/conversations{query}"),
            &stack.admin(&t.account),
            &format!("{n} conversations for {query}"),
            |v| v["items"].as_array().is_some_and(|a| a.len() == n),
        )
        .await;
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn tokens_roles_and_error_shape() {
    let stack = Stack::connect();
    let (s, v) = stack.api("GET", "/conversations", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    assert!(v["error"]["message"].is_string());
    let (s, _) = stack
        .api("GET", "/conversations", Some("not-a-jwt"), None)
        .await;
    assert_eq!(s, 401);
    let forged =
        pagedesk_shared::adapters::auth::dev_token("wrong-secret", "a", "acct", Role::Admin, 60);
    assert_eq!(
        stack
            .api("GET", "/conversations", Some(&forged), None)
            .await
            .0,
        401
    );
    let agent = stack.token("acct-x", "agent-7", Role::Agent);
    assert_eq!(
        stack
            .api("GET", "/conversations", Some(&agent), None)
            .await
            .0,
        200
    );
    let (s, v) = stack.api("GET", "/pages", Some(&agent), None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        stack
            .api(
                "PUT",
                "/pages/123",
                Some(&agent),
                Some(json!({"access_token": "x"}))
            )
            .await
            .0,
        403
    );
    assert_eq!(
        stack
            .api("GET", "/nothing-here", Some(&agent), None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn another_accounts_objects_are_not_found() {
    let stack = Stack::connect();
    let (a, b) = (stack.tenant().await, stack.tenant().await);
    say(&stack, &a, &format!("7{}", unique()), "private to a").await;
    let conv = conversations(&stack, &a, "", 1).await.remove(0);
    let id = conv["id"].as_str().unwrap();
    let contact = conv["contact"]["id"].as_str().unwrap();
    let tb = stack.admin(&b.account);
    for path in [
        format!("/conversations/{id}"),
        format!("/conversations/{id}/messages"),
        format!("/contacts/{contact}"),
    ] {
        let (s, v) = stack.api("GET", &path, Some(&tb), None).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    assert_eq!(
        stack
            .api(
                "POST",
                &format!("/conversations/{id}/resolve"),
                Some(&tb),
                None
            )
            .await
            .0,
        404
    );
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{}", a.page_id),
            Some(&tb),
            Some(json!({"access_token": "steal"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("page_registered_elsewhere"))
    );
    assert_eq!(
        stack
            .api("DELETE", &format!("/pages/{}", a.page_id), Some(&tb), None)
            .await
            .0,
        404
    );
    let pages = stack.get("/pages", &tb).await;
    assert!(
        pages["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["page_id"] != a.page_id.as_str())
    );
    // A cursor from one account's list cannot read another's.
    for _ in 0..2 {
        say(&stack, &a, &format!("7{}", unique()), "more").await;
    }
    conversations(&stack, &a, "", 3).await;
    let page1 = stack
        .get("/conversations?limit=1", &stack.admin(&a.account))
        .await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (s, v) = stack
        .api(
            "GET",
            &format!("/conversations?limit=1&cursor={cursor}"),
            Some(&tb),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
}

#[tokio::test]
async fn filters_and_cursor_pagination() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let users: Vec<String> = (0..5).map(|_| format!("7{}", unique())).collect();
    for u in &users {
        say(&stack, &t, u, "hello").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = conversations(&stack, &t, "", 5).await;
    // Most recent activity first.
    let times: Vec<&str> = all
        .iter()
        .map(|c| c["last_message_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    let resolved_id = all[0]["id"].as_str().unwrap().to_owned();
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{resolved_id}/resolve"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("resolved")));
    assert_eq!(
        stack
            .api(
                "POST",
                &format!("/conversations/{resolved_id}/resolve"),
                Some(&tok),
                None
            )
            .await
            .0,
        409
    );

    assert_eq!(conversations(&stack, &t, "?status=open", 4).await.len(), 4);
    let resolved = conversations(&stack, &t, "?status=resolved", 1).await;
    assert_eq!(resolved[0]["id"], resolved_id.as_str());
    assert_eq!(
        conversations(&stack, &t, "?assignee=unassigned&status=open", 4)
            .await
            .len(),
        4
    );
    assert_eq!(
        stack.get("/conversations?assignee=me", &tok).await["items"],
        json!([])
    );
    assert_eq!(
        conversations(
            &stack,
            &t,
            &format!("?page_id={}&channel=messenger", t.page_id),
            5
        )
        .await
        .len(),
        5
    );
    assert_eq!(
        stack.get("/conversations?channel=comment", &tok).await["items"],
        json!([])
    );
    assert_eq!(
        stack.get("/conversations?page_id=1", &tok).await["items"],
        json!([])
    );

    // Walk every page with limit=2: each conversation once, none missing.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let q = match &cursor {
            Some(c) => format!("/conversations?limit=2&cursor={c}"),
            None => "/conversations?limit=2".to_owned(),
        };
        let v = stack.get(&q, &tok).await;
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique_seen: BTreeSet<_> = seen.iter().collect();
    assert_eq!(
        unique_seen.len(),
        seen.len(),
        "no conversation twice: {seen:?}"
    );
    assert_eq!(unique_seen.len(), 5);

    for bad in [
        "?status=pending",
        "?channel=fax",
        "?limit=0",
        "?limit=101",
        "?cursor=garbage",
    ] {
        let (s, v) = stack
            .api("GET", &format!("/conversations{bad}"), Some(&tok), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn messages_page_oldest_first() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    for i in 0..5 {
        say(&stack, &t, &user, &format!("m{i}")).await;
    }
    let (conv, _) = stack.single_conversation(&t, 5).await;
    let id = conv["id"].as_str().unwrap();
    let tok = stack.admin(&t.account);
    let first = stack
        .get(&format!("/conversations/{id}/messages?limit=3"), &tok)
        .await;
    let c = first["next_cursor"].as_str().unwrap();
    let second = stack
        .get(
            &format!("/conversations/{id}/messages?limit=3&cursor={c}"),
            &tok,
        )
        .await;
    let texts: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn a_resolved_conversation_is_not_reopened_and_history_is_carried() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let user = format!("7{}", unique());
    say(&stack, &t, &user, "first question").await;
    say(&stack, &t, &user, "more detail").await;
    let (conv, _) = stack.single_conversation(&t, 2).await;
    let first_id = conv["id"].as_str().unwrap().to_owned();
    assert_eq!(
        stack
            .api(
                "POST",
                &format!("/conversations/{first_id}/resolve"),
                Some(&tok),
                None
            )
            .await
            .0,
        200
    );

    say(&stack, &t, &user, "new question").await;
    let open = conversations(&stack, &t, "?status=open", 1).await;
    let second_id = open[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    assert_eq!(open[0]["previous_conversation_id"], first_id.as_str());
    let msgs = stack
        .wait_for(
            &format!("/conversations/{second_id}/messages"),
            &tok,
            "history + new",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 3),
        )
        .await;
    let items = msgs["items"].as_array().unwrap();
    let summary: Vec<(&str, bool)> = items
        .iter()
        .map(|m| (m["text"].as_str().unwrap(), m["context"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("first question", true),
            ("more detail", true),
            ("new question", false)
        ]
    );
    let first = stack.get(&format!("/conversations/{first_id}"), &tok).await;
    assert_eq!(first["status"], "resolved");
    // The contact has an open conversation, so the old one cannot be reopened.
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{first_id}/reopen"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("contact_has_open_conversation"))
    );
}

#[tokio::test]
async fn a_refused_profile_keeps_the_id_and_invents_no_name() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let refusal = fixture("profile_api_error_100_2018218_no_profile.json");
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": format!("/{user}"), "status": 400, "body": refusal, "times": 1})),
        )
        .await;
    say(&stack, &t, &user, "who am I").await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    assert!(conv["contact"]["name"].is_null(), "{conv}");
    let contact = stack
        .get(
            &format!("/contacts/{}", conv["contact"]["id"].as_str().unwrap()),
            &stack.admin(&t.account),
        )
        .await;
    assert_eq!(contact["profile_status"], "unavailable");
    assert_eq!(contact["facebook_id"], user.as_str());
    assert!(contact["name"].is_null());
    // The profile call carried the Page's token.
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    let call = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("/{user}")))
        })
        .expect("profile call");
    assert_eq!(
        call["query"]["access_token"].as_str(),
        stack.stored_token(&t.page_id).await.as_deref()
    );
    assert!(call["path"].as_str().unwrap().starts_with("/v25.0/"));
}

#[tokio::test]
async fn pages_register_update_list_and_delete() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let tok = stack.admin(&account);
    let page = format!("9{}", unique());
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{page}"),
            Some(&tok),
            Some(json!({"name": "Shop"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "only a token registers a Page: without one there is nothing to update"
    );
    // What the document forbids is refused: null for a field, a blank name.
    for body in [
        json!({"name": "", "channels": null}),
        json!({"channels": null}),
        json!({"name": null}),
        json!({"name": "   "}),
    ] {
        let (s, v) = stack
            .api(
                "PUT",
                &format!("/pages/{page}"),
                Some(&tok),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("invalid_request")),
            "{body}: {v}"
        );
    }
    assert_eq!(
        stack
            .api(
                "PUT",
                "/pages/not-a-number",
                Some(&tok),
                Some(json!({"access_token": "t"}))
            )
            .await
            .0,
        422
    );
    assert_eq!(
        stack
            .api(
                "PUT",
                &format!("/pages/{page}"),
                Some(&tok),
                Some(json!("nope"))
            )
            .await
            .0,
        422
    );
    // A token Graph does not confirm as this Page's is refused and changes nothing.
    let other = stack.page_token(&format!("9{}", unique())).await;
    for junk in ["junk", other.as_str()] {
        let (s, v) = stack
            .api(
                "PUT",
                &format!("/pages/{page}"),
                Some(&tok),
                Some(json!({"name": "Shop", "access_token": junk})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("token_not_for_page"))
        );
    }
    assert_eq!(
        stack
            .api("GET", &format!("/pages/{page}"), Some(&tok), None)
            .await
            .0,
        404,
        "nothing was registered"
    );
    let good = stack.manager_token(&page).await;
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{page}"),
            Some(&tok),
            Some(json!({"name": "Shop", "access_token": good})),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str(), v["name"].as_str()),
        (201, Some("connected"), Some("Shop"))
    );
    assert!(v.get("access_token").is_none(), "tokens are never returned");
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{page}"),
            Some(&tok),
            Some(json!({"name": "Shop 2"})),
        )
        .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Shop 2")));
    let list = stack
        .wait_for("/pages", &tok, "the page in the list", |v| {
            v["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["name"] == "Shop 2"))
        })
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The token went to Secrets Manager under the template's prefix.
    let clients = stack.clients().await;
    let secret = clients
        .secrets()
        .get_secret_value()
        .secret_id(format!("{}{page}", stack.s("page_token_prefix")))
        .send()
        .await
        .unwrap();
    // The Page's own token, read with the person's, never the person's token itself.
    let stored = secret.secret_string().expect("a token").to_owned();
    assert_ne!(stored, good, "the person's token is not kept");
    let me: Value = reqwest::get(format!(
        "{}/v25.0/me?access_token={stored}",
        stack.s("sim_url")
    ))
    .await
    .expect("sim")
    .json()
    .await
    .expect("json");
    assert_eq!(me["id"], page, "the stored token is the Page's: {me}");
    assert_eq!(
        stack
            .api("DELETE", &format!("/pages/{page}"), Some(&tok), None)
            .await
            .0,
        200
    );
    assert_eq!(
        stack
            .api("DELETE", &format!("/pages/{page}"), Some(&tok), None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn settings_read_change_and_validate() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let admin = stack.admin(&account);
    let agent = stack.token(&account, "agent-1", Role::Agent);
    let v = stack.get("/settings", &agent).await;
    assert_eq!(
        v,
        json!({"time_zone": "UTC", "business_hours": null, "away_message": null, "greeting": null, "csat_enabled": false,
        "human_agent_enabled": false, "history_depth": 10, "ai_agent": null, "window_warnings_minutes": [60, 15], "fallback": null,
        "send_read_receipts": true, "auto_resolve_hours": null})
    );
    assert_eq!(
        stack
            .api(
                "PUT",
                "/settings",
                Some(&agent),
                Some(json!({"greeting": "Hi"}))
            )
            .await
            .0,
        403
    );
    let (s, v) = stack.api("PUT", "/settings", Some(&admin), Some(json!({"time_zone": "Europe/Berlin", "human_agent_enabled": true, "history_depth": 5,
        "business_hours": {"mon": [["09:00", "17:00"]]}, "greeting": "Hello!", "ai_agent": {"url": "https://bot.example/hook"}}))).await;
    assert_eq!(s, 200, "{v}");
    // Without a signing key one is made, shown in this answer only.
    assert!(
        v["ai_agent"]["secret"]
            .as_str()
            .is_some_and(|k| k.len() == 40),
        "{v}"
    );
    let shown = stack.get("/settings", &admin).await;
    assert_eq!(
        (
            shown["ai_agent"]["secret_set"].as_bool(),
            shown["ai_agent"].get("secret")
        ),
        (Some(true), None)
    );
    assert_eq!(
        (
            v["time_zone"].as_str(),
            v["human_agent_enabled"].as_bool(),
            v["history_depth"].as_u64()
        ),
        (Some("Europe/Berlin"), Some(true), Some(5))
    );
    // A partial change keeps the rest.
    let (_, v) = stack
        .api(
            "PUT",
            "/settings",
            Some(&admin),
            Some(json!({"csat_enabled": true})),
        )
        .await;
    assert_eq!(
        (v["csat_enabled"].as_bool(), v["greeting"].as_str()),
        (Some(true), Some("Hello!"))
    );
    let (s, v) = stack
        .api(
            "PUT",
            "/settings",
            Some(&admin),
            Some(json!({"time_zone": "Nowhere/Else", "history_depth": 3, "auto_resolve_hours": 0, "send_read_receipts": "yes"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
    assert_eq!(v["error"]["problems"].as_array().unwrap().len(), 4, "{v}");
    let (s, v) = stack
        .api(
            "PUT",
            "/settings",
            Some(&admin),
            Some(json!({"auto_resolve_hours": 48, "send_read_receipts": false})),
        )
        .await;
    assert_eq!(
        (s, &v["auto_resolve_hours"], &v["send_read_receipts"]),
        (200, &json!(48), &json!(false)),
        "{v}"
    );
    assert_eq!(
        stack.get("/settings", &admin).await["time_zone"],
        "Europe/Berlin",
        "a refused change changes nothing"
    );
    assert_eq!(
        stack
            .get("/settings", &stack.admin(&format!("acct-{}", unique())))
            .await["time_zone"],
        "UTC",
        "settings are per account"
    );
}

// ---- OpenAPI --------------------------------------------------------------------------------

fn openapi() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn validate(doc: &Value, schema_ref: &str, instance: &Value) {
    let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": schema_ref, "components": doc["components"]});
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_ref}: {errors:?}\n{instance}");
}

/// Whether `instance` is valid against `schema_ref` of the document.
fn is_valid(doc: &Value, schema_ref: &str, instance: &Value) -> bool {
    let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": schema_ref, "components": doc["components"]});
    jsonschema::validator_for(&schema)
        .expect("schema compiles")
        .is_valid(instance)
}

/// What the API refuses, the document refuses too, where JSON Schema can say it (found by a
/// schema-driven fuzzer run from outside): a blank time zone, a blank Page name, `null` channels.
#[test]
fn the_document_refuses_what_the_api_refuses() {
    let doc = openapi();
    let settings = "#/components/schemas/SettingsChange";
    for zone in ["", " ", "Europe/Berlin ", "../etc", "Europe//Berlin"] {
        assert!(
            !is_valid(&doc, settings, &json!({"time_zone": zone})),
            "{zone:?}"
        );
    }
    for zone in [
        "Europe/Berlin",
        "UTC",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
        "europe/berlin",
    ] {
        assert!(
            is_valid(&doc, settings, &json!({"time_zone": zone})),
            "{zone:?}"
        );
    }
    let put_page = &doc["paths"]["/pages/{page_id}"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let page_schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], "allOf": [put_page]});
    let v = jsonschema::validator_for(&page_schema).expect("schema compiles");
    for body in [
        json!({"name": "", "channels": null}),
        json!({"channels": null}),
        json!({"name": null}),
        json!({"name": "   "}),
    ] {
        assert!(!v.is_valid(&body), "{body}");
    }
    assert!(v.is_valid(&json!({"name": "Shop", "channels": {"comments": false}})));
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_the_api_serves() {
    let doc = openapi();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<_> = pagedesk_agent_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn live_responses_match_the_openapi_schemas() {
    let stack = Stack::connect();
    let doc = openapi();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let user = format!("7{}", unique());
    say(&stack, &t, &user, "schema check").await;
    let (conv, msgs) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap();
    validate(
        &doc,
        "#/components/schemas/ConversationList",
        &stack.get("/conversations", &tok).await,
    );
    validate(
        &doc,
        "#/components/schemas/Conversation",
        &stack.get(&format!("/conversations/{id}"), &tok).await,
    );
    validate(
        &doc,
        "#/components/schemas/MessageList",
        &stack
            .get(&format!("/conversations/{id}/messages"), &tok)
            .await,
    );
    validate(&doc, "#/components/schemas/Message", &msgs[0]);
    validate(
        &doc,
        "#/components/schemas/Contact",
        &stack
            .get(
                &format!("/contacts/{}", conv["contact"]["id"].as_str().unwrap()),
                &tok,
            )
            .await,
    );
    for p in stack.get("/pages", &tok).await["items"].as_array().unwrap() {
        validate(&doc, "#/components/schemas/Page", p);
    }
    let (_, resolved) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/resolve"),
            Some(&tok),
            None,
        )
        .await;
    validate(&doc, "#/components/schemas/Conversation", &resolved);
    validate(
        &doc,
        "#/components/schemas/Settings",
        &stack.get("/settings", &tok).await,
    );
    validate(
        &doc,
        "#/components/schemas/Agent",
        &stack.get("/agents/admin-1", &tok).await,
    );
    validate(
        &doc,
        "#/components/schemas/RoutingRules",
        &stack.get("/routing-rules", &tok).await,
    );
    validate(
        &doc,
        "#/components/schemas/CsatReport",
        &stack.get("/reports/csat", &tok).await,
    );
    let (_, err) = stack.api("GET", "/conversations", None, None).await;
    validate(&doc, "#/components/schemas/Error", &err);
    let (_, err) = stack
        .api("GET", "/conversations/nope", Some(&tok), None)
        .await;
    validate(&doc, "#/components/schemas/Error", &err);
    // Every documented route answers (not the router's 404) for an admin.
    for (method, path) in pagedesk_agent_api::ROUTES {
        let concrete = path.replace("{id}", id).replace("{page_id}", "1");
        let body = match (*method, *path) {
            ("PUT", "/settings") => Some(json!({})),
            ("PUT", _) => Some(json!({"name": "x"})),
            _ => None,
        };
        let (s, v) = stack.api(method, &concrete, Some(&tok), body).await;
        assert!(
            !(s == 404 && v["error"]["message"] == "route not found"),
            "{method} {path}: {s} {v}"
        );
    }
}

#[tokio::test]
async fn browsers_get_cors_from_the_function_url() {
    let stack = Stack::connect();
    let res = stack
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/conversations", stack.s("api_url")),
        )
        .header("origin", "https://helpdesk.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://helpdesk.example"
    );
    assert!(
        res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
}

#[tokio::test]
async fn undeclared_methods_answer_405_with_allow_and_unknown_paths_404() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    for (method, path, allowed) in [
        ("PATCH", "/conversations", vec!["GET"]),
        ("DELETE", "/settings", vec!["GET", "PUT"]),
        ("POST", "/pages/123", vec!["PUT", "DELETE"]),
    ] {
        let res = stack
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", stack.s("api_url")),
            )
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        let allow = res.headers()["allow"].to_str().unwrap().to_owned();
        for m in allowed {
            assert!(allow.contains(m), "{method} {path}: Allow {allow}");
        }
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    }
    let (s, v) = stack.api("GET", "/nothing-here", Some(&tok), None).await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (404, Some("route not found"))
    );
    // A trailing slash names the same route.
    let (s, _) = stack.api("GET", "/conversations/", Some(&tok), None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn the_unassigned_marker_cannot_be_an_agent() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let (s, v) = stack
        .api(
            "PUT",
            "/agents/-",
            Some(&admin),
            Some(json!({"status": "online"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{v}"
    );
    let dash = stack.token(&t.account, "-", Role::Agent);
    let (s, _) = stack.api("GET", "/conversations", Some(&dash), None).await;
    assert_eq!(s, 401, "a token naming agent '-' is refused");
}

#[tokio::test]
async fn the_ai_agent_url_never_reaches_link_local_or_metadata_addresses() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "ftp://bot.example.com/",
        "https://user:pw@bot.example.com/",
    ] {
        let (s, v) = stack
            .api(
                "PUT",
                "/settings",
                Some(&admin),
                Some(json!({"ai_agent": {"url": url}})),
            )
            .await;
        assert_eq!(s, 422, "{url}: {v}");
        assert!(
            v["error"]["problems"][0]
                .as_str()
                .is_some_and(|p| p.starts_with("ai_agent.url")),
            "{url}: {v}"
        );
    }
    assert!(stack.get("/settings", &admin).await["ai_agent"].is_null());
}

#[tokio::test]
async fn an_oversized_body_is_refused_in_the_error_shape() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let big = json!({"greeting": "x".repeat(3 * 1024 * 1024)});
    let (s, v) = stack.api("PUT", "/settings", Some(&admin), Some(big)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
}

/// What an outside schemathesis run found the API accepting against its document, or
/// failing on (issue 45), each refused or answered as the document says now.
#[tokio::test]
async fn requests_off_the_document_are_refused_and_a_future_position_reads_empty() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let long = "0".repeat(129);
    for (method, path, body, want) in [
        // Agent ids over 128 characters, on every agents route (before, preferences made one).
        ("GET", format!("/agents/{long}"), None, 422),
        ("GET", format!("/agents/{long}/preferences"), None, 422),
        (
            "PUT",
            format!("/agents/{long}/preferences"),
            Some(json!({"sound": true})),
            422,
        ),
        ("GET", "/agents/-/preferences".to_owned(), None, 422),
        // Preferences of nobody: an admin does not make an agent by setting them.
        (
            "PUT",
            format!("/agents/nobody-{}/preferences", unique()),
            Some(json!({"sound": true})),
            404,
        ),
        (
            "GET",
            format!("/agents/nobody-{}/preferences", unique()),
            None,
            404,
        ),
        // An empty parameter is no value (before: read as left out).
        ("GET", "/conversations?label=".to_owned(), None, 400),
        ("GET", "/reports/csat?to=".to_owned(), None, 400),
        ("GET", "/events?after=".to_owned(), None, 400),
        // A search needs a letter or a digit (× and ÷ are neither).
        ("GET", "/contacts?q=%C3%97%C3%B7".to_owned(), None, 400),
        // `rule` is a name, never null.
        (
            "PUT",
            format!("/pages/{}/sharing", t.page_id),
            Some(json!({"mode": "shared", "rule": null})),
            422,
        ),
    ] {
        let (s, v) = stack.api(method, &path, Some(&admin), body).await;
        assert_eq!(s, want, "{method} {path}: {v}");
    }
    // A name in another script is searched (transliterated), not refused.
    let (s, v) = stack
        .api("GET", "/contacts?q=%D0%AF%D0%BD", Some(&admin), None)
        .await;
    assert_eq!(s, 200, "{v}");
    // A position past now (a client's clock ahead) has nothing after it yet: before, 500.
    let future =
        pagedesk_shared::clock::Clock::now_ms(&pagedesk_shared::clock::SystemClock) + 86_400_000;
    let v = stack
        .get(&format!("/events?after={future}-ev_x"), &admin)
        .await;
    assert_eq!(v["items"], json!([]), "{v}");
}
