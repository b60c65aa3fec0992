//! Media that lasts (issue 12): people's attachments copied to the data bucket in the
//! background and served from our copy after Meta's URL expired; limits that refuse without
//! blocking; uploads for replies; another account's upload refused; erasure removes media.

use pagedesk_e2e::{Stack, Tenant, eventually, fixture, messaging_event, now_ms, unique};
use pagedesk_shared::adapters::auth::Role;
use serde_json::{Value, json};

async fn put_media(stack: &Stack, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let url = format!("{}/_sim/media/{name}", stack.s("sim_url"));
    let res = stack
        .http
        .put(&url)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    url
}

async fn fetch(stack: &Stack, url: &str) -> (u16, Vec<u8>) {
    let res = stack.http.get(url).send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.bytes().await.unwrap_or_default().to_vec())
}

/// A person sends `attachments` (type, url) to the tenant's Page; answers the conversation id.
async fn person_sends(stack: &Stack, t: &Tenant, user: &str, attachments: Vec<(&str, &str)>) {
    let atts: Vec<Value> = attachments
        .iter()
        .map(|(k, u)| json!({"type": k, "payload": {"url": u}}))
        .collect();
    let ev = messaging_event(
        &t.page_id,
        user,
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "attachments": atts}}),
    );
    stack.deliver(&t.page_id, vec![ev]).await;
}

async fn messages_when(
    stack: &Stack,
    t: &Tenant,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let admin = stack.admin(&t.account);
    eventually(what, 30, || async {
        let list = stack.get("/conversations", &admin).await;
        let conv = list["items"][0]["id"].as_str()?.to_owned();
        let msgs = stack.all_messages(&conv, &admin).await;
        check(&msgs).then_some(msgs)
    })
    .await
}

/// How many media copies of the tenant's account are in the bucket.
async fn media_objects(stack: &Stack, t: &Tenant) -> i32 {
    stack
        .clients()
        .await
        .s3()
        .sdk()
        .list_objects_v2()
        .bucket(stack.s("bucket"))
        .prefix(format!("media/{}/", t.account))
        .send()
        .await
        .expect("the bucket lists")
        .key_count()
        .expect("a key count")
}

fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n).map(|i| (i % 251) as u8));
    b
}

#[tokio::test]
async fn images_and_files_are_served_from_our_copy_after_metas_url_expired() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("2{}", unique());
    let (img, pdf) = (png(40_000), b"%PDF-1.7 pagedesk test file".to_vec());
    let img_name = format!("img-{}.png", unique());
    let pdf_name = format!("doc-{}.pdf", unique());
    let img_url = put_media(&stack, &img_name, "image/png", img.clone()).await;
    let pdf_url = put_media(&stack, &pdf_name, "application/pdf", pdf.clone()).await;
    person_sends(
        &stack,
        &t,
        &user,
        vec![("image", &img_url), ("file", &pdf_url)],
    )
    .await;
    // Shown at once with Meta's URL; the copy follows.
    let msgs = messages_when(&stack, &t, "the message with two attachments", |m| {
        m.len() == 1 && m[0]["attachments"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(msgs[0]["attachments"][0]["source_url"], img_url.as_str());
    let msgs = messages_when(&stack, &t, "both copies stored", |m| {
        m[0]["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["stored"] == true))
    })
    .await;
    // Meta's URLs expire.
    for name in [&img_name, &pdf_name] {
        stack
            .sim("DELETE", &format!("/_sim/media/{name}"), None)
            .await;
    }
    assert_eq!(fetch(&stack, &img_url).await.0, 404);
    let a = &msgs[0]["attachments"];
    assert_eq!(a[0]["content_type"], "image/png");
    assert_eq!(a[0]["size"], img.len());
    assert_eq!(a[1]["content_type"], "application/pdf");
    // Read again: fresh presigned URLs of our copies.
    let msgs = messages_when(&stack, &t, "the message", |m| m.len() == 1).await;
    let a = &msgs[0]["attachments"];
    assert_ne!(a[0]["url"], a[0]["source_url"]);
    assert_eq!(
        fetch(&stack, a[0]["url"].as_str().unwrap()).await,
        (200, img)
    );
    assert_eq!(
        fetch(&stack, a[1]["url"].as_str().unwrap()).await,
        (200, pdf)
    );
    assert!(a[0]["url"].as_str().unwrap().contains("X-Amz-Signature"));

    // The same URL again is copied once: the second message reuses the first copy.
    let again = put_media(&stack, &img_name, "image/png", png(10)).await;
    person_sends(&stack, &t, &user, vec![("image", &again)]).await;
    let msgs = messages_when(&stack, &t, "the second message stored", |m| {
        m.len() == 2 && m[1]["attachments"][0]["stored"] == true
    })
    .await;
    assert_eq!(
        msgs[1]["attachments"][0]["size"], 40_008,
        "the first copy, not a new one"
    );
    // The feed tells front ends when a copy landed.
    stack
        .wait_for(
            "/events",
            &stack.admin(&t.account),
            "message.updated",
            |v| {
                v["items"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e["type"] == "message.updated"))
            },
        )
        .await;
}

/// A copy that fails for now (the CDN answers 503) lets go of its claim and is tried again a
/// couple of seconds later, not after the claim's two-minute lease.
#[tokio::test]
async fn a_copy_that_fails_for_now_is_tried_again_and_stored() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("2{}", unique());
    let name = format!("flaky-{}.png", unique());
    let url = put_media(&stack, &name, "image/png", png(2_000)).await;
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": format!("/_sim/media/{name}"), "status": 503, "times": 1})),
        )
        .await;
    person_sends(&stack, &t, &user, vec![("image", &url)]).await;
    let msgs = messages_when(&stack, &t, "the copy stored on its second try", |m| {
        m.len() == 1 && m[0]["attachments"][0]["stored"] == true
    })
    .await;
    assert_eq!(msgs[0]["attachments"][0]["size"], 2_008);
    let gets = stack
        .sim("GET", &format!("/_sim/media-gets/{name}"), None)
        .await;
    assert_eq!(gets, json!([503, 200]), "failed once, then copied");
}

