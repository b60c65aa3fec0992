//! Connecting Pages (issue 9) end to end, against the simulator's Facebook side: the connect
//! flow with a token and with a login code, paging of `/me/accounts`, declined permissions,
//! Pages held by another account, sharing, the takeover attempt, health checks, Meta's signed
//! callbacks, erasure and history import.

use pagedesk_e2e::{Stack, Tenant, eventually, now_ms, unique};
use pagedesk_shared::clock::HOUR_MS;
use serde_json::{Value, json};

fn id(prefix: char) -> String {
    format!("{prefix}{:014}", unique())
}

async fn connect(stack: &Stack, account: &str, body: Value) -> (u16, Value) {
    stack
        .api(
            "POST",
            "/pages/connect",
            Some(&stack.admin(account)),
            Some(body),
        )
        .await
}

fn results(v: &Value) -> Vec<(String, String)> {
    v["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| {
            (
                p["page_id"].as_str().unwrap_or_default().to_owned(),
                p["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn sim_calls(stack: &Stack, suffix: &str) -> Vec<Value> {
    stack
        .sim("GET", "/_sim/requests", None)
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        // Message sends, not the "seen" an agent's reading sends.
        .filter(|c| c["body"]["sender_action"].is_null())
        .cloned()
        .collect()
}

async fn page(stack: &Stack, account: &str, page_id: &str) -> Value {
    stack
        .get(&format!("/pages/{page_id}"), &stack.admin(account))
        .await
}

#[tokio::test]
async fn connecting_with_a_token_lists_every_page_subscribes_and_records_who() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let user = id('7');
    // More Pages than one page of /me/accounts (25).
    let pages: Vec<(String, String)> = (0..30).map(|i| (id('9'), format!("Shop {i}"))).collect();
    let refs: Vec<(&str, &str)> = pages
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let login = stack.fb_user(&user, &refs, &[]).await;
    let (s, v) = connect(
        &stack,
        &account,
        json!({"user_access_token": login["user_access_token"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let got = results(&v);
    assert_eq!(got.len(), 30, "every page of /me/accounts: {v}");
    assert!(got.iter().all(|(_, r)| r == "connected"), "{v}");
    assert!(
        sim_calls(&stack, "/me/accounts")
            .await
            .iter()
            .any(|c| c["query"]["after"].is_string()),
        "the second page was asked for by its cursor"
    );
    let (p0, name0) = &pages[0];
    let p = page(&stack, &account, p0).await;
    assert_eq!(p["status"], "connected");
    assert_eq!(p["name"], name0.as_str());
    assert_eq!(p["connected_by"], user.as_str());
    assert!(p["connected_at"].is_string());
    assert_eq!(p["subscribed_fields"].as_array().unwrap().len(), 12);
    // The simulator has the subscription, made with the Page's own token.
    let token = stack.stored_token(p0).await.expect("token stored");
    let subs: Value = stack
        .http
        .get(format!(
            "{}/v25.0/{p0}/subscribed_apps?access_token={token}",
            stack.s("sim_url")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields = subs["data"][0]["subscribed_fields"].as_array().unwrap();
    for f in ["messages", "message_echoes", "feed", "leadgen"] {
        assert!(fields.iter().any(|x| x == f), "{f} subscribed: {subs}");
    }
    // A message to a connected Page becomes a conversation.
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": p0, "psid": id('2'), "text": "hello"})),
        )
        .await;
    stack
        .wait_for(
            "/conversations",
            &stack.admin(&account),
            "a conversation",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    // Connecting again heals: reconnected.
    let again = stack.fb_user(&user, &refs[..1], &[]).await;
    let (s, v) = connect(
        &stack,
        &account,
        json!({"user_access_token": again["user_access_token"]}),
    )
    .await;
    assert_eq!(
        (s, results(&v)),
        (200, vec![(p0.clone(), "reconnected".into())])
    );
}

#[tokio::test]
async fn a_login_code_connects_only_the_chosen_pages_and_a_used_code_is_refused() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let (a, b) = (id('9'), id('9'));
    let login = stack.fb_user(&id('7'), &[(&a, "A"), (&b, "B")], &[]).await;
    let body = json!({"code": login["code"], "redirect_uri": "https://helpdesk.example/fb", "page_ids": [b]});
    let (s, v) = connect(&stack, &account, body.clone()).await;
    assert_eq!(
        (s, results(&v)),
        (200, vec![(b.clone(), "connected".into())]),
        "{v}"
    );
    assert_eq!(
        stack
            .api(
                "GET",
                &format!("/pages/{a}"),
                Some(&stack.admin(&account)),
                None
            )
            .await
            .0,
        404,
        "a Page not chosen is not connected"
    );
    let (s, v) = connect(&stack, &account, body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{v}"
    );
    let (s, _) = connect(&stack, &account, json!({"code": "x"})).await;
    assert_eq!(s, 422, "a code needs its redirect_uri");
    let (s, v) = connect(&stack, &account, json!({"user_access_token": "junk"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
}

#[tokio::test]
async fn declined_permissions_and_pages_held_elsewhere_are_reported_not_connected() {
    let stack = Stack::connect();
    let (mine, theirs) = (format!("acct-{}", unique()), format!("acct-{}", unique()));
    let held = id('9');
    let first = stack.fb_user(&id('7'), &[(&held, "Held")], &[]).await;
    let (s, _) = connect(
        &stack,
        &theirs,
        json!({"user_access_token": first["user_access_token"]}),
    )
    .await;
    assert_eq!(s, 200);
    let free = id('9');
    let login = stack
        .fb_user(&id('7'), &[(&held, "Held"), (&free, "Free")], &[])
        .await;
    let (_, v) = connect(
        &stack,
        &mine,
        json!({"user_access_token": login["user_access_token"]}),
    )
    .await;
    let mut got = results(&v);
    got.sort();
    let mut want = vec![
        (held.clone(), "registered_elsewhere".to_owned()),
        (free.clone(), "connected".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want, "{v}");
    assert_eq!(
        page(&stack, &theirs, &held).await["status"],
        "connected",
        "the holder keeps it"
    );

    let declined = id('9');
    let login = stack
        .fb_user(&id('7'), &[(&declined, "D")], &["pages_messaging"])
        .await;
    let (_, v) = connect(
        &stack,
        &mine,
        json!({"user_access_token": login["user_access_token"]}),
    )
    .await;
    assert_eq!(v["pages"][0]["result"], "missing_permissions", "{v}");
    assert_eq!(
        v["pages"][0]["missing_permissions"],
        json!(["pages_messaging"])
    );
    assert_eq!(
        stack
            .api(
                "GET",
                &format!("/pages/{declined}"),
                Some(&stack.admin(&mine)),
                None
            )
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn sharing_only_me_and_shared_set_the_routing_rules() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let admin = stack.admin(&account);
    let (s, _) = stack
        .api(
            "PUT",
            "/routing-rules",
            Some(&admin),
            Some(json!({"rules": [{"name": "team", "agents": ["a1", "a2"], "method": "round_robin"}]})),
        )
        .await;
    assert_eq!(s, 200);
    let (p1, p2) = (id('9'), id('9'));
    let login = stack.fb_user(&id('7'), &[(&p1, "One")], &[]).await;
    let (s, v) = connect(
        &stack,
        &account,
        json!({"user_access_token": login["user_access_token"], "sharing": {"mode": "only_me"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let login = stack.fb_user(&id('7'), &[(&p2, "Two")], &[]).await;
    let (s, v) = connect(
        &stack,
        &account,
        json!({"user_access_token": login["user_access_token"], "sharing": {"mode": "shared", "rule": "team"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let rules = stack.get("/routing-rules", &admin).await;
    let list = rules["rules"].as_array().unwrap();
    assert_eq!(list[0]["method"], "owner", "only_me comes first: {rules}");
    assert_eq!(list[0]["agents"], json!(["admin-1"]));
    assert_eq!(list[0]["match"]["pages"], json!([p1]));
    let team = list.iter().find(|r| r["name"] == "team").unwrap();
    assert_eq!(team["match"]["pages"], json!([p2]));
    // only_me also limits the Page to the admin; shared leaves it to the team.
    let one = stack.get(&format!("/pages/{p1}"), &admin).await;
    assert_eq!(
        one["sharing"],
        json!({"mode": "only_me", "admin": "admin-1"}),
        "{one}"
    );
    let two = stack.get(&format!("/pages/{p2}"), &admin).await;
    assert_eq!(two["sharing"], json!({"mode": "shared"}), "{two}");
    // A rule that does not exist is refused before anything is connected.
    let p3 = id('9');
    let login = stack.fb_user(&id('7'), &[(&p3, "Three")], &[]).await;
    let (s, _) = connect(
        &stack,
        &account,
        json!({"user_access_token": login["user_access_token"], "sharing": {"mode": "shared", "rule": "nope"}}),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        stack
            .api("GET", &format!("/pages/{p3}"), Some(&admin), None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_takeover_attempt_is_refused_and_changes_nothing() {
    let stack = Stack::connect();
    let victim = stack.tenant().await;
    let attacker = format!("acct-{}", unique());
    let before = stack.stored_token(&victim.page_id).await;
    // Junk, another Page's token and the victim Page's own real token all fail for another
    // account: the junk ones as not the Page's, the real one because the Page is held.
    let other = stack.page_token(&id('9')).await;
    for (token, status, code) in [
        ("junk".to_owned(), 409, "page_registered_elsewhere"),
        (other, 409, "page_registered_elsewhere"),
    ] {
        let (s, v) = stack
            .api(
                "PUT",
                &format!("/pages/{}", victim.page_id),
                Some(&stack.admin(&attacker)),
                Some(json!({"access_token": token})),
            )
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)));
    }
    // A fresh Page id with junk: 422, nothing registered (before, this was 201 and a takeover).
    let fresh = id('9');
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{fresh}"),
            Some(&stack.admin(&attacker)),
            Some(json!({"access_token": "junk"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("token_not_for_page"))
    );
    assert!(
        stack.stored_token(&fresh).await.is_none(),
        "no secret written"
    );
    assert_eq!(stack.stored_token(&victim.page_id).await, before);
    assert_eq!(
        page(&stack, &victim.account, &victim.page_id).await["status"],
        "connected"
    );
    // The real owner can still register a second Page with the token of a person who has
    // full control of it.
    let token = stack.manager_token(&fresh).await;
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{fresh}"),
            Some(&stack.admin(&victim.account)),
            Some(json!({"access_token": token})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["subscribed_fields"].as_array().unwrap().len(), 12);
}

/// Only a person with full control of a Page (Meta's MANAGE task) connects it, through the
/// login flow and through `PUT /pages/{id}` alike: an analyst gets `missing_role` and nothing is
/// stored, so the real owner connects it afterwards as if nothing had happened (before, the
/// analyst's account held the Page and the owner got `registered_elsewhere`).
#[tokio::test]
async fn only_a_person_with_full_control_connects_a_page() {
    let stack = Stack::connect();
    let page = id('9');
    let intruder = format!("acct-{}", unique());
    for tasks in [
        &["ANALYZE"][..],
        &[
            "MODERATE",
            "MESSAGING",
            "CREATE_CONTENT",
            "ADVERTISE",
            "ANALYZE",
        ],
    ] {
        let login = stack.fb_user_with_tasks(&id('7'), &page, tasks).await;
        let user_token = login["user_access_token"]
            .as_str()
            .expect("a token")
            .to_owned();
        let (s, v) = connect(&stack, &intruder, json!({"user_access_token": user_token})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            results(&v),
            vec![(page.clone(), "missing_role".to_owned())],
            "{tasks:?}: {v}"
        );
        // A token of the same person, or the Page token they hold, through PUT.
        let page_token = stack.listed_page_token(&user_token, &page).await;
        for token in [user_token.as_str(), page_token.as_str()] {
            let (s, v) = stack
                .api(
                    "PUT",
                    &format!("/pages/{page}"),
                    Some(&stack.admin(&intruder)),
                    Some(json!({"access_token": token})),
                )
                .await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (422, Some("missing_role")),
                "{tasks:?}: {v}"
            );
        }
    }
    assert_eq!(
        stack
            .api(
                "GET",
                &format!("/pages/{page}"),
                Some(&stack.admin(&intruder)),
                None
            )
            .await
            .0,
        404,
        "nothing was registered"
    );
    assert!(stack.stored_token(&page).await.is_none(), "no token stored");
    // The owner connects it.
    let owner = format!("acct-{}", unique());
    let login = stack.fb_user(&id('7'), &[(&page, "Shop")], &[]).await;
    let (s, v) = connect(
        &stack,
        &owner,
        json!({"user_access_token": login["user_access_token"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(results(&v), vec![(page.clone(), "connected".to_owned())]);
}

#[tokio::test]
async fn channel_switches_skip_a_channels_events_and_delete_unsubscribes() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let (s, v) = stack
        .api(
            "PUT",
            &format!("/pages/{}", t.page_id),
            Some(&admin),
            Some(json!({"channels": {"messenger": true, "comments": false, "leads": true}})),
        )
        .await;
    assert_eq!(
        (s, v["channels"]["comments"].as_bool()),
        (200, Some(false)),
        "{v}"
    );
    let comment = json!({"field": "feed", "value": {"from": {"id": id('2'), "name": "C"}, "item": "comment", "verb": "add",
        "post_id": format!("{}_1", t.page_id), "comment_id": format!("1_{}", unique()),
        "parent_id": format!("{}_1", t.page_id), "created_time": now_ms() / 1000, "message": "hi"}});
    let body = json!({"object": "page", "entry": [{"id": t.page_id, "time": now_ms(), "changes": [comment]}]});
    let (s, _) = stack.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(s, 200, "acknowledged");
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": t.page_id, "psid": id('2'), "text": "still on"})),
        )
        .await;
    let list = stack
        .wait_for(
            "/conversations",
            &admin,
            "the messenger conversation",
            |v| v["items"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    stack.settled().await;
    let list2 = stack.get("/conversations", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(
        list2["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["channel"] == "messenger"),
        "the comment was skipped: {list2}"
    );
    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/pages/{}", t.page_id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        sim_calls(&stack, &format!("/{}/subscribed_apps", t.page_id))
            .await
            .iter()
            .any(|c| c["method"] == "DELETE"),
        "the app was unsubscribed"
    );
    assert!(stack.stored_token(&t.page_id).await.is_none());
}

#[tokio::test]
async fn the_health_check_finds_a_revoked_token_and_a_lost_subscription() {
    let stack = Stack::connect();
    let (dead, lost) = (stack.tenant().await, stack.tenant().await);
    stack
        .sim(
            "POST",
            &format!("/_sim/pages/{}/revoke", dead.page_id),
            None,
        )
        .await;
    stack
        .sim(
            "DELETE",
            &format!("/_sim/pages/{}/subscription", lost.page_id),
            None,
        )
        .await;
    // The test stack checks every 20 s (PAGEDESK_PAGE_CHECK_SECONDS).
    let p = eventually("the revoked Page marked", 90, || async {
        let p = page(&stack, &dead.account, &dead.page_id).await;
        (p["status"] == "reauth_required").then_some(p)
    })
    .await;
    assert!(
        p["last_check"]
            .as_str()
            .unwrap()
            .starts_with("reauth_required"),
        "{p}"
    );
    let p = eventually("the lost subscription repaired", 90, || async {
        let p = page(&stack, &lost.account, &lost.page_id).await;
        (p["last_check"] == "resubscribed").then_some(p)
    })
    .await;
    assert_eq!(p["status"], "connected");
    let token = stack.stored_token(&lost.page_id).await.unwrap();
    let subs: Value = stack
        .http
        .get(format!(
            "{}/v25.0/{}/subscribed_apps?access_token={token}",
            stack.s("sim_url"),
            lost.page_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        subs["data"][0]["subscribed_fields"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    for (t, kind) in [(&dead, "page.disconnected"), (&lost, "page.resubscribed")] {
        stack
            .wait_for("/events", &stack.admin(&t.account), kind, |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e["type"] == kind))
            })
            .await;
    }
    // Checks are spread: the healthy Page was checked, with two Graph calls.
    let debug = sim_calls(&stack, "/debug_token").await;
    assert!(!debug.is_empty());
}

async fn post_form(stack: &Stack, path: &str, body: &str) -> (u16, String) {
    let base = stack
        .s("webhook_url")
        .trim_end_matches("/webhook")
        .to_owned();
    let res = stack
        .http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.text().await.unwrap_or_default())
}

/// A Page connected by a known Facebook user: (account, page, user).
async fn connected_by_user(stack: &Stack) -> (String, String, String) {
    let (account, page_id, user) = (format!("acct-{}", unique()), id('9'), id('7'));
    let login = stack.fb_user(&user, &[(&page_id, "P")], &[]).await;
    let (s, v) = connect(
        stack,
        &account,
        json!({"user_access_token": login["user_access_token"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (account, page_id, user)
}

#[tokio::test]
async fn metas_signed_callbacks_deauthorize_and_delete_and_forgeries_change_nothing() {
    let stack = Stack::connect();
    let (account, page_id, user) = connected_by_user(&stack).await;
    let forged = pagedesk_shared::meta::signed_request::sign_request(
        b"not-the-app-secret",
        &json!({"algorithm": "HMAC-SHA256", "user_id": user}),
    );
    for body in [
        format!("signed_request={forged}"),
        "signed_request=abc".to_owned(),
        "signed_request=%25%25.%25%25".to_owned(),
        String::new(),
    ] {
        for path in ["/meta/deauthorize", "/meta/data-deletion"] {
            let (s, text) = post_form(&stack, path, &body).await;
            assert_eq!(s, 400, "{path} {body}: {text}");
        }
    }
    let p = page(&stack, &account, &page_id).await;
    assert_eq!(
        (p["status"].as_str(), p["connected_by"].as_str()),
        (Some("connected"), Some(user.as_str()))
    );

    // A genuine one captured two hours ago and replayed now changes nothing.
    let captured = pagedesk_shared::meta::signed_request::sign_request(
        stack.s("app_secret").as_bytes(),
        &json!({"algorithm": "HMAC-SHA256", "user_id": user, "issued_at": now_ms() / 1000 - 7200}),
    );
    for path in ["/meta/deauthorize", "/meta/data-deletion"] {
        let (s, text) = post_form(&stack, path, &format!("signed_request={captured}")).await;
        assert_eq!(s, 400, "{path}: {text}");
        assert!(text.contains("more than an hour ago"), "{text}");
    }
    let p = page(&stack, &account, &page_id).await;
    assert_eq!(
        (p["status"].as_str(), p["connected_by"].as_str()),
        (Some("connected"), Some(user.as_str())),
        "a replayed request disconnects nothing"
    );

    // Padding or not, a valid signed_request is accepted.
    let good = pagedesk_shared::meta::signed_request::sign_request(
        stack.s("app_secret").as_bytes(),
        &json!({"algorithm": "HMAC-SHA256", "user_id": "0", "issued_at": now_ms() / 1000}),
    );
    let (sig, payload) = good.split_once('.').unwrap();
    let padded = format!("{sig}=.{payload}");
    let (s, _) = post_form(
        &stack,
        "/meta/deauthorize",
        &format!("signed_request={padded}"),
    )
    .await;
    assert_eq!(s, 200);

    let v = stack
        .sim("POST", "/_sim/deauthorize", Some(json!({"user_id": user})))
        .await;
    assert_eq!(v["success"], true, "{v}");
    let p = page(&stack, &account, &page_id).await;
    assert_eq!(
        (p["status"].as_str(), p["status_reason"].as_str()),
        (Some("reauth_required"), Some("deauthorized"))
    );

    let v = stack
        .sim(
            "POST",
            "/_sim/data-deletion",
            Some(json!({"user_id": user})),
        )
        .await;
    let code = v["confirmation_code"].as_str().expect("a code").to_owned();
    let url = v["url"].as_str().expect("a status url").to_owned();
    assert!(
        url.ends_with(&format!("/meta/data-deletion/{code}")),
        "{url}"
    );
    let res = stack.http.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&code) && !html.contains(&user), "{html}");
    let p = page(&stack, &account, &page_id).await;
    assert_eq!(p["status"], "disconnected");
    assert!(p["connected_by"].is_null());
    assert!(
        stack.stored_token(&page_id).await.is_none(),
        "the granted token is gone"
    );
    let (s, _) = post_form(&stack, "/meta/data-deletion/unknowncode", "").await;
    assert_eq!(s, 404, "only GET on the status page");
    let res = stack
        .http
        .get(url.replace(&code, "0000"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_person_in_the_table() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let psid = id('2');
    let name = format!("Zelda Erasable {}", unique());
    let pic = format!("https://sim.invalid/pics/erase-{}.jpg", unique());
    stack
        .sim(
            "PUT",
            &format!("/_sim/users/{psid}"),
            Some(json!({"id": psid, "name": name, "first_name": "Zelda", "last_name": "Erasable", "profile_pic": pic})),
        )
        .await;
    let secret_text = format!("my card number is {}", unique());
    for text in ["hello", secret_text.as_str()] {
        stack
            .sim(
                "POST",
                "/_sim/messages",
                Some(json!({"page_id": t.page_id, "psid": psid, "text": text,
                            "attachments": [{"type": "image", "payload": {"url": "https://sim.invalid/erase.jpg"}}]})),
            )
            .await;
    }
    let conv = stack
        .wait_for("/conversations", &admin, "the conversation", |v| {
            v["items"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["contact"]["name"] == name.as_str())
        })
        .await["items"][0]
        .clone();
    let conv_id = conv["id"].as_str().unwrap().to_owned();
    stack
        .wait_for(
            &format!("/conversations/{conv_id}/messages"),
            &admin,
            "two messages",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 2),
        )
        .await;
    assert!(
        conv["last_message"]["text"].is_string(),
        "the list previews the last message: {conv}"
    );
    // A comment by the same person under a post.
    let contact_id = conv["contact"]["id"].as_str().unwrap().to_owned();
    let comment_text = format!("comment secret {}", unique());
    let comment = json!({"field": "feed", "value": {"from": {"id": psid, "name": name}, "item": "comment", "verb": "add",
        "post_id": format!("{}_5", t.page_id), "comment_id": format!("5_{}", unique()),
        "parent_id": format!("{}_5", t.page_id), "created_time": now_ms() / 1000, "message": comment_text}});
    let body = json!({"object": "page", "entry": [{"id": t.page_id, "time": now_ms(), "changes": [comment]}]});
    assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
    stack
        .wait_for(
            "/conversations?channel=comment",
            &admin,
            "the comment",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;

    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204, "again: 204");
    let contact = stack.get(&format!("/contacts/{contact_id}"), &admin).await;
    assert_eq!(contact["erased"], true);
    assert!(contact["name"].is_null() && contact["picture_url"].is_null());
    let msgs = stack.all_messages(&conv_id, &admin).await;
    assert!(
        msgs.iter().all(|m| m["erased"] == true
            && m["text"].is_null()
            && m["attachments"].as_array().is_none_or(|a| a.is_empty())),
        "{msgs:?}"
    );
    let c = stack
        .get(&format!("/conversations/{conv_id}"), &admin)
        .await;
    assert_eq!(
        (
            c["contact"]["erased"].as_bool(),
            c["contact"]["name"].is_null()
        ),
        (Some(true), true)
    );
    // The lists' preview quoted the person: gone too, in their comment thread as well.
    assert!(c["last_message"].is_null(), "{c}");
    let comments = stack.get("/conversations?channel=comment", &admin).await;
    assert!(comments["items"][0]["last_message"].is_null(), "{comments}");
    stack
        .wait_for("/events", &admin, "contact.erased", |v| {
            v["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["type"] == "contact.erased"))
        })
        .await;

    // Nothing of the person anywhere in the table or in Secrets Manager.
    let clients = stack.clients().await;
    let mut start = None;
    let needles = [
        name.as_str(),
        "Zelda",
        pic.as_str(),
        secret_text.as_str(),
        comment_text.as_str(),
        "erase.jpg",
    ];
    loop {
        let out = clients
            .dynamo()
            .scan()
            .table_name(stack.s("table"))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for item in out.items() {
            let text = format!("{item:?}");
            for n in needles {
                assert!(!text.contains(n), "{n:?} left in {text}");
            }
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    let secrets = clients.secrets().list_secrets().send().await.unwrap();
    for s in secrets.secret_list() {
        if let Some(n) = s.name() {
            let v = clients
                .secrets()
                .get_secret_value()
                .secret_id(n)
                .send()
                .await;
            if let Ok(v) = v {
                let text = v.secret_string().unwrap_or_default().to_owned();
                assert!(needles.iter().all(|n| !text.contains(n)));
            }
        }
    }
}

/// Meta's time format.
fn graph_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

#[tokio::test]
async fn a_history_import_survives_a_failed_step_and_never_duplicates_webhook_messages() {
    let stack = Stack::connect();
    let t: Tenant = stack.tenant().await;
    let admin = stack.admin(&t.account);
    // 15 conversations of 20 messages: 300. The first 5 people wrote within the last day.
    let mut threads = Vec::new();
    for i in 0..15i64 {
        let psid = id('3');
        let last = if i < 5 {
            now_ms() - HOUR_MS
        } else {
            now_ms() - 30 * HOUR_MS
        };
        let messages: Vec<Value> = (0..20)
            .map(|k| {
                let from = if k % 2 == 0 { "user" } else { "page" };
                // The person's message is the latest one.
                let at = last - (19 - k) * 60_000 - if from == "page" { 30_000 } else { 0 };
                json!({"from": if k == 19 { "user" } else { from }, "text": format!("old {i}/{k}"), "created_time": graph_time(at)})
            })
            .collect();
        let v = stack
            .sim(
                "POST",
                &format!("/_sim/pages/{}/history", t.page_id),
                Some(json!({"psid": psid, "messages": messages})),
            )
            .await;
        threads.push((psid, v["id"].as_str().unwrap().to_owned()));
    }
    // The third conversation's messages fail once: that step dies and is redone.
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": format!("/{}/messages", threads[2].1), "status": 500, "times": 1,
                        "body": {"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2}}})),
        )
        .await;
    let (s, v) = stack
        .api(
            "POST",
            &format!("/pages/{}/import", t.page_id),
            Some(&admin),
            Some(json!({"import_history": {"days": 3, "assign": "unassigned"}})),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = stack
        .api(
            "POST",
            &format!("/pages/{}/import", t.page_id),
            Some(&admin),
            Some(json!({"import_history": {"days": 3}})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("import_running"))
    );
    let p = eventually("the import done", 120, || async {
        let p = page(&stack, &t.account, &t.page_id).await;
        (p["import"]["status"] != "running").then_some(p)
    })
    .await;
    assert_eq!(p["import"]["status"], "done", "{p}");
    assert_eq!(p["import"]["conversations"], 15, "{p}");
    assert_eq!(p["import"]["messages"], 300, "{p}");
    let convs = stack.all_pages("/conversations", &admin, "cursor").await;
    assert_eq!(convs.len(), 15);
    let open = convs.iter().filter(|c| c["status"] == "open").count();
    assert_eq!(open, 5, "open only where the person wrote within 24 h");
    assert!(convs.iter().all(|c| c["assignee"].is_null()));
    let mut total = 0;
    let mut a_mid = None;
    for c in &convs {
        let msgs = stack.all_messages(c["id"].as_str().unwrap(), &admin).await;
        total += msgs.len();
        assert!(msgs.iter().all(|m| m["imported"] == true));
        if c["status"] == "open" {
            a_mid = msgs.iter().rev().find(|m| m["direction"] == "in").map(|m| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    m["external_id"].as_str().unwrap().to_owned(),
                    c["contact"]["id"].clone(),
                )
            });
        }
    }
    assert_eq!(total, 300, "every message once, the failed step's too");
    // Meta delivers one of them by webhook after all: not stored twice.
    let (conv, mid, _) = a_mid.unwrap();
    let psid = threads
        .iter()
        .find(|(p, _)| {
            convs.iter().any(|c| {
                c["id"] == conv.as_str()
                    && c["contact"]["id"]
                        .as_str()
                        .is_some_and(|id| id.ends_with(p.as_str()))
            })
        })
        .map(|(p, _)| p.clone())
        .unwrap();
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": t.page_id, "psid": psid, "text": "dup", "mid": mid})),
        )
        .await;
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": t.page_id, "psid": psid, "text": "new one"})),
        )
        .await;
    let msgs = stack
        .wait_for(
            &format!("/conversations/{conv}/messages?limit=100"),
            &admin,
            "the new message",
            |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|m| m["text"] == "new one"))
            },
        )
        .await;
    assert_eq!(
        msgs["items"].as_array().unwrap().len(),
        21,
        "20 imported + 1 new, the duplicate once"
    );
    // The feed holds events back a few seconds (SETTLE_MS).
    let progress: Vec<Value> = eventually("the import's done event", 30, || async {
        let feed = stack.all_pages("/events", &admin, "after").await;
        let p: Vec<Value> = feed
            .into_iter()
            .filter(|e| e["type"] == "page.import")
            .collect();
        p.last()
            .is_some_and(|e| e["data"]["status"] == "done")
            .then_some(p)
    })
    .await;
    assert!(progress.len() >= 3, "started, a step, done: {progress:?}");
    assert_eq!(progress.last().unwrap()["data"]["status"], "done");
    assert_eq!(progress.last().unwrap()["data"]["messages"], 300);
}

#[tokio::test]
async fn an_import_on_connect_routes_open_conversations_by_the_rules() {
    let stack = Stack::connect();
    let account = format!("acct-{}", unique());
    let admin = stack.admin(&account);
    let (s, _) = stack
        .api(
            "PUT",
            "/agents/alice",
            Some(&admin),
            Some(json!({"name": "Alice", "status": "online"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = stack
        .api(
            "PUT",
            "/routing-rules",
            Some(&admin),
            Some(json!({"rules": [{"name": "all", "agents": ["alice"], "method": "owner"}]})),
        )
        .await;
    assert_eq!(s, 200);
    // A live first message would be greeted; an imported one must not be.
    let (s, _) = stack
        .api(
            "PUT",
            "/settings",
            Some(&admin),
            Some(json!({"greeting": "Hi, we are here!"})),
        )
        .await;
    assert_eq!(s, 200);
    let page_id = id('9');
    for age in [HOUR_MS, 2 * HOUR_MS, 40 * HOUR_MS] {
        let at = graph_time(now_ms() - age);
        stack
            .sim(
                "POST",
                &format!("/_sim/pages/{page_id}/history"),
                Some(json!({"psid": id('3'), "messages": [
                    {"from": "user", "text": "do you ship to Oslo?", "created_time": at}]})),
            )
            .await;
    }
    let login = stack.fb_user(&id('7'), &[(&page_id, "Shop")], &[]).await;
    let (s, v) = connect(
        &stack,
        &account,
        json!({"user_access_token": login["user_access_token"], "import_history": {"days": 7, "assign": "rules"}}),
    )
    .await;
    assert_eq!(
        (s, v["pages"][0]["import"]["status"].as_str()),
        (200, Some("running")),
        "{v}"
    );
    let p = eventually("the import done", 60, || async {
        let p = page(&stack, &account, &page_id).await;
        (p["import"]["status"] == "done").then_some(p)
    })
    .await;
    assert_eq!(
        (
            p["import"]["conversations"].as_i64(),
            p["import"]["messages"].as_i64()
        ),
        (Some(3), Some(3))
    );
    let convs = stack.all_pages("/conversations", &admin, "cursor").await;
    let mut seen: Vec<(String, Option<String>)> = convs
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["assignee"].as_str().map(str::to_owned),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("open".to_owned(), Some("alice".to_owned())),
            ("open".to_owned(), Some("alice".to_owned())),
            ("resolved".to_owned(), None),
        ]
    );
    // Quietly: no greeting or away message went to the people of the past.
    assert!(
        sim_calls(&stack, &format!("/{page_id}/messages"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_import_that_cannot_reach_facebook_fails_visibly_instead_of_hanging() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": format!("/{}/conversations", t.page_id), "status": 503, "for_ms": 60_000,
                        "body": {"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}}})),
        )
        .await;
    let (s, _) = stack
        .api(
            "POST",
            &format!("/pages/{}/import", t.page_id),
            Some(&admin),
            Some(json!({"import_history": {"days": 3}})),
        )
        .await;
    assert_eq!(s, 202);
    // Each failed step is redelivered (2 s visibility on the test stack); the fourth receive
    // gives up before the queue would dead-letter the job.
    let p = eventually("the import failed", 60, || async {
        let p = page(&stack, &t.account, &t.page_id).await;
        (p["import"]["status"] != "running").then_some(p)
    })
    .await;
    assert_eq!(p["import"]["status"], "failed", "{p}");
    assert!(
        p["import"]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{p}"
    );
    let tries = sim_calls(&stack, &format!("/{}/conversations", t.page_id))
        .await
        .len();
    assert_eq!(tries, 4, "one call per receive, four receives");
    // A new import may start at once.
    let (s, _) = stack
        .api(
            "POST",
            &format!("/pages/{}/import", t.page_id),
            Some(&admin),
            Some(json!({"import_history": {"days": 3}})),
        )
        .await;
    assert_eq!(s, 202);
}
