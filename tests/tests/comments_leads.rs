//! Page comments and lead ads: conversations from the feed, public and private replies,
//! leads as contacts.

use pagedesk_e2e::{Stack, Tenant, fixture, now_ms, unique};
use pagedesk_shared::adapters::auth::Role;
use pagedesk_shared::clock::DAY_MS;
use serde_json::{Value, json};

const FIXTURE_PAGE: &str = "137542570280222";
const FIXTURE_USER: &str = "139560936744123";

/// A feed fixture for this tenant's Page and a fresh commenter.
fn feed(name: &str, t: &Tenant, user: &str) -> Value {
    let text = fixture(name)
        .to_string()
        .replace(FIXTURE_PAGE, &t.page_id)
        .replace(FIXTURE_USER, user);
    serde_json::from_str(&text).unwrap()
}

async fn changes(stack: &Stack, t: &Tenant, items: Vec<Value>) {
    let body = json!({"object": "page", "entry": [{"id": t.page_id, "time": 1511951015, "changes": items}]});
    let (s, text) = stack.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(s, 200, "{text}");
}

async fn comment_conversations(stack: &Stack, t: &Tenant, n: usize) -> Vec<Value> {
    let v = stack
        .wait_for(
            "/conversations?channel=comment",
            &stack.admin(&t.account),
            &format!("{n} comment conversations"),
            |v| v["items"].as_array().is_some_and(|a| a.len() == n),
        )
        .await;
    v["items"].as_array().unwrap().clone()
}

async fn messages_where(
    stack: &Stack,
    t: &Tenant,
    conv: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let v = stack
        .wait_for(
            &format!("/conversations/{conv}/messages"),
            &stack.admin(&t.account),
            what,
            |v| v["items"].as_array().is_some_and(|a| check(a)),
        )
        .await;
    v["items"].as_array().unwrap().clone()
}

fn now_s() -> i64 {
    now_ms() / 1000
}

/// A person's comment on the post, `age_s` seconds old.
fn comment(
    t: &Tenant,
    user: &str,
    post_obj: &str,
    comment_obj: &str,
    text: &str,
    age_s: i64,
) -> Value {
    json!({"field": "feed", "value": {"from": {"id": user, "name": "Commenter"}, "item": "comment", "verb": "add",
        "post_id": format!("{}_{post_obj}", t.page_id), "comment_id": format!("{post_obj}_{comment_obj}"),
        "parent_id": format!("{}_{post_obj}", t.page_id), "created_time": now_s() - age_s, "message": text}})
}