#[tokio::test]
async fn a_file_too_large_or_of_the_wrong_type_is_refused_without_blocking_the_next_message() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("2{}", unique());
    let big = put_media(
        &stack,
        &format!("big-{}.bin", unique()),
        "application/zip",
        vec![7u8; 30 * 1024 * 1024],
    )
    .await;
    let html = put_media(
        &stack,
        &format!("page-{}.png", unique()),
        "text/html",
        b"<html>".to_vec(),
    )
    .await;
    person_sends(&stack, &t, &user, vec![("file", &big), ("image", &html)]).await;
    let ev = messaging_event(
        &t.page_id,
        &user,
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "text": "did you get it?"}}),
    );
    stack.deliver(&t.page_id, vec![ev]).await;
    let msgs = messages_when(&stack, &t, "the next message and both refusals", |m| {
        m.len() == 2
            && m[0]["attachments"]
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x["store_error"].is_string()))
    })
    .await;
    assert_eq!(msgs[1]["text"], "did you get it?");
    let a = &msgs[0]["attachments"];
    assert_eq!(a[0]["stored"], false);
    assert!(
        a[0]["store_error"].as_str().unwrap().contains("too large"),
        "{a}"
    );
    assert!(
        a[1]["store_error"].as_str().unwrap().contains("text/html"),
        "{a}"
    );
    assert_eq!(a[0]["url"], big.as_str(), "Meta's URL is still shown");
}

