//! The webhook's contract with Meta: handshake, signatures on the raw bytes, malformed bodies,
//! exactly-once effect, batches across Pages, an SQS outage during the POST, poison records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pagedesk_e2e::{Stack, envelope, eventually, text_event_with_mid, unique};
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::meta::signature;
use pagedesk_shared::runtime::config::{FunctionConfig, WebhookConfig};
use pagedesk_webhook::Webhook;
use serde_json::{Value, json};

/// A fixed time, so a repeated body is byte for byte the same.
const AT: i64 = 1_700_000_000_000;

#[tokio::test]
async fn handshake_echoes_the_challenge_and_refuses_a_wrong_token() {
    let stack = Stack::connect();
    let url = stack.s("webhook_url");
    let ok = stack
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
            stack.s("verify_token")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = stack
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    let no_mode = stack
        .http
        .get(format!(
            "{url}?hub.verify_token={}&hub.challenge=1",
            stack.s("verify_token")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_mode.status(), 403);
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_stored() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let body = envelope(
        &t.page_id,
        "messaging",
        vec![text_event_with_mid(
            &t.page_id,
            "71",
            &format!("m_{}", unique()),
            "forged",
            AT,
        )],
    )
    .to_string();
    assert_eq!(stack.post_webhook_with(body.as_bytes(), None).await.0, 401);
    let wrong = signature::sign(b"not-the-app-secret", body.as_bytes());
    assert_eq!(
        stack
            .post_webhook_with(body.as_bytes(), Some(&wrong))
            .await
            .0,
        403
    );
    assert_eq!(
        stack
            .post_webhook_with(body.as_bytes(), Some("sha256=zz"))
            .await
            .0,
        403
    );
    // Signed for other bytes (the same JSON, pretty-printed).
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let sig_of_pretty = signature::sign(stack.s("app_secret").as_bytes(), pretty.as_bytes());
    assert_eq!(
        stack
            .post_webhook_with(body.as_bytes(), Some(&sig_of_pretty))
            .await
            .0,
        403
    );
    stack.settled().await;
    let list = stack.get("/conversations", &stack.admin(&t.account)).await;
    assert_eq!(
        list["items"],
        json!([]),
        "a refused POST must leave nothing behind"
    );
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_a_400() {
    let stack = Stack::connect();
    for body in [
        &b"{\"object\":\"page\",\"entry\":[{\"id\":"[..],
        b"not json at all",
        b"[1,2,3]",
        b"{\"object\":\"page\"}",
    ] {
        let (status, text) = stack.post_webhook(body).await;
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(body));
        assert!(text.contains("\"error\""), "{text}");
    }
}

#[tokio::test]
async fn the_same_body_posted_three_times_leaves_one_message() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let body = envelope(
        &t.page_id,
        "messaging",
        vec![text_event_with_mid(
            &t.page_id,
            &user,
            &format!("m_{}", unique()),
            "once",
            AT,
        )],
    )
    .to_string();
    for _ in 0..3 {
        assert_eq!(stack.post_webhook(body.as_bytes()).await.0, 200);
    }
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    stack.settled().await;
    let (_, msgs_later) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs_later.len(), 1, "{msgs_later:?}");
}

#[tokio::test]
async fn an_sqs_redelivery_past_the_fifo_dedupe_window_is_still_one_message() {
    // Meta may retry hours later and SQS only dedupes for 5 minutes: the router's conditional
    // write is what keeps one message. Send the same event twice with different dedupe ids.
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let item = text_event_with_mid(
        &t.page_id,
        &user,
        &format!("m_{}", unique()),
        "redelivered",
        AT,
    );
    let body = json!({"v": 1, "object": "page", "page_id": t.page_id, "field": "messaging", "received_at": 1, "event": item}).to_string();
    let clients = stack.clients().await;
    for i in 0..2 {
        clients
            .sqs()
            .send_message()
            .queue_url(stack.queue_url("InboundQueue"))
            .message_body(&body)
            .message_group_id(format!("{}:u:{user}", t.page_id))
            .message_deduplication_id(format!("redelivery-{}-{i}", unique()))
            .send()
            .await
            .unwrap();
    }
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    stack.settled().await;
    let (_, later) = stack.single_conversation(&t, 1).await;
    assert_eq!((msgs.len(), later.len()), (1, 1));
}

#[tokio::test]
async fn one_batch_spanning_two_pages_of_two_accounts() {
    let stack = Stack::connect();
    let (a, b) = (stack.tenant().await, stack.tenant().await);
    let user = format!("7{}", unique());
    // The fixture used for the signature test vector: two entries for two Pages.
    let raw = std::fs::read_to_string(
        pagedesk_e2e::fixtures_dir().join("signature_vector_raw_body.json"),
    )
    .unwrap();
    let raw = raw
        .replace("189538289069256", &b.page_id)
        .replace("1895382890692545", &a.page_id)
        .replace("1412611362105802", &user);
    assert_eq!(stack.post_webhook(raw.as_bytes()).await.0, 200);
    let (_, ma) = stack.single_conversation(&a, 1).await;
    let (_, mb) = stack.single_conversation(&b, 1).await;
    assert_eq!(ma[0]["text"], "test 1");
    assert_eq!(mb[0]["text"], "test 2");
}

