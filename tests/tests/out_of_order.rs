//! Meta does not promise order across deliveries: an edit, a reaction or a receipt can arrive
//! before the message it is about. They wait (on the deferred queue, with a growing delay) and
//! apply once their target is there, instead of being dropped.

use pagedesk_e2e::{Stack, eventually, messaging_event, unique};
use pagedesk_shared::clock::{Clock, SystemClock};
use pagedesk_shared::store::Store;
use serde_json::json;

#[tokio::test]
async fn an_edit_and_a_reaction_that_overtake_their_message_are_applied_when_it_arrives() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let mid = format!("m_{}", unique());
    let at = SystemClock.now_ms();
    let edit = messaging_event(
        &t.page_id,
        &user,
        at + 2,
        json!({"message_edit": {"mid": mid, "text": "see you at 5", "num_edit": 1}}),
    );
    let reaction = messaging_event(
        &t.page_id,
        &user,
        at + 3,
        json!({"reaction": {"mid": mid, "action": "react", "emoji": "\u{2764}", "reaction": "love"}}),
    );
    let read = messaging_event(
        &t.page_id,
        &user,
        at + 4,
        json!({"read": {"watermark": at + 4}}),
    );
    // Each in its own delivery, the way Meta's separate POSTs can overtake each other.
    stack.deliver(&t.page_id, vec![edit]).await;
    stack.deliver(&t.page_id, vec![reaction]).await;
    stack.deliver(&t.page_id, vec![read]).await;
    // The router has taken all three before the message exists: every queue drained, nothing
    // in flight (the three wait, delayed, on the deferred queue).
    stack.settled_but_delayed().await;
    let message = messaging_event(
        &t.page_id,
        &user,
        at,
        json!({"message": {"mid": mid, "text": "see you at 4"}}),
    );
    stack.deliver(&t.page_id, vec![message]).await;

    let tok = stack.admin(&t.account);
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    let msgs = stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &tok,
            "the early edit and reaction applied",
            |v| {
                v["items"][0]["text"] == "see you at 5"
                    && v["items"][0]["reaction"]["reaction"] == "love"
            },
        )
        .await;
    assert_eq!(msgs["items"].as_array().map(Vec::len), Some(1), "{msgs}");
    let m = &msgs["items"][0];
    assert!(m["edited_at"].is_string(), "{m}");
    assert_eq!(m["reaction"]["emoji"], "\u{2764}");
    // The read receipt waited for the person and reached their thread.
    let store = Store::new(stack.clients().await.dynamo(), stack.s("table"));
    let contact = conv["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually("the early read receipt", 20, || {
        let store = store.clone();
        let (account, contact) = (t.account.clone(), contact.clone());
        async move {
            let c = store.get_contact(&account, &contact).await.ok()??;
            (c.read_watermark == Some(at + 4)).then_some(())
        }
    })
    .await;
}

/// A Messenger message is keyed by Meta's time and id, not guarded by an extra item. A delivery
/// Meta repeats after the person's conversation was resolved and a new one opened is still
/// recognised (it is older than the new conversation's first message, and found in the
/// previous one), while a message that is merely late goes into the open conversation.
#[tokio::test]
async fn a_redelivery_after_a_resolve_is_not_stored_again_and_a_late_message_is() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let user = format!("7{}", unique());
    let at = SystemClock.now_ms() - 60_000;
    let event = |mid: &str, text: &str, ts: i64| {
        messaging_event(
            &t.page_id,
            &user,
            ts,
            json!({"message": {"mid": mid, "text": text}}),
        )
    };
    let (a, b, late) = (
        format!("m_a{}", unique()),
        format!("m_b{}", unique()),
        format!("m_l{}", unique()),
    );
    stack
        .deliver(&t.page_id, vec![event(&a, "first", at)])
        .await;
    let (first_conv, _) = stack.single_conversation(&t, 1).await;
    let first_id = first_conv["id"].as_str().unwrap_or_default().to_owned();
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{first_id}/resolve"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    stack
        .deliver(&t.page_id, vec![event(&b, "second", at + 20_000)])
        .await;
    let open = stack
        .wait_for(
            "/conversations?status=open",
            &tok,
            "a new conversation",
            |v| v["items"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    let second_id = open["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(second_id, first_id);
    // Meta repeats both deliveries, then a message it had held back arrives.
    stack
        .deliver(&t.page_id, vec![event(&a, "first", at)])
        .await;
    stack
        .deliver(&t.page_id, vec![event(&b, "second", at + 20_000)])
        .await;
    stack
        .deliver(&t.page_id, vec![event(&late, "held back", at + 10_000)])
        .await;
    let msgs = stack
        .wait_for(
            &format!("/conversations/{second_id}/messages"),
            &tok,
            "the late message",
            |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|m| m["text"] == "held back"))
            },
        )
        .await;
    // One person's deliveries are handled in order: the repeats were handled before the late one.
    // ("first" is there once more as context: the previous conversation's tail, marked so.)
    let texts: Vec<&str> = msgs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["context"] != true)
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["held back", "second"], "{msgs}");
    let first = stack.all_messages(&first_id, &tok).await;
    assert_eq!(first.len(), 1, "{first:?}");
    // A reaction names only the mid: it reaches the original in the resolved conversation, not
    // the copy carried into the new one as context.
    let reaction = messaging_event(
        &t.page_id,
        &user,
        at + 30_000,
        json!({"reaction": {"mid": a, "action": "react", "emoji": "\u{2764}", "reaction": "love"}}),
    );
    stack.deliver(&t.page_id, vec![reaction]).await;
    stack
        .wait_for(
            &format!("/conversations/{first_id}/messages"),
            &tok,
            "the reaction on the original",
            |v| v["items"][0]["reaction"]["reaction"] == "love",
        )
        .await;
    let copy = stack.all_messages(&second_id, &tok).await;
    let copy: Vec<&serde_json::Value> = copy.iter().filter(|m| m["context"] == true).collect();
    assert_eq!(copy.len(), 1, "{copy:?}");
    assert!(copy[0]["reaction"].is_null(), "{copy:?}");
    let all = stack.get("/conversations?status=all", &tok).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
}