async fn upload(stack: &Stack, t: &Tenant, name: &str, ct: &str, bytes: &[u8]) -> (String, Value) {
    let agent = stack.token(&t.account, "agent-1", Role::Agent);
    let (s, v) = stack
        .api(
            "POST",
            "/uploads",
            Some(&agent),
            Some(json!({"filename": name, "content_type": ct, "size": bytes.len()})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    (v["upload_id"].as_str().unwrap().to_owned(), v)
}

#[tokio::test]
async fn an_upload_goes_out_in_a_reply_and_another_accounts_upload_is_refused() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let other = stack.tenant().await;
    let user = format!("2{}", unique());
    let ev = messaging_event(
        &t.page_id,
        &user,
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "text": "send me the invoice"}}),
    );
    stack.deliver(&t.page_id, vec![ev]).await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let conv = conv["id"].as_str().unwrap().to_owned();
    let agent = stack.token(&t.account, "agent-1", Role::Agent);
    let reply = |body: Value| {
        let (stack, agent, conv) = (&stack, agent.clone(), conv.clone());
        async move {
            stack
                .api(
                    "POST",
                    &format!("/conversations/{conv}/messages"),
                    Some(&agent),
                    Some(body),
                )
                .await
        }
    };

    let pdf = b"%PDF-1.7 invoice 42".to_vec();
    let (id, created) = upload(&stack, &t, "invoice.pdf", "application/pdf", &pdf).await;
    assert!(created["expires_at"].is_string());
    // Not uploaded yet: refused.
    let (s, v) = reply(json!({"attachments": [{"type": "file", "upload_id": id}]})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request")),
        "{v}"
    );
    // The presigned PUT takes exactly the declared type and size.
    let put_url = created["put_url"].as_str().unwrap();
    let res = stack
        .http
        .put(put_url)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    let (s, v) =
        reply(json!({"text": "here it is", "attachments": [{"type": "file", "upload_id": id}]}))
            .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["attachments"][0]["upload_id"], id.as_str());
    assert_eq!(v["attachments"][0]["stored"], true);
    let sent = eventually("the Send API call with the file", 30, || async {
        let calls = stack.sim("GET", "/_sim/requests", None).await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/{}/messages", t.page_id)))
                    && c["body"]["message"]["attachment"]["type"] == "file"
            })
            .cloned()
    })
    .await;
    let url = sent["body"]["message"]["attachment"]["payload"]["url"]
        .as_str()
        .unwrap();
    assert_eq!(
        fetch(&stack, url).await,
        (200, pdf),
        "Meta can fetch what we sent"
    );

    // Another account's upload id: as if it did not exist.
    let (theirs, created) = upload(&stack, &other, "x.png", "image/png", &png(10)).await;
    let res = stack
        .http
        .put(created["put_url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png(10))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (s, v) = reply(json!({"attachments": [{"type": "image", "upload_id": theirs}]})).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such upload")
    );
    let (s, _) = reply(json!({"attachments": [{"type": "image", "upload_id": "up_nope"}]})).await;
    assert_eq!(s, 422);
    // Too large to be an attachment at all.
    let (s, _) = stack
        .api(
            "POST",
            "/uploads",
            Some(&agent),
            Some(json!({"filename": "x", "content_type": "video/mp4", "size": 30 * 1024 * 1024})),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn a_page_that_met_the_eu_restriction_warns_on_non_image_replies() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("2{}", unique());
    let ev = messaging_event(
        &t.page_id,
        &user,
        now_ms(),
        json!({"message": {"mid": format!("m_{}", unique()), "text": "hi"}}),
    );
    stack.deliver(&t.page_id, vec![ev]).await;
    let (conv, _) = stack.single_conversation(&t, 1).await;
    let conv = conv["id"].as_str().unwrap().to_owned();
    let agent = stack.token(&t.account, "agent-1", Role::Agent);
    let file = json!({"attachments": [{"type": "file", "url": "https://cdn.example/a.pdf"}]});
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(
                json!({"path": format!("/{}/messages", t.page_id), "status": 400,
              "body": fixture("send_api_error_10_2018336_eu_privacy.json"), "times": 1}),
            ),
        )
        .await;
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(file.clone()),
        )
        .await;
    assert_eq!(s, 202);
    assert!(
        v.get("warnings").is_none(),
        "no warning before the Page met the refusal"
    );
    let id = v["id"].as_str().unwrap().to_owned();
    stack
        .wait_for(
            &format!("/conversations/{conv}/messages"),
            &stack.admin(&t.account),
            "the refusal",
            |v| {
                v["items"].as_array().is_some_and(|a| {
                    a.iter().any(|m| {
                        m["id"] == id.as_str() && m["error"]["reason"] == "eu_privacy_restriction"
                    })
                })
            },
        )
        .await;
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(file),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["warnings"][0]["code"], "eu_privacy_restriction", "{v}");
    let image = json!({"attachments": [{"type": "image", "url": "https://cdn.example/a.png"}]});
    let (_, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(image),
        )
        .await;
    assert!(v.get("warnings").is_none(), "images are allowed");
}

