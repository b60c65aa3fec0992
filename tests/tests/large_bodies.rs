//! Webhook bodies larger than one SQS batch, and an event larger than a queue message: Meta gets
//! its 200, every event is stored once, and one person's events are handled in the order of the
//! body.

use pagedesk_e2e::{Stack, created_by_conversation, envelope, messaging_event, unique};
use serde_json::{Value, json};

const PEOPLE: usize = 50;
const PER_PERSON: usize = 20;

#[tokio::test]
async fn a_thousand_events_in_one_body_are_stored_once_and_in_order_per_person() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    let base = 1_700_000_000_000i64 + (unique() % 1_000_000) as i64;
    let people: Vec<String> = (0..PEOPLE).map(|_| format!("7{}", unique())).collect();
    // Interleaved as Meta batches them: person 0's first, person 1's first, ...
    let mut items = Vec::new();
    for i in 0..PER_PERSON {
        for p in &people {
            items.push(messaging_event(
                &t.page_id,
                p,
                base + i as i64,
                json!({"message": {"mid": format!("m_{p}_{i}"), "text": format!("{i}")}}),
            ));
        }
    }
    let body = envelope(&t.page_id, "messaging", items).to_string();
    let (status, text) = stack.post_webhook(body.as_bytes()).await;
    assert_eq!(status, 200, "{text}");

    // The router's message.created events, in the order it stored the messages.
    let feed = stack
        .watch_feed(&tok, 500, 120, |seen| {
            seen.iter()
                .filter(|e| e["type"] == "message.created")
                .count()
                >= PEOPLE * PER_PERSON
        })
        .await;
    let stored = created_by_conversation(&feed);
    assert_eq!(stored.len(), PEOPLE, "one conversation per person");
    for (conv, ids) in &stored {
        let msgs = stack.all_messages(conv, &tok).await;
        let texts: Vec<&str> = msgs
            .iter()
            .map(|m| m["text"].as_str().unwrap_or(""))
            .collect();
        let expected: Vec<String> = (0..PER_PERSON).map(|i| i.to_string()).collect();
        assert_eq!(texts, expected, "each message once in {conv}");
        let by_time: Vec<&str> = msgs
            .iter()
            .map(|m| m["id"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            ids.iter().map(String::as_str).collect::<Vec<_>>(),
            by_time,
            "conversation {conv}: messages were stored out of the body's order"
        );
    }
}

#[tokio::test]
async fn an_event_of_one_and_a_half_megabytes_is_kept_in_s3_and_processed() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    // Built-in NLP attaches its findings to the message; here they make the event 1.5 MB.
    let entities: Vec<Value> = (0..15_000)
        .map(|i| json!({"confidence": 0.5, "value": format!("{i:0>80}")}))
        .collect();
    let big = messaging_event(
        &t.page_id,
        &user,
        1_700_000_000_000i64,
        json!({"message": {"mid": format!("m_big_{user}"), "text": "the large one", "nlp": {"entities": {"x": entities}}}}),
    );
    let small = messaging_event(
        &t.page_id,
        &user,
        1_700_000_000_001i64,
        json!({"message": {"mid": format!("m_small_{user}"), "text": "after it"}}),
    );
    let body = envelope(&t.page_id, "messaging", vec![big, small]).to_string();
    assert!(body.len() > 1_500_000, "the body is {} bytes", body.len());
    let (status, text) = stack.post_webhook(body.as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    // Meta's retry of the same body is not stored twice.
    let (status, _) = stack.post_webhook(body.as_bytes()).await;
    assert_eq!(status, 200);
    let (_, msgs) = stack.single_conversation(&t, 2).await;
    let texts: Vec<&str> = msgs
        .iter()
        .map(|m| m["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["the large one", "after it"]);
}
