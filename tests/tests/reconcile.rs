//! Reconciliation: a message whose webhook Meta never sent appears anyway, once, and is
//! counted in the Page's diagnostics. It needs a short reconciliation period, which would add
//! Graph calls to every other test's Pages, so it runs on a stack of its own: `make test` runs
//! it in a phase of its own (`PAGEDESK_RECONCILE_SECONDS=2`, `cargo test --test reconcile --
//! --ignored`).

use pagedesk_e2e::{Stack, eventually, unique};
use serde_json::{Value, json};

/// The messages of `psid`'s conversation on `page`, once there are `n` of them.
async fn messages_of(stack: &Stack, account: &str, page: &str, psid: &str, n: usize) -> Vec<Value> {
    let what = format!("{n} message(s)");
    stack
        .messages_when(account, page, psid, &what, 60, |m| m.len() >= n)
        .await
        .1
}

#[tokio::test]
#[ignore = "needs a stack with a short PAGEDESK_RECONCILE_SECONDS: make test runs it on one of its own"]
async fn a_message_whose_webhook_never_came_appears_once_and_is_counted() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let psid = format!("4{:014}", unique());
    // The person writes; Meta keeps the message in the Page's conversations but never sends
    // its webhook.
    let sent = stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": t.page_id, "psid": psid, "text": "did anyone get this?", "drop_webhook": true})),
        )
        .await;
    assert!(sent["webhook_status"].is_null(), "{sent}");
    let mid = sent["mid"].as_str().unwrap_or_default().to_owned();
    let items = messages_of(&stack, &t.account, &t.page_id, &psid, 1).await;
    assert_eq!(items[0]["text"], "did anyone get this?", "{items:?}");
    let path = format!("/pages/{}/diagnostics", t.page_id);
    let d = eventually("the reconciled message counted", 30, || async {
        let d = stack.get(&path, &admin).await;
        (d["reconciliation"]["reconciled_messages"] == 1).then_some(d)
    })
    .await;
    assert!(
        d["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["code"] == "webhooks_missed")),
        "{d}"
    );
    assert_eq!(d["subscription"]["missing"], json!([]), "{d}");
    assert_eq!(d["token"]["valid"], true, "{d}");

    // Later runs read the same conversation again and store nothing twice; neither does the
    // webhook that finally arrives with the same mid.
    let first = d["reconciliation"]["last_run"]["started_at"].clone();
    eventually("a later reconciliation done", 30, || async {
        let d = stack.get(&path, &admin).await;
        let run = &d["reconciliation"]["last_run"];
        (run["started_at"] != first && run["status"] == "done").then_some(())
    })
    .await;
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(json!({"page_id": t.page_id, "psid": psid, "text": "did anyone get this?", "mid": mid})),
        )
        .await;
    stack.settled().await;
    let items = messages_of(&stack, &t.account, &t.page_id, &psid, 1).await;
    assert_eq!(items.len(), 1, "once: {items:?}");
    let d = stack.get(&path, &admin).await;
    assert_eq!(d["reconciliation"]["reconciled_messages"], 1, "{d}");
    assert!(
        !d["last_webhook_at"].is_null(),
        "the late webhook is seen: {d}"
    );
}