#[tokio::test]
async fn erasing_a_contact_removes_their_stored_media() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("2{}", unique());
    let url = put_media(
        &stack,
        &format!("face-{}.png", unique()),
        "image/png",
        png(500),
    )
    .await;
    person_sends(&stack, &t, &user, vec![("image", &url)]).await;
    let msgs = messages_when(&stack, &t, "the copy stored", |m| {
        m.len() == 1 && m[0]["attachments"][0]["stored"] == true
    })
    .await;
    let ours = msgs[0]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fetch(&stack, &ours).await.0, 200);
    let contact =
        stack.get("/conversations", &stack.admin(&t.account)).await["items"][0]["contact"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact}"),
            Some(&stack.admin(&t.account)),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_ne!(fetch(&stack, &ours).await.0, 200, "our copy is gone");
    assert_eq!(
        media_objects(&stack, &t).await,
        0,
        "nothing of theirs in the bucket"
    );
}

/// Copies are shared per URL within an account (a sticker has the same URL for everyone):
/// erasing one person deletes only what was theirs alone. Before, the shared object went too,
/// and its guard still said `stored`, so the other person's message and every later one with
/// that URL pointed at a deleted object.
#[tokio::test]
async fn erasing_one_person_keeps_a_copy_someone_else_uses() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let shared = put_media(
        &stack,
        &format!("sticker-{}.png", unique()),
        "image/png",
        png(300),
    )
    .await;
    let own = put_media(
        &stack,
        &format!("face-{}.png", unique()),
        "image/png",
        png(400),
    )
    .await;
    let (alice, bob) = (format!("2{}", unique()), format!("2{}", unique()));
    let all_stored = |msgs: &[Value], n: usize| {
        let atts: Vec<&Value> = msgs
            .iter()
            .flat_map(|m| m["attachments"].as_array().into_iter().flatten())
            .collect();
        atts.len() == n && atts.iter().all(|a| a["stored"] == true)
    };
    // Conversations newest first: alice writes, and only once her copies are stored does bob.
    let conversations = |n: usize, atts: usize| {
        let (stack, admin) = (&stack, &admin);
        eventually("the copies stored", 30, move || async move {
            let list = stack.get("/conversations", admin).await;
            let items = list["items"].as_array()?.clone();
            let convs: Vec<String> = items
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
            let mut msgs = Vec::new();
            for c in &convs {
                msgs.extend(stack.all_messages(c, admin).await);
            }
            (convs.len() == n && all_stored(&msgs, atts)).then_some(items)
        })
    };
    person_sends(
        &stack,
        &t,
        &alice,
        vec![("image", &shared), ("image", &own)],
    )
    .await;
    conversations(1, 2).await;
    person_sends(&stack, &t, &bob, vec![("image", &shared)]).await;
    let items = conversations(2, 3).await;
    let (bobs, alices) = (&items[0], &items[1]);
    let bobs_copy = stack
        .all_messages(bobs["id"].as_str().unwrap(), &admin)
        .await[0]["attachments"][0]["url"]
        .as_str()
        .expect("bob's copy")
        .to_owned();
    assert_eq!(fetch(&stack, &bobs_copy).await.0, 200);

    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{}", alices["contact"]["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // Bob's copy of the shared sticker is still there; only alice's own picture went.
    let (status, body) = fetch(&stack, &bobs_copy).await;
    assert_eq!((status, body), (200, png(300)), "the shared copy stays");
    assert_eq!(
        media_objects(&stack, &t).await,
        1,
        "the shared copy stays, alice's own went"
    );
    // And a later message with the shared URL still gets a working copy.
    let carol = format!("2{}", unique());
    person_sends(&stack, &t, &carol, vec![("image", &shared)]).await;
    let items = conversations(3, 2).await;
    let carols = stack
        .all_messages(items[0]["id"].as_str().unwrap(), &admin)
        .await;
    let url = carols[0]["attachments"][0]["url"].as_str().expect("a copy");
    assert_eq!(fetch(&stack, url).await.0, 200);
}