#[tokio::test]
async fn every_feed_fixture_lands_in_one_conversation_per_post() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let user = format!("7{}", unique());
    let post_id = format!("{}_139560936744456", t.page_id);
    stack
        .sim(
            "PUT",
            &format!("/_sim/posts/{post_id}"),
            Some(json!({"message": "Summer sale starts today!\nAll shoes -30%"})),
        )
        .await;

    // The comment the edited/remove fixtures refer to, first as it was added.
    let mut first = feed("feed_comment_edited.json", &t, &user);
    first["value"]["verb"] = json!("add");
    first["value"]["message"] = json!("Grat");
    changes(
        &stack,
        &t,
        vec![first, feed("feed_comment_add_reply.json", &t, &user)],
    )
    .await;
    let convs = comment_conversations(&stack, &t, 1).await;
    let conv = &convs[0];
    assert_eq!(conv["post_id"], post_id.as_str());
    assert_eq!(conv["subject"], "Summer sale starts today!");
    assert_eq!(conv["window"]["state"], "open");
    let id = conv["id"].as_str().unwrap().to_owned();
    let msgs = messages_where(&stack, &t, &id, "post + 2 comments", |a| a.len() == 3).await;
    assert_eq!(
        (msgs[0]["kind"].as_str(), msgs[0]["author"]["type"].as_str()),
        (Some("post"), Some("page"))
    );
    assert!(msgs[0]["text"].as_str().unwrap().starts_with("Summer sale"));
    let reply = msgs.iter().find(|m| m["text"] == "Good").unwrap();
    assert_eq!(
        reply["reply_to"], "139560936744456_139562213411528",
        "a reply to a comment keeps its thread"
    );
    assert_eq!(reply["kind"], "comment");
    assert_eq!(reply["direction"], "in");
    let contact = stack
        .get(
            &format!("/contacts/{}", reply["author"]["id"].as_str().unwrap()),
            &stack.admin(&t.account),
        )
        .await;
    assert_eq!(
        (contact["name"].as_str(), contact["facebook_id"].as_str()),
        (Some("user"), Some(user.as_str()))
    );

    // Edit and removal of the first comment.
    changes(
        &stack,
        &t,
        vec![feed("feed_comment_edited.json", &t, &user)],
    )
    .await;
    messages_where(&stack, &t, &id, "edit", |a| {
        a.iter()
            .any(|m| m["text"] == "Great" && !m["edited_at"].is_null())
    })
    .await;
    changes(
        &stack,
        &t,
        vec![feed("feed_comment_remove.json", &t, &user)],
    )
    .await;
    messages_where(&stack, &t, &id, "removal", |a| {
        a.iter().any(|m| {
            m["comment_id"] == "139560936744456_139597043408045" && !m["removed_at"].is_null()
        })
    })
    .await;

    // Reactions, likes, posts and the Page's comment on another post: nothing new, no failure.
    let others: Vec<Value> = [
        "feed_reaction_add_on_comment.json",
        "feed_reaction_remove.json",
        "feed_status_add.json",
        "feed_status_add_2023.json",
        "feed_status_edited.json",
        "feed_post_remove.json",
        "feed_page_like_add.json",
    ]
    .iter()
    .map(|n| feed(n, &t, &user))
    .collect();
    changes(&stack, &t, others).await;
    // In this fixture the Page (…111) answers on one of its posts that has no conversation:
    // nothing is opened for it, and the Page does not become a contact.
    let self_fixture = |post: Option<&str>| {
        let mut v: Value = serde_json::from_str(
            &fixture("feed_comment_add_by_page_itself.json")
                .to_string()
                .replace("137542570280111", &t.page_id),
        )
        .unwrap();
        if let Some(p) = post {
            v["value"]["post_id"] = json!(p);
        }
        v
    };
    changes(&stack, &t, vec![self_fixture(None)]).await;
    // The Page's own comment on this post is the Page's message, not a contact.
    let mut by_page = self_fixture(Some(&post_id));
    by_page["value"]["parent_id"] = json!("139560936744456_139597043408045");
    by_page["value"]["comment_id"] = json!("139560936744456_140077616693999");
    changes(&stack, &t, vec![by_page]).await;
    let msgs = messages_where(&stack, &t, &id, "the Page's comment", |a| {
        a.iter().any(|m| m["text"] == "Public reply!")
    })
    .await;
    let pm = msgs.iter().find(|m| m["text"] == "Public reply!").unwrap();
    assert_eq!(
        (pm["direction"].as_str(), pm["author"]["type"].as_str()),
        (Some("out"), Some("page"))
    );
    stack.settled().await;
    assert_eq!(
        stack
            .get(
                &format!("/conversations/{id}/messages"),
                &stack.admin(&t.account)
            )
            .await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(comment_conversations(&stack, &t, 1).await.len(), 1);
    let (s, _) = stack
        .api(
            "GET",
            &format!("/contacts/ct_{}_{}", t.page_id, t.page_id),
            Some(&stack.admin(&t.account)),
            None,
        )
        .await;
    assert_eq!(s, 404, "the Page is never a contact");
}

