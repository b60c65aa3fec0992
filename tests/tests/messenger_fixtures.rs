//! Every Messenger payload in the fixtures, through a signed POST to the local webhook, comes
//! out of the agent API as the right conversation, contact and message.

use pagedesk_e2e::{Stack, envelope, fixture, messaging_event, retarget, unique};
use serde_json::{Value, json};

const FIXTURE_PAGE: &str = "404217156637689";
const FIXTURE_USER: &str = "1423587017700273";

/// Sends one fixture `messaging[]` item for a fresh tenant and returns (conversation, messages).
async fn through(
    stack: &Stack,
    name: &str,
    from_page: &str,
    expected_messages: usize,
) -> (Value, Vec<Value>, pagedesk_e2e::Tenant) {
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let item = retarget(&fixture(name), from_page, &t.page_id, &user);
    let item: Value = serde_json::from_str(&item.to_string().replace(FIXTURE_USER, &user)).unwrap();
    let body = envelope(&t.page_id, "messaging", vec![item]);
    let (status, text) = stack.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{name}: {text}");
    let (conv, msgs) = stack.single_conversation(&t, expected_messages).await;
    (conv, msgs, t)
}

#[tokio::test]
async fn text_message_makes_contact_conversation_and_message() {
    let stack = Stack::connect();
    let (conv, msgs, t) = through(&stack, "message_text.json", FIXTURE_PAGE, 1).await;
    assert_eq!(conv["channel"], "messenger");
    assert_eq!(conv["status"], "open");
    assert_eq!(conv["page_id"], t.page_id.as_str());
    assert_eq!(
        conv["window"]["state"], "closed",
        "the fixture's message is from 2017, so its window is long closed"
    );
    let m = &msgs[0];
    assert_eq!(m["text"], "Sharp tools make good work.");
    assert_eq!(m["direction"], "in");
    assert_eq!(m["status"], "received");
    assert_eq!(m["author"]["type"], "contact");
    assert_eq!(m["external_id"], "mid.$cAAE1UUyiiwthh0NPrVbVf4HFNDGl");
    assert_eq!(
        m["created_at"], "2017-04-10T03:52:43.181Z",
        "Meta's millisecond timestamp is kept"
    );
    let contact_id = conv["contact"]["id"].as_str().unwrap();
    let contact = stack
        .get(&format!("/contacts/{contact_id}"), &stack.admin(&t.account))
        .await;
    assert_eq!(contact["profile_status"], "fetched");
    assert!(
        contact["name"].as_str().unwrap().starts_with("Test Person"),
        "{contact}"
    );
    assert_eq!(conv["contact"]["name"], contact["name"]);
    assert!(
        contact["picture_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

#[tokio::test]
async fn every_attachment_type() {
    let stack = Stack::connect();
    for (name, kind, url) in [
        (
            "attachment_audio.json",
            "audio",
            Some("https://example.com/bot/audios/audio.mp3"),
        ),
        (
            "attachment_video.json",
            "video",
            Some("https://example.com/bot/videos/video.mp4"),
        ),
        (
            "attachment_file.json",
            "file",
            Some("https://example.com/bot/files/file.doc"),
        ),
        ("attachment_image_fbcdn.json", "image", None),
        (
            "attachment_fallback.json",
            "fallback",
            Some("URL_OF_THE_ATTACHMENT"),
        ),
        ("attachment_location.json", "location", None),
        ("attachment_sticker_like.json", "image", None),
    ] {
        let (_, msgs, _) = through(&stack, name, FIXTURE_PAGE, 1).await;
        let a = &msgs[0]["attachments"][0];
        assert_eq!(a["type"], kind, "{name}: {a}");
        if let Some(u) = url {
            assert_eq!(a["url"], u, "{name}");
        }
        match name {
            "attachment_image_fbcdn.json" => {
                assert!(a["url"].as_str().unwrap().contains("fbcdn.net"))
            }
            "attachment_fallback.json" => assert_eq!(a["title"], "TITLE_OF_THE_URL_ATTACHMENT"),
            "attachment_location.json" => {
                assert_eq!(a["coordinates"], json!({"lat": 0, "long": 0}))
            }
            "attachment_sticker_like.json" => assert_eq!(a["sticker_id"], "369239263222822"),
            _ => {}
        }
        assert!(
            msgs[0]["text"].is_null(),
            "{name}: attachment-only messages have no text"
        );
    }
}

#[tokio::test]
async fn documented_attachment_entry_and_new_types() {
    let stack = Stack::connect();
    for kind in ["reel", "ig_reel", "template", "sticker"] {
        let t = stack.tenant().await;
        let user = format!("7{}", unique());
        let mut entry = retarget(
            &fixture("meta_doc_message_attachment_entry.json"),
            "682498302938465",
            &t.page_id,
            &user,
        );
        entry["messaging"][0]["message"]["attachments"][0]["type"] = json!(kind);
        if kind == "template" {
            entry["messaging"][0]["message"]["attachments"][0]["payload"] =
                json!({"template_type": "generic", "elements": [{"title": "Shoe"}]});
        }
        let body = json!({"object": "page", "entry": [entry]});
        assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
        let (_, msgs) = stack.single_conversation(&t, 1).await;
        let a = &msgs[0]["attachments"][0];
        assert_eq!(a["type"], kind);
        if kind == "template" {
            assert_eq!(a["payload"]["template_type"], "generic");
        } else {
            assert_eq!(a["url"], "<ATTACHMENT_URL>");
        }
    }
}

#[tokio::test]
async fn quick_replies_reply_to_and_prior_message() {
    let stack = Stack::connect();
    let (_, msgs, _) = through(&stack, "message_quick_reply.json", FIXTURE_PAGE, 1).await;
    assert_eq!(msgs[0]["text"], "Red");
    assert_eq!(
        msgs[0]["quick_reply_payload"],
        "DEVELOPER_DEFINED_PAYLOAD_FOR_PICKING_RED"
    );
    let (_, msgs, _) = through(
        &stack,
        "meta_doc_message_text_quick_reply.json",
        FIXTURE_PAGE,
        1,
    )
    .await;
    assert_eq!(
        msgs[0]["quick_reply_payload"],
        "<DEVELOPER_DEFINED_PAYLOAD>"
    );
    let (_, msgs, _) = through(&stack, "meta_doc_message_reply_to.json", FIXTURE_PAGE, 1).await;
    assert_eq!(
        msgs[0]["reply_to"],
        "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"
    );
    assert_eq!(msgs[0]["text"], "hello, world!");
    let (_, msgs, _) = through(
        &stack,
        "message_with_prior_message_checkbox.json",
        "234554838031189",
        1,
    )
    .await;
    assert_eq!(msgs[0]["text"], "Thanks for messaging me!");
}

#[tokio::test]
async fn postbacks_and_referrals() {
    let stack = Stack::connect();
    let (_, msgs, _) = through(&stack, "postback.json", FIXTURE_PAGE, 1).await;
    assert_eq!(msgs[0]["postback"]["payload"], "USER_DEFINED_PAYLOAD");
    assert_eq!(msgs[0]["text"], "USER_DEFINED_PAYLOAD");
    let (_, msgs, _) = through(&stack, "referral_shortlink.json", "701111199441168", 1).await;
    assert_eq!(msgs[0]["referral"]["source"], "SHORTLINK");
    assert_eq!(msgs[0]["referral"]["ref"], "aaaa");
    let (_, msgs, _) = through(&stack, "meta_doc_referral_ad.json", FIXTURE_PAGE, 1).await;
    assert_eq!(msgs[0]["referral"]["source"], "ADS");
    assert_eq!(
        msgs[0]["referral"]["ads_context_data"]["ad_title"],
        "<TITLE_OF_THE_AD>"
    );
}

#[tokio::test]
async fn dashboard_test_postback_sample_is_understood() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let change = retarget(
        &fixture("meta_doc_postback_dashboard_sample_field_value.json"),
        "PAGE-ID",
        &t.page_id,
        "x",
    );
    let body = json!({"object": "page", "entry": [{"id": t.page_id, "time": 1527459824, "changes": [change]}]});
    assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["postback"]["payload"], "USER-DEFINED-PAYLOAD");
    assert_eq!(msgs[0]["external_id"], "m_MESSAGE-ID");
}

#[tokio::test]
async fn foreign_echo_is_the_pages_outbound_message_and_receipts_move_it() {
    let stack = Stack::connect();
    let (conv, msgs, t) = through(&stack, "message_echo.json", FIXTURE_PAGE, 1).await;
    let m = &msgs[0];
    assert_eq!(m["direction"], "out");
    assert_eq!(m["author"]["type"], "page");
    assert_eq!(m["author"]["id"], t.page_id.as_str());
    assert_eq!(m["status"], "sent");
    assert_eq!(m["text"], "Difficult the first time, easy the second.");
    assert!(
        conv["last_inbound_at"].is_null(),
        "an echo does not open the messaging window"
    );

    // delivery.json and read.json have the Page as sender (roles flipped); the person is found
    // either way. Move their watermarks past the echo.
    let user = conv["contact"]["id"]
        .as_str()
        .unwrap()
        .rsplit('_')
        .next()
        .unwrap()
        .to_owned();
    let id = conv["id"].as_str().unwrap();
    let tok = stack.admin(&t.account);
    for (name, key, status) in [
        ("delivery.json", "delivery", "delivered"),
        ("read.json", "read", "read"),
    ] {
        let mut item = retarget(&fixture(name), FIXTURE_PAGE, &t.page_id, &user);
        let item_text = item.to_string().replace(FIXTURE_USER, &user);
        item = serde_json::from_str(&item_text).unwrap();
        item[key]["watermark"] = json!(1491798024994i64 + 10);
        stack.deliver(&t.page_id, vec![item]).await;
        stack
            .wait_for(
                &format!("/conversations/{id}/messages"),
                &tok,
                status,
                |v| v["items"][0]["status"] == status,
            )
            .await;
    }
    // An older watermark arriving late does not move the status back.
    let mut late = retarget(
        &fixture("meta_doc_message_deliveries.json"),
        "x",
        &t.page_id,
        &user,
    );
    late["delivery"]["watermark"] = json!(1);
    stack.deliver(&t.page_id, vec![late]).await;
    stack.settled().await;
    let v = stack
        .get(&format!("/conversations/{id}/messages"), &tok)
        .await;
    assert_eq!(v["items"][0]["status"], "read");
}

#[tokio::test]
async fn reactions_and_edits_update_the_message() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let mid = format!("m_react_{}", unique());
    let msg = messaging_event(
        &t.page_id,
        &user,
        1_700_000_000_000i64,
        json!({"message": {"mid": mid, "text": "first"}}),
    );
    stack.deliver(&t.page_id, vec![msg]).await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let id = conv["id"].as_str().unwrap();
    let tok = stack.admin(&t.account);

    let mut reaction = retarget(
        &fixture("meta_doc_message_reactions.json"),
        "x",
        &t.page_id,
        &user,
    );
    reaction["reaction"]["mid"] = json!(mid);
    reaction["reaction"]["action"] = json!("react");
    reaction["reaction"]["reaction"] = json!("love");
    let edit = messaging_event(
        &t.page_id,
        &user,
        1_700_000_100_000i64,
        json!({"message_edit": {"mid": mid, "text": "first, edited", "num_edit": 1}}),
    );
    let body = envelope(&t.page_id, "messaging", vec![reaction.clone(), edit]);
    assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
    let v = stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &tok,
            "reaction and edit",
            |v| !v["items"][0]["reaction"].is_null() && v["items"][0]["text"] == "first, edited",
        )
        .await;
    assert_eq!(v["items"][0]["reaction"]["emoji"], "❤️");
    assert!(!v["items"][0]["edited_at"].is_null());
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        1,
        "reactions and edits are not new messages"
    );

    reaction["reaction"]["action"] = json!("unreact");
    reaction["timestamp"] = json!(1_800_000_000_000i64);
    stack.deliver(&t.page_id, vec![reaction]).await;
    stack
        .wait_for(
            &format!("/conversations/{id}/messages"),
            &tok,
            "unreact",
            |v| v["items"][0]["reaction"].is_null(),
        )
        .await;
}

