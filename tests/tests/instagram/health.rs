//! The health check of a Page with an Instagram account: it follows the account (linked,
//! unlinked, another one, a permission taken back) and mends the app's Instagram webhook.

use super::*;

#[tokio::test]
async fn the_health_check_follows_the_instagram_account_and_mends_the_apps_webhook() {
    let stack = Stack::connect();
    let (a_account, a_page, a_ig, _) = connect(&stack, &[], true).await;
    let (b_account, b_page, b_ig, _) = connect(&stack, &[], true).await;
    // On Meta's side: A's owner takes a permission back and links another account to the
    // Page; B's Page is unlinked from its account.
    let new_ig = format!("178415{:011}", unique());
    sim_put(
        &stack,
        &format!("/_sim/fb-users/{}/declined", user_of(&a_page)),
        json!(["instagram_manage_comments"]),
    )
    .await;
    sim_put(
        &stack,
        &format!("/_sim/pages/{a_page}/instagram"),
        json!({"id": new_ig, "username": "shop.renamed"}),
    )
    .await;
    sim_put(
        &stack,
        &format!("/_sim/pages/{b_page}/instagram"),
        Value::Null,
    )
    .await;
    // And the app's Instagram webhook loses two fields (someone in the App Dashboard).
    let alone = APP_WEBHOOK.lock().await;
    let app = stack.s("app_id");
    let dropped = stack
        .http
        .delete(format!(
            "{}/v25.0/{app}/subscriptions?object=instagram&fields=comments,live_comments&access_token={app}%7Csim-app-token",
            stack.s("sim_url")
        ))
        .send()
        .await
        .expect("sim reachable");
    assert_eq!(dropped.status().as_u16(), 200);
    assert!(!complete(&instagram_webhook_fields(&stack).await));

    // The test stack checks every 20 s (PAGEDESK_PAGE_CHECK_SECONDS).
    let page_of = |account: String, page_id: String| {
        let stack = &stack;
        async move {
            stack
                .get(&format!("/pages/{page_id}"), &stack.admin(&account))
                .await
        }
    };
    let a = eventually("A's new Instagram account recorded", 90, || async {
        let p = page_of(a_account.clone(), a_page.clone()).await;
        (p["instagram"]["id"] == new_ig.as_str()).then_some(p)
    })
    .await;
    assert_eq!(
        a["instagram"],
        json!({"id": new_ig, "username": "shop.renamed", "status": "missing_permissions",
               "missing_permissions": ["instagram_manage_comments"]}),
        "{a}"
    );
    eventually("B's Instagram account gone", 90, || async {
        let p = page_of(b_account.clone(), b_page.clone()).await;
        p["instagram"].is_null().then_some(())
    })
    .await;
    let fields = eventually("the app's Instagram webhook mended", 90, || async {
        let f = instagram_webhook_fields(&stack).await;
        complete(&f).then_some(f)
    })
    .await;
    assert_eq!(fields.len(), INSTAGRAM_FIELDS.len(), "{fields:?}");
    // The admin's diagnostics say the same, and what to do about the permission.
    let d = stack
        .get(
            &format!("/pages/{a_page}/diagnostics"),
            &stack.admin(&a_account),
        )
        .await;
    assert_eq!(d["instagram"]["account"]["id"], new_ig.as_str(), "{d}");
    assert_eq!(d["instagram"]["webhook"]["missing"], json!([]), "{d}");
    let codes: Vec<&str> = d["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"instagram_missing_permissions"), "{d}");
    assert!(!codes.contains(&"instagram_webhook_incomplete"), "{d}");
    // The stack stores the app secret: every call carries its proof, and nothing is said.
    assert_eq!(d["appsecret_proof"], "sent", "{d}");
    assert!(!codes.contains(&"appsecret_proof_off"), "{d}");
    // No connect ran meanwhile (`alone`): a health check mended it, and told its account.
    let accounts = IG_ACCOUNTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    eventually(
        "page.resubscribed for the Instagram webhook",
        30,
        || async {
            for acct in &accounts {
                let (_, v) = stack
                    .api("GET", "/events?limit=200", Some(&stack.admin(acct)), None)
                    .await;
                let found = v["items"].as_array().into_iter().flatten().any(|e| {
                    e["type"] == "page.resubscribed"
                        && e["data"]["object"] == "instagram"
                        && e["data"]["missing_fields"] == json!(["comments", "live_comments"])
                });
                if found {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
    drop(alone);

    // Each change is in its account's feed, with what it was before.
    for (account, now, before) in [
        (&a_account, Value::from(new_ig.as_str()), &a_ig),
        (&b_account, Value::Null, &b_ig),
    ] {
        stack
            .wait_for(
                "/events?limit=200",
                &stack.admin(account),
                "page.instagram_changed",
                |v| {
                    v["items"].as_array().into_iter().flatten().any(|e| {
                        e["type"] == "page.instagram_changed"
                            && e["data"]["instagram"]["id"] == now
                            && e["data"]["previous"]["id"] == before.as_str()
                    })
                },
            )
            .await;
    }
    // The new account's Direct messages reach A; the unlinked account's reach no one.
    let igsid = format!("3{:014}", unique());
    dm(&stack, &new_ig, &igsid, json!({"text": "new account, hi"})).await;
    stack
        .messages_when(
            &a_account,
            &a_page,
            &igsid,
            "a message to the new account",
            20,
            |m| m.len() == 1,
        )
        .await;
    dm(
        &stack,
        &b_ig,
        &format!("3{:014}", unique()),
        json!({"text": "anyone?"}),
    )
    .await;
    stack.settled().await;
    let list = stack
        .get("/conversations?channel=instagram", &stack.admin(&b_account))
        .await;
    assert_eq!(list["items"], json!([]), "{list}");
}