#[tokio::test]
async fn public_and_private_replies_and_the_one_private_reply_rule() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let agent = stack.token(&t.account, "agent-1", Role::Agent);
    let (a, b) = (format!("7{}", unique()), format!("7{}", unique()));
    let post = format!("{}", unique());
    changes(
        &stack,
        &t,
        vec![
            comment(&t, &a, &post, "1001", "Do you ship to Norway?", 60),
            comment(&t, &b, &post, "1002", "And to Iceland?", 30),
        ],
    )
    .await;
    let conv = comment_conversations(&stack, &t, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    messages_where(&stack, &t, &conv, "2 comments", |m| m.len() == 3).await;

    // Public, to the latest comment by default.
    let (s, m) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "Yes, both!"})),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    messages_where(&stack, &t, &conv, "public reply sent", |a| {
        a.iter()
            .any(|x| x["id"] == id.as_str() && x["status"] == "sent")
    })
    .await;
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    let call = calls
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("/{post}_1002/comments")))
        })
        .expect("public reply call");
    assert_eq!(call["method"], "POST");
    assert_eq!(call["body"]["message"], "Yes, both!");
    // Its own feed webhook comes back from the simulator and is matched, not stored twice.
    stack.settled().await;
    let msgs = stack
        .get(
            &format!("/conversations/{conv}/messages"),
            &stack.admin(&t.account),
        )
        .await;
    assert_eq!(msgs["items"].as_array().unwrap().len(), 4, "{msgs}");

    // Public to a named comment.
    let (s, _) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "Norway: 3 days", "reply_to": format!("{post}_1001")})),
        )
        .await;
    assert_eq!(s, 202);
    messages_where(&stack, &t, &conv, "second public reply", |a| {
        a.iter()
            .any(|x| x["text"] == "Norway: 3 days" && x["status"] == "sent")
    })
    .await;
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    assert!(calls.as_array().unwrap().iter().any(|r| {
        r["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!("/{post}_1001/comments")))
    }));

    // Private: Meta's one private reply to the commenter.
    let (s, m) = stack.api("POST", &format!("/conversations/{conv}/messages"), Some(&agent), Some(json!({"text": "I sent you the tracking link", "reply_to": format!("{post}_1001"), "private": true}))).await;
    assert_eq!(s, 202, "{m}");
    assert_eq!(m["private"], true);
    let pid = m["id"].as_str().unwrap().to_owned();
    messages_where(&stack, &t, &conv, "private reply sent", |a| {
        a.iter()
            .any(|x| x["id"] == pid.as_str() && x["status"] == "sent")
    })
    .await;
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    let call = calls
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["body"]["recipient"]["comment_id"] == format!("{post}_1001").as_str())
        .expect("private reply call");
    assert!(
        call["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{}/messages", t.page_id))
    );
    assert_eq!(
        call["body"]["message"]["text"],
        "I sent you the tracking link"
    );
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "again", "reply_to": format!("{post}_1001"), "private": true})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("private_reply_exists")),
        "{v}"
    );
    // The other comment still has its own.
    let (s, _) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(
                json!({"text": "for you too", "reply_to": format!("{post}_1002"), "private": true}),
            ),
        )
        .await;
    assert_eq!(s, 202);
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "x", "reply_to": "999_999"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_private_reply_after_seven_days_is_refused() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let agent = stack.token(&t.account, "agent-1", Role::Agent);
    let post = format!("{}", unique());
    let age = 7 * DAY_MS / 1000 + 60;
    changes(
        &stack,
        &t,
        vec![
            comment(
                &t,
                &format!("7{}", unique()),
                &post,
                "2001",
                "old question",
                age,
            ),
            comment(&t, &format!("7{}", unique()), &post, "2002", "fresh", 60),
        ],
    )
    .await;
    let conv = comment_conversations(&stack, &t, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    messages_where(&stack, &t, &conv, "2 comments", |m| m.len() == 3).await;
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "late", "reply_to": format!("{post}_2001"), "private": true})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("private_reply_window_closed")),
        "{v}"
    );
    assert!(v["error"]["closed_at"].is_string());
    // A public reply to the same old comment is fine.
    let (s, _) = stack
        .api(
            "POST",
            &format!("/conversations/{conv}/messages"),
            Some(&agent),
            Some(json!({"text": "public is fine", "reply_to": format!("{post}_2001")})),
        )
        .await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn a_resolved_post_conversation_is_not_reopened() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let post = format!("{}", unique());
    changes(
        &stack,
        &t,
        vec![comment(
            &t,
            &format!("7{}", unique()),
            &post,
            "3001",
            "first",
            60,
        )],
    )
    .await;
    let conv = comment_conversations(&stack, &t, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        stack
            .api(
                "POST",
                &format!("/conversations/{conv}/resolve"),
                Some(&stack.admin(&t.account)),
                None
            )
            .await
            .0,
        200
    );
    changes(
        &stack,
        &t,
        vec![comment(
            &t,
            &format!("7{}", unique()),
            &post,
            "3002",
            "second",
            10,
        )],
    )
    .await;
    let convs = comment_conversations(&stack, &t, 2).await;
    let open: Vec<_> = convs.iter().filter(|c| c["status"] == "open").collect();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0]["id"], conv.as_str());
    assert_eq!(open[0]["post_id"], format!("{}_{post}", t.page_id).as_str());
}