/// The agent API's bucket rights are what its code does (issue 45): it reads copies and
/// uploads, writes uploads and deletes copies when a person is erased. It never writes a copy
/// nor deletes an upload, and the presigned URLs it hands out act with these rights, so they
/// cannot do more. Held to its policy in `template.yaml` as IAM would.
#[tokio::test]
async fn the_agent_apis_bucket_rights_are_what_its_code_does() {
    let stack = Stack::connect();
    let fresh = stack.fresh_stack().await;
    let bucket = fresh.1.refs["DataBucket"].clone();
    let own = stack.clients().await.s3();
    let held = stack.clients_as("AgentApiFunction", &fresh).await.s3();
    let n = unique();
    let (upload, copy) = (format!("uploads/acc/{n}.txt"), format!("media/acc/{n}.txt"));
    own.put(&bucket, &copy, b"copy".to_vec(), "text/plain")
        .await
        .expect("the stack's own client writes a copy");

    // What the code does.
    held.put(&bucket, &upload, b"up".to_vec(), "text/plain")
        .await
        .expect("an upload is written");
    assert_eq!(held.get(&bucket, &upload).await.expect("read"), b"up");
    assert_eq!(held.size(&bucket, &upload).await.expect("size"), Some(2));
    assert_eq!(held.get(&bucket, &copy).await.expect("read"), b"copy");
    held.delete(&bucket, &copy).await.expect("a copy is erased");

    // What it never does: each refused by the policy (the local IAM check records the call
    // it refused, action and object).
    let refused = |what: &str, action: &str, key: &str, e: Result<(), pagedesk_shared::Error>| {
        e.expect_err(what);
        let denied = pagedesk_local::iam::report()["AgentApiFunction"]["denied"].clone();
        let call = format!("{action} on arn:aws:s3:::{bucket}/{key}");
        assert!(
            denied
                .as_array()
                .is_some_and(|d| d.iter().any(|c| c == call.as_str())),
            "{what}: {call} not among the refusals {denied}"
        );
    };
    refused(
        "writing a copy",
        "s3:PutObject",
        &copy,
        held.put(&bucket, &copy, b"forged".to_vec(), "text/plain")
            .await,
    );
    refused(
        "deleting an upload",
        "s3:DeleteObject",
        &upload,
        held.delete(&bucket, &upload).await,
    );
    let spill = format!("spill/{n}");
    refused(
        "anything outside media/ and uploads/",
        "s3:PutObject",
        &spill,
        held.put(&bucket, &spill, b"x".to_vec(), "text/plain").await,
    );
    assert_eq!(
        own.get(&bucket, &upload).await.expect("still there"),
        b"up",
        "the upload was not deleted"
    );
}

/// A copy in flight while its person is erased (issue 45): erasure cannot know of an object
/// not yet recorded on the message, so the copier, finding the attachment gone when it
/// records the copy, removes the object itself. Before, the object and its guard outlived the
/// erasure.
#[tokio::test]
async fn a_copy_in_flight_during_erasure_leaves_nothing_behind() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let name = format!("slow-{}.png", unique());
    let url = put_media(&stack, &name, "image/png", png(300)).await;
    // Meta's CDN answers, but only after 3 s: the copy is under way meanwhile.
    stack
        .sim(
            "POST",
            "/_sim/failures",
            Some(json!({"path": format!("/_sim/media/{name}"), "status": 200, "delay_ms": 3000, "times": 1})),
        )
        .await;
    let user = format!("2{}", unique());
    person_sends(&stack, &t, &user, vec![("image", &url)]).await;
    eventually("the copy under way", 30, || async {
        let gets = stack
            .sim("GET", &format!("/_sim/media-gets/{name}"), None)
            .await;
        (gets.as_array().is_some_and(|g| !g.is_empty())).then_some(())
    })
    .await;
    let contact = stack.get("/conversations", &admin).await["items"][0]["contact"]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let (s, _) = stack
        .api(
            "DELETE",
            &format!("/contacts/{contact}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // The fetch answers 3 s after it arrived, long after the erasure above (an erasure that
    // took longer would find the copy on the message, the branch the other tests cover).
    stack.settled().await;
    let gets = stack
        .sim("GET", &format!("/_sim/media-gets/{name}"), None)
        .await;
    assert_eq!(gets, json!([200]), "one fetch, answered");
    assert_eq!(
        media_objects(&stack, &t).await,
        0,
        "the copy that landed after the erasure is gone"
    );
    let msgs = messages_when(&stack, &t, "the message erased", |m| m.len() == 1).await;
    assert_eq!(msgs[0]["erased"], true, "{}", msgs[0]);
    assert!(
        msgs[0]["attachments"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        msgs[0]
    );
}
