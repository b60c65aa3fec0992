//! Meta does not promise order across deliveries: an edit, a reaction or a receipt can arrive
//! before the message it is about. They wait (on the deferred queue, with a growing delay) and
//! apply once their target is there, instead of being dropped.

use pagedesk_e2e::{Stack, eventually, unique};
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
    let edit = json!({"sender": {"id": user}, "recipient": {"id": t.page_id}, "timestamp": at + 2,
        "message_edit": {"mid": mid, "text": "see you at 5", "num_edit": 1}});
    let reaction = json!({"sender": {"id": user}, "recipient": {"id": t.page_id}, "timestamp": at + 3,
        "reaction": {"mid": mid, "action": "react", "emoji": "\u{2764}", "reaction": "love"}});
    let read = json!({"sender": {"id": user}, "recipient": {"id": t.page_id}, "timestamp": at + 4,
        "read": {"watermark": at + 4}});
    // Each in its own delivery, the way Meta's separate POSTs can overtake each other.
    stack.deliver(&t.page_id, vec![edit]).await;
    stack.deliver(&t.page_id, vec![reaction]).await;
    stack.deliver(&t.page_id, vec![read]).await;
    // Let the router see all three before the message exists.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let message = json!({"sender": {"id": user}, "recipient": {"id": t.page_id}, "timestamp": at,
        "message": {"mid": mid, "text": "see you at 4"}});
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
    // The read receipt waited for the person and reached their conversation.
    let store = Store::new(stack.clients().await.dynamo, stack.s("table"));
    eventually("the early read receipt", 20, || {
        let store = store.clone();
        let (account, id) = (t.account.clone(), id.clone());
        async move {
            let c = store.get_conversation(&account, &id).await.ok()??;
            (c.read_watermark == Some(at + 4)).then_some(())
        }
    })
    .await;
}
