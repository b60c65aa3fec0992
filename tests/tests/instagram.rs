//! Instagram Direct through the Page's linked Instagram account (issue 28, first part): connect
//! finds the account and checks its permissions, Direct messages become `instagram`
//! conversations with the person's username, media keeps Meta's URL only, and replies go out
//! through the Send API to the Instagram-scoped id. Health checks follow the account and keep
//! the app's Instagram webhook complete (`instagram/health.rs`); comments are
//! `instagram/comments.rs`.

use pagedesk_e2e::{Stack, eventually, unique};
use serde_json::{Value, json};

#[path = "instagram/comments.rs"]
mod comments;
#[path = "instagram/health.rs"]
mod health;

/// The app's Instagram webhook is one for every test: connects hold this, and so does the test
/// that takes fields away from it, so a connect never finds it in that state and the test
/// knows that only a health check can have mended it.
static APP_WEBHOOK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The accounts of the Pages with an Instagram account connected here: any of their health
/// checks may be the one that mends the app's Instagram webhook.
static IG_ACCOUNTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The fields the app's `instagram` webhook object is subscribed to, as Graph lists them.
async fn instagram_webhook_fields(stack: &Stack) -> Vec<String> {
    let app = stack.s("app_id");
    let v = stack
        .sim(
            "GET",
            &format!("/v25.0/{app}/subscriptions?access_token={app}%7Csim-app-token"),
            None,
        )
        .await;
    let data = v["data"].as_array().expect("the app's subscriptions");
    data.iter()
        .find(|s| s["object"] == "instagram")
        .and_then(|s| s["fields"].as_array())
        .map(|f| {
            f.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const INSTAGRAM_FIELDS: [&str; 7] = [
    "messages",
    "messaging_postbacks",
    "messaging_referral",
    "messaging_seen",
    "message_reactions",
    "comments",
    "live_comments",
];

fn complete(fields: &[String]) -> bool {
    INSTAGRAM_FIELDS
        .iter()
        .all(|f| fields.iter().any(|x| x == f))
}

/// The person who connected a Page made by `connect` (their ids share the number).
fn user_of(page_id: &str) -> String {
    format!("7{}", &page_id[1..])
}

/// A change on Meta's side through a simulator control route; it must be taken (204).
async fn sim_put(stack: &Stack, path: &str, body: Value) {
    let res = stack
        .http
        .put(format!("{}{path}", stack.s("sim_url")))
        .json(&body)
        .send()
        .await
        .expect("sim reachable");
    assert_eq!(res.status().as_u16(), 204, "PUT {path}");
}

/// A Page with a linked Instagram account, connected through the simulated Facebook Login by a
/// person who declined `declined`; (account, page id, Instagram account id, connect answer).
async fn connect(
    stack: &Stack,
    declined: &[&str],
    linked: bool,
) -> (String, String, String, Value) {
    let n = unique();
    let account = format!("acct-ig-{n}");
    let page_id = format!("9{n:014}");
    let ig_id = format!("178414{n:011}");
    let mut page = json!({"id": page_id, "name": "Shop"});
    if linked {
        page["instagram_business_account"] = json!({"id": ig_id, "username": "shop.ig"});
    }
    let login = stack
        .sim(
            "POST",
            "/_sim/fb-users",
            Some(json!({"id": format!("7{n:014}"), "name": "Owner", "pages": [page], "declined": declined})),
        )
        .await;
    let _one_at_a_time = APP_WEBHOOK.lock().await;
    let (status, v) = stack
        .api(
            "POST",
            "/pages/connect",
            Some(&stack.admin(&account)),
            Some(json!({"user_access_token": login["user_access_token"]})),
        )
        .await;
    assert_eq!(status, 200, "connect: {v}");
    assert_eq!(v["pages"][0]["result"], "connected", "{v}");
    if linked {
        IG_ACCOUNTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(account.clone());
        let fields = instagram_webhook_fields(stack).await;
        assert!(
            complete(&fields),
            "connecting completes the app's Instagram webhook: {fields:?}"
        );
    }
    (account, page_id, ig_id, v)
}

async fn dm(stack: &Stack, ig_id: &str, igsid: &str, message: Value) -> Value {
    let mut body = json!({"ig_id": ig_id, "igsid": igsid});
    for (k, v) in message.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let v = stack
        .sim("POST", "/_sim/instagram/messages", Some(body))
        .await;
    assert_eq!(v["webhook_status"], 200, "{v}");
    v
}

/// The Send API calls with a message (not sender actions) addressed to `recipient`.
async fn sends_to(stack: &Stack, recipient: &str) -> Vec<Value> {
    stack
        .sim("GET", "/_sim/requests", None)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/messages"))
        })
        .filter(|r| r["body"]["recipient"]["id"] == recipient && r["body"]["message"].is_object())
        .collect()
}

#[tokio::test]
async fn direct_messages_become_one_instagram_conversation_and_replies_reach_the_person() {
    let stack = Stack::connect();
    let (account, page_id, ig_id, answer) = connect(&stack, &[], true).await;
    assert_eq!(
        answer["pages"][0]["instagram"],
        json!({"id": ig_id, "username": "shop.ig", "status": "connected", "missing_permissions": []})
    );
    let admin = stack.admin(&account);
    let page = stack.get(&format!("/pages/{page_id}"), &admin).await;
    assert_eq!(page["instagram"]["id"], ig_id.as_str(), "{page}");
    assert_eq!(page["channels"]["instagram"], true);

    // A message, a story reply and an image; the first delivered four times.
    let igsid = format!("3{:014}", unique());
    let image = format!("{}/_sim/media/ig-{}", stack.s("sim_url"), unique());
    let first = dm(
        &stack,
        &ig_id,
        &igsid,
        json!({"text": "do you ship to Riga?"}),
    )
    .await;
    for _ in 0..3 {
        dm(
            &stack,
            &ig_id,
            &igsid,
            json!({"text": "do you ship to Riga?", "mid": first["mid"]}),
        )
        .await;
    }
    dm(
        &stack,
        &ig_id,
        &igsid,
        json!({"text": "love this one", "story_reply": {"id": "story-1", "url": "https://lookaside.example/story-1"}}),
    )
    .await;
    dm(
        &stack,
        &ig_id,
        &igsid,
        json!({"attachments": [{"type": "image", "payload": {"url": image}}]}),
    )
    .await;
    let (conv, _) = stack
        .messages_when(
            &account,
            &page_id,
            &igsid,
            "three Instagram messages",
            20,
            |m| m.len() >= 3,
        )
        .await;
    stack.settled().await;
    let msgs = stack.all_messages(&conv, &admin).await;
    assert_eq!(msgs.len(), 3, "the repeated event is stored once: {msgs:?}");
    let c = stack.get(&format!("/conversations/{conv}"), &admin).await;
    assert_eq!(c["channel"], "instagram", "{c}");
    let contact = stack
        .get(
            &format!(
                "/contacts/{}",
                c["contact"]["id"].as_str().unwrap_or_default()
            ),
            &admin,
        )
        .await;
    assert!(
        contact["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("test.person.")),
        "{contact}"
    );
    assert_eq!(
        msgs[1]["story"],
        json!({"id": "story-1", "url": "https://lookaside.example/story-1"})
    );
    let a = &msgs[2]["attachments"][0];
    assert_eq!(
        (a["stored"].as_bool(), a["url"].as_str()),
        (Some(false), Some(image.as_str())),
        "{a}"
    );
    assert!(
        a["store_error"]
            .as_str()
            .is_some_and(|e| e.contains("Instagram")),
        "{a}"
    );
    // Never fetched: Meta's rules forbid keeping Instagram media.
    let name = image.rsplit('/').next().unwrap_or_default();
    let gets = stack
        .sim("GET", &format!("/_sim/media-gets/{name}"), None)
        .await;
    assert_eq!(gets, json!([]), "the image was fetched");

    // Replies go to the Instagram-scoped id through the Send API, within Instagram's limits.
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&admin),
            Some(json!({"text": "Yes, 3 days."})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&admin),
            Some(json!({"attachments": [{"type": "image", "url": "https://example.com/box.jpg"}]})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&admin),
            Some(json!({"text": "x".repeat(1001)})),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1000")),
        "{v}"
    );
    let sent = eventually("two sends to the Instagram-scoped id", 20, || async {
        let s = sends_to(&stack, &igsid).await;
        (s.len() >= 2).then_some(s)
    })
    .await;
    assert_eq!(sent[0]["body"]["message"]["text"], "Yes, 3 days.");
    assert_eq!(sent[1]["body"]["message"]["attachment"]["type"], "image");
    assert_eq!(sent[0]["body"]["messaging_type"], "RESPONSE");

    // The person unsends the story reply and reads our answer (Instagram's shapes: the
    // message with `is_deleted`, a read naming a mid).
    let story_mid = msgs[1]["external_id"].as_str().expect("a mid").to_owned();
    let now = pagedesk_e2e::now_ms();
    for item in [
        json!({"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": now,
               "message": {"mid": story_mid, "is_deleted": true}}),
        json!({"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": now + 1,
               "read": {"mid": "any-of-ours"}}),
    ] {
        let payload = json!({"object": "instagram", "entry": [{"id": ig_id, "time": now, "messaging": [item]}]});
        let v = stack
            .sim("POST", "/_sim/webhook", Some(json!({"payload": payload})))
            .await;
        assert_eq!(v["webhook_status"], 200, "{v}");
    }
    let after = eventually("the unsend and the read", 20, || async {
        let m = stack.all_messages(&conv, &admin).await;
        let removed = m
            .iter()
            .any(|m| m["external_id"] == story_mid.as_str() && m["removed_at"].is_string());
        let read = m
            .iter()
            .any(|m| m["text"] == "Yes, 3 days." && m["status"] == "read");
        (removed && read).then_some(m)
    })
    .await;
    assert_eq!(after.len(), 5, "nothing added by either: {after:?}");

    // An ice-breaker tap and a click-to-Direct ad's referral (`messaging_postbacks`,
    // `messaging_referral`): the Messenger shapes, stored as the person's messages.
    let now = pagedesk_e2e::now_ms();
    for item in [
        json!({"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": now + 2,
               "postback": {"mid": format!("aWdfpostback{}", unique()), "title": "Track my order", "payload": "TRACK_ORDER"}}),
        json!({"sender": {"id": igsid}, "recipient": {"id": ig_id}, "timestamp": now + 3,
               "referral": {"ref": "winter-sale", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "120210000000000"}}),
    ] {
        let payload = json!({"object": "instagram", "entry": [{"id": ig_id, "time": now, "messaging": [item]}]});
        let v = stack
            .sim("POST", "/_sim/webhook", Some(json!({"payload": payload})))
            .await;
        assert_eq!(v["webhook_status"], 200, "{v}");
    }
    eventually("the postback and the referral", 20, || async {
        let m = stack.all_messages(&conv, &admin).await;
        let postback = m.iter().any(|m| m["postback"]["payload"] == "TRACK_ORDER");
        let referral = m.iter().any(|m| m["referral"]["ref"] == "winter-sale");
        (postback && referral).then_some(())
    })
    .await;

    // A story mention, the person's reaction to our answer, and a message the business sent
    // from the Instagram app (an echo without our app id): the simulator's shorthands.
    let ours = after
        .iter()
        .find(|m| m["text"] == "Yes, 3 days.")
        .and_then(|m| m["external_id"].as_str())
        .expect("our reply's mid")
        .to_owned();
    let mention = format!("https://lookaside.example/mention-{}", unique());
    for extra in [
        json!({"story_mention": {"url": mention}}),
        json!({"reaction": {"mid": ours, "emoji": "\u{1F44D}"}}),
        json!({"text": "Sent from the Instagram app", "echo": true}),
        json!({"text": "so nice", "story_reply": "https://lookaside.example/story-2"}),
    ] {
        dm(&stack, &ig_id, &igsid, extra).await;
    }
    eventually(
        "the mention, the reaction and the app's message",
        20,
        || async {
            let m = stack.all_messages(&conv, &admin).await;
            let mentioned = m.iter().any(|m| {
                m["attachments"][0]["type"] == "story_mention"
                    && m["attachments"][0]["url"] == mention.as_str()
                    && m["attachments"][0]["stored"] == false
            });
            let reacted = m
                .iter()
                .any(|m| m["external_id"] == ours.as_str() && !m["reaction"].is_null());
            let from_app = m
                .iter()
                .any(|m| m["text"] == "Sent from the Instagram app" && m["direction"] == "out");
            let story_by_url = m
                .iter()
                .any(|m| m["story"]["url"] == "https://lookaside.example/story-2");
            (mentioned && reacted && from_app && story_by_url).then_some(())
        },
    )
    .await;

    // Uploads must fit Instagram's table: a PDF goes, an archive is refused with the reason.
    for (name, ct, bytes, ok) in [
        (
            "terms.pdf",
            "application/pdf",
            b"%PDF-1.7 terms".to_vec(),
            true,
        ),
        (
            "photos.zip",
            "application/zip",
            b"PK\x03\x04 zip".to_vec(),
            false,
        ),
    ] {
        let (s, up) = stack
            .api(
                "POST",
                "/uploads",
                Some(&admin),
                Some(json!({"filename": name, "content_type": ct, "size": bytes.len()})),
            )
            .await;
        assert_eq!(s, 201, "{up}");
        let put = stack
            .http
            .put(up["put_url"].as_str().expect("a put_url"))
            .header("content-type", ct)
            .body(bytes)
            .send()
            .await
            .expect("the bucket reachable");
        assert!(put.status().is_success(), "PUT {name}: {}", put.status());
        let (s, v) = stack
            .api(
                "POST",
                &format!("/conversations/{conv}/messages"),
                Some(&admin),
                Some(json!({"attachments": [{"type": "file", "upload_id": up["upload_id"]}]})),
            )
            .await;
        if ok {
            assert_eq!(s, 202, "{v}");
        } else {
            assert_eq!(s, 422, "{v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("application/pdf")),
                "{v}"
            );
        }
    }

    // Switched off, Instagram Direct is acknowledged and skipped; the rest of the Page stays.
    let (status, v) = stack
        .api(
            "PUT",
            &format!("/pages/{page_id}"),
            Some(&admin),
            Some(
                json!({"channels": {"messenger": true, "comments": true, "leads": true,
                                     "instagram": false, "instagram_comment": true}}),
            ),
        )
        .await;
    assert_eq!(
        (status, v["channels"]["instagram"].as_bool()),
        (200, Some(false)),
        "{v}"
    );
    let before = stack.all_messages(&conv, &admin).await.len();
    dm(&stack, &ig_id, &igsid, json!({"text": "are you there?"})).await;
    stack.settled().await;
    let now_there = stack.all_messages(&conv, &admin).await;
    assert_eq!(now_there.len(), before, "skipped: {now_there:?}");
}