#[tokio::test]
async fn a_base64_encoded_body_from_api_gateway_verifies_on_the_decoded_bytes() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let body = envelope(
        &t.page_id,
        "messaging",
        vec![text_event_with_mid(
            &t.page_id,
            &user,
            &format!("m_{}", unique()),
            "héllo äöå",
            AT,
        )],
    )
    .to_string();
    let sig = signature::sign(stack.s("app_secret").as_bytes(), body.as_bytes());
    use base64::Engine as _;
    let event = json!({
        "version": "2.0", "routeKey": "POST /webhook", "rawPath": "/webhook", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-hub-signature-256": sig},
        "requestContext": {"accountId": "1", "apiId": "x", "domainName": "x", "domainPrefix": "x", "requestId": "r", "routeKey": "POST /webhook",
            "stage": "$default", "time": "21/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "facebookexternalua"}},
        "body": base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
        "isBase64Encoded": true
    });
    let req = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 event");
    let webhook = in_process_webhook(&stack, &stack.s("moto_url")).await;
    let resp = webhook.handle(req).await;
    assert_eq!(resp.status(), 200);
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["text"], "héllo äöå");
}

async fn in_process_webhook(stack: &Stack, sqs_endpoint: &str) -> Webhook {
    let clients = pagedesk_local::aws::clients_for(
        &stack.s("dynamodb_url"),
        sqs_endpoint,
        &stack.s("moto_url"),
    );
    let secrets = stack.info["secrets"].clone();
    let cfg = WebhookConfig::from_lookup(|k| match k {
        "PAGEDESK_TABLE" => Some(stack.s("table")),
        "PAGEDESK_INBOUND_QUEUE_URL" => Some(stack.queue_url("InboundQueue")),
        "PAGEDESK_APP_SECRET_ID" => secrets["AppSecret"].as_str().map(str::to_owned),
        "PAGEDESK_VERIFY_TOKEN_ID" => secrets["VerifyToken"].as_str().map(str::to_owned),
        _ => None,
    })
    .unwrap();
    Webhook::new(cfg, &clients, Arc::new(SystemClock))
}

#[tokio::test]
async fn an_sqs_outage_answers_5xx_and_meta_retry_loses_nothing() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let body = envelope(
        &t.page_id,
        "messaging",
        vec![text_event_with_mid(
            &t.page_id,
            &user,
            &format!("m_{}", unique()),
            "survives an outage",
            AT,
        )],
    )
    .to_string();
    let sig = signature::sign(stack.s("app_secret").as_bytes(), body.as_bytes());
    // The same webhook code with SQS unreachable (nothing listens on that port).
    let dead = format!(
        "http://127.0.0.1:{}",
        pagedesk_e2e::unique() % 20_000 + 40_000
    );
    let down = in_process_webhook(&stack, &dead).await;
    let mut req = lambda_http::http::Request::new(lambda_http::Body::Text(body.clone()));
    *req.method_mut() = lambda_http::http::Method::POST;
    *req.uri_mut() = "/webhook".parse().unwrap();
    req.headers_mut()
        .insert("x-hub-signature-256", sig.parse().unwrap());
    let started = Instant::now();
    let resp = down.handle(req).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "Meta waits 20 s at most; answered in {:?}",
        started.elapsed()
    );
    stack.settled().await;
    assert_eq!(
        stack.get("/conversations", &stack.admin(&t.account)).await["items"],
        json!([])
    );
    // Meta retries the same bytes; now SQS is there.
    assert_eq!(stack.post_webhook(body.as_bytes()).await.0, 200);
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["text"], "survives an outage");
}

#[tokio::test]
async fn a_poison_record_lands_in_the_dlq_and_its_neighbours_are_fine() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let clients = stack.clients().await;
    let marker = format!("poison-{}", unique());
    let user = format!("7{}", unique());
    let good = json!({"v": 1, "object": "page", "page_id": t.page_id, "field": "messaging", "received_at": 1,
        "event": text_event_with_mid(&t.page_id, &user, &format!("m_{}", unique()), "neighbour", AT)});
    let entries = vec![
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id("poison")
            .message_body(format!("{{\"this is\": \"{marker}\""))
            .message_group_id(format!("poison-group-{marker}"))
            .message_deduplication_id(marker.clone())
            .build()
            .unwrap(),
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id("good")
            .message_body(good.to_string())
            .message_group_id(format!("{}:u:{user}", t.page_id))
            .message_deduplication_id(format!("good-{marker}"))
            .build()
            .unwrap(),
    ];
    clients
        .sqs()
        .send_message_batch()
        .queue_url(stack.queue_url("InboundQueue"))
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["text"], "neighbour");
    // maxReceiveCount (5) receives, 1 s apart in the test stack, then the DLQ.
    let dlq = stack.queue_url("InboundDeadLetterQueue");
    eventually("the poison record in the dead-letter queue", 40, || async {
        let out = clients
            .sqs()
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        out.messages()
            .iter()
            .any(|m| m.body().is_some_and(|b| b.contains(&marker)))
            .then_some(())
    })
    .await;
}