#[tokio::test]
async fn standby_messages_are_stored_and_handover_events_skipped() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let standby = messaging_event(
        &t.page_id,
        &user,
        1_700_000_000_000i64,
        json!({"message": {"mid": format!("m_sb_{}", unique()), "text": "while another app owns the thread"}}),
    );
    let mut entry = envelope(&t.page_id, "standby", vec![standby]);
    let handovers: Vec<Value> = [
        "handover_pass_thread_control.json",
        "handover_take_thread_control.json",
        "handover_app_roles.json",
        "meta_doc_pass_thread_control.json",
    ]
    .iter()
    .map(|n| {
        let v = retarget(&fixture(n), FIXTURE_PAGE, &t.page_id, &user);
        serde_json::from_str(&v.to_string().replace(FIXTURE_USER, &user)).unwrap()
    })
    .collect();
    entry["entry"][0]["messaging"] = Value::Array(handovers);
    assert_eq!(
        stack.post_webhook(entry.to_string().as_bytes()).await.0,
        200
    );
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["standby"], true);
    stack.settled().await;
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs.len(), 1, "handover events add nothing: {msgs:?}");
}

#[tokio::test]
async fn batched_entries_of_one_page_all_arrive() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let body = fixture("batched_multi_entry_same_page.json")
        .to_string()
        .replace("1895382890692545", &t.page_id)
        .replace("1412611362105802", &user);
    assert_eq!(stack.post_webhook(body.as_bytes()).await.0, 200);
    let (_, msgs) = stack.single_conversation(&t, 2).await;
    let texts: Vec<_> = msgs.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(
        texts.contains(&"test 1") && texts.contains(&"test 2"),
        "{texts:?}"
    );
}