#[tokio::test]
async fn a_page_without_instagram_or_its_permissions_is_reported_and_messenger_keeps_working() {
    let stack = Stack::connect();
    let (_, plain_page, _, plain) = connect(&stack, &[], false).await;
    assert_eq!(plain["pages"][0]["instagram"], Value::Null, "{plain}");
    let (account, page_id, ig_id, answer) =
        connect(&stack, &["instagram_manage_messages"], true).await;
    assert_eq!(
        answer["pages"][0]["instagram"]["status"], "missing_permissions",
        "{answer}"
    );
    assert_eq!(
        answer["pages"][0]["instagram"]["missing_permissions"],
        json!(["instagram_manage_messages"])
    );
    // Messenger works as ever on both.
    for (acct, page) in [
        (None, plain_page.as_str()),
        (Some(account.as_str()), page_id.as_str()),
    ] {
        let psid = format!("5{:014}", unique());
        let v = stack
            .sim(
                "POST",
                "/_sim/messages",
                Some(json!({"page_id": page, "psid": psid, "text": "hi"})),
            )
            .await;
        assert_eq!(v["webhook_status"], 200);
        if let Some(acct) = acct {
            stack
                .messages_when(acct, page, &psid, "a Messenger message", 20, |m| {
                    m.len() == 1
                })
                .await;
        }
    }
    // An Instagram account no Page of any account links to: acknowledged, nothing stored.
    let stranger = format!("178419{:011}", unique());
    dm(
        &stack,
        &stranger,
        &format!("3{:014}", unique()),
        json!({"text": "hello?"}),
    )
    .await;
    // The linked account's Direct messages still arrive (what Meta delivers is kept; the
    // missing permission is for the admin to grant before replies can go out).
    let igsid = format!("3{:014}", unique());
    dm(&stack, &ig_id, &igsid, json!({"text": "hi on Instagram"})).await;
    stack
        .messages_when(
            &account,
            &page_id,
            &igsid,
            "an Instagram message",
            20,
            |m| m.len() == 1,
        )
        .await;
}