#[tokio::test]
async fn leads_become_contacts_and_conversations_and_test_leads_are_recorded() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let tok = stack.admin(&t.account);
    // Meta's documented sample uses numeric ids.
    let lead_id: u64 = 5_000_000_000_000 + unique() % 1_000_000_000;
    stack.sim("PUT", &format!("/_sim/leads/{lead_id}"), Some(json!({"field_data": [
        {"name": "full_name", "values": ["Ada Lovelace"]}, {"name": "email", "values": ["Ada@Example.com"]},
        {"name": "phone_number", "values": ["+44 20 7946 0000"]}, {"name": "which_model", "values": ["trail", "road"]}]}))).await;
    let body = json!({"object": "page", "entry": [{"id": t.page_id.parse::<u64>().unwrap(), "time": 1438292065, "changes": [{"field": "leadgen",
        "value": {"leadgen_id": lead_id, "page_id": t.page_id.parse::<u64>().unwrap(), "form_id": 12312312312u64, "adgroup_id": 12312312312u64, "ad_id": 12312312312u64, "created_time": 1440120384}}]}]});
    assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
    let v = stack
        .wait_for(
            "/conversations?channel=lead",
            &tok,
            "lead conversation",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    let conv = &v["items"][0];
    let msgs = stack
        .get(
            &format!("/conversations/{}/messages", conv["id"].as_str().unwrap()),
            &tok,
        )
        .await;
    let m = &msgs["items"][0];
    assert_eq!(m["kind"], "lead");
    assert_eq!(m["lead"]["status"], "fetched");
    assert_eq!(m["lead"]["fields"]["which_model"], "trail, road");
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .contains("full_name: Ada Lovelace")
    );
    let contact = stack
        .get(
            &format!("/contacts/{}", conv["contact"]["id"].as_str().unwrap()),
            &tok,
        )
        .await;
    assert_eq!(
        (
            contact["name"].as_str(),
            contact["email"].as_str(),
            contact["phone"].as_str()
        ),
        (
            Some("Ada Lovelace"),
            Some("ada@example.com"),
            Some("+44 20 7946 0000")
        )
    );

    // The same person's next lead updates the same contact; each lead is its own conversation.
    let lead2 = lead_id + 1;
    stack.sim("PUT", &format!("/_sim/leads/{lead2}"), Some(json!({"field_data": [{"name": "email", "values": ["ada@example.com"]}, {"name": "phone_number", "values": ["+44 20 7946 1111"]}]}))).await;
    let body2 = body
        .to_string()
        .replace(&lead_id.to_string(), &lead2.to_string());
    assert_eq!(stack.post_webhook(body2.as_bytes()).await.0, 200);
    // And the first lead delivered again changes nothing.
    assert_eq!(stack.post_webhook(body.to_string().as_bytes()).await.0, 200);
    let v = stack
        .wait_for(
            "/conversations?channel=lead",
            &tok,
            "two lead conversations",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 2),
        )
        .await;
    assert_eq!(
        v["items"][0]["contact"]["id"],
        v["items"][1]["contact"]["id"]
    );
    let contact = stack
        .get(
            &format!("/contacts/{}", conv["contact"]["id"].as_str().unwrap()),
            &tok,
        )
        .await;
    assert_eq!(
        (contact["name"].as_str(), contact["phone"].as_str()),
        (Some("Ada Lovelace"), Some("+44 20 7946 1111"))
    );
    stack.settled().await;
    assert_eq!(
        stack.get("/conversations?channel=lead", &tok).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The App Dashboard's test lead cannot be fetched: recorded once, not retried forever.
    let t2 = stack.tenant().await;
    let sample = fixture("meta_dashboard_leadgen_test_sample.json")
        .to_string()
        .replace("\"id\": \"0\"", &format!("\"id\": \"{}\"", t2.page_id))
        .replace("\"id\":\"0\"", &format!("\"id\":\"{}\"", t2.page_id));
    assert_eq!(stack.post_webhook(sample.as_bytes()).await.0, 200);
    let tok2 = stack.admin(&t2.account);
    let v = stack
        .wait_for(
            "/conversations?channel=lead",
            &tok2,
            "test lead recorded",
            |v| v["items"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    let msgs = stack
        .get(
            &format!(
                "/conversations/{}/messages",
                v["items"][0]["id"].as_str().unwrap()
            ),
            &tok2,
        )
        .await;
    assert_eq!(msgs["items"][0]["lead"]["status"], "unavailable");
    stack.settled().await;
    let calls = stack.sim("GET", "/_sim/requests", None).await;
    // Only this test sends the Dashboard's sample, so every fetch of its id is this lead's.
    let fetches = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/444444444444"))
        })
        .count();
    assert_eq!(fetches, 1, "fetched once, then recorded as unavailable");
}