#[tokio::test]
async fn instagram_shaped_and_unknown_events_do_not_break_the_batch() {
    let stack = Stack::connect();
    for name in [
        "ig_messaging_seen_chatwoot_factory.json",
        "ig_message_deleted_chatwoot_factory.json",
        "ig_story_reply_chatwoot_factory.json",
        "meta_doc_instagram_comment_change.json",
    ] {
        let mut v = fixture(name);
        if let Value::Array(a) = v {
            v = a.into_iter().next().unwrap();
        }
        if v.get("object").is_none() {
            v["object"] = json!("instagram");
        }
        let (status, text) = stack.post_webhook(v.to_string().as_bytes()).await;
        assert_eq!(status, 200, "{name}: {text}");
    }
    // A neighbour in the same batch as an unknown kind is still stored.
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let odd = messaging_event(&t.page_id, &user, 1, json!({"brand_new_event": {"x": 1}}));
    let ok = messaging_event(
        &t.page_id,
        &user,
        1_700_000_000_000i64,
        json!({"message": {"mid": format!("m_ok_{}", unique()), "text": "still here"}}),
    );
    stack.deliver(&t.page_id, vec![odd, ok]).await;
    let (_, msgs) = stack.single_conversation(&t, 1).await;
    assert_eq!(msgs[0]["text"], "still here");
}
