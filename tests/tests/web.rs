//! Issue 13 end to end: the reference inbox (`web/`) in a real headless Chromium (Debian's
//! `chromium` and `chromedriver`, installed by `make test`'s install step), driven over
//! WebDriver against the local stack that serves it. A person writes through the simulator and
//! the conversation appears without a reload; the agent opens it, replies (the simulator gets
//! the Send API call), claims and resolves it; a conversation whose window closed refuses the
//! reply with the reason; an admin reorders and edits a routing rule.
//!
//! `PAGEDESK_SCREENSHOT_DIR` (set by `make screenshots`) saves the inbox and a conversation
//! there; otherwise they go to `target/web-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use pagedesk_e2e::{Stack, Tenant, eventually, messaging_event, now_ms, text_event, unique};
use pagedesk_shared::adapters::auth::Role;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn driver() -> Driver {
    let port = free_port();
    let bin = std::env::var("PAGEDESK_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{bin} cannot start ({e}): make test installs chromium-driver (apt)")
        });
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = pagedesk_shared::adapters::tls::reqwest_builder()
        .build()
        .expect("http client");
    eventually("chromedriver to listen", 20, || {
        let req = http.get(format!("{}/status", d.url)).send();
        async move { req.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    d
}

async fn browser(d: &Driver) -> Client {
    let chromium = std::env::var("PAGEDESK_CHROMIUM").unwrap_or_else(|_| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("/usr/bin/chromium")
            .to_owned()
    });
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", "--no-first-run", "--lang=en-US"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("a Chromium session")
}

/// The element `at` once it exists (the app renders asynchronously); `what` names it if not.
async fn located(b: &Client, at: Locator<'_>, what: &str) -> Element {
    b.wait()
        .at_most(WAIT)
        .for_element(at)
        .await
        .unwrap_or_else(|e| panic!("no {what}: {e}"))
}

/// The element `css` once it exists.
async fn find(b: &Client, css: &str) -> Element {
    located(b, Locator::Css(css), &format!("element {css}")).await
}

/// A button by its accessible name (its text).
async fn button(b: &Client, name: &str) -> Element {
    let xpath = format!("//button[normalize-space()='{name}' or @aria-label='{name}']");
    located(b, Locator::XPath(&xpath), &format!("button named {name}")).await
}

/// Waits until the text of `css` contains `want`; answers that text.
async fn text_of(b: &Client, css: &str, want: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok(els) = b.find_all(Locator::Css(css)).await {
            for e in els {
                if let Ok(t) = e.text().await {
                    if t.contains(want) {
                        return t;
                    }
                    last = t;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {want:?}; last text {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn screenshot_dir() -> PathBuf {
    std::env::var("PAGEDESK_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-screenshots")
        })
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}

/// The Send API calls the simulator received for `psid`.
async fn sends_to(stack: &Stack, psid: &str) -> Vec<Value> {
    let log = stack.sim("GET", "/_sim/requests", None).await;
    log.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/messages"))
        })
        .filter(|r| r["body"]["recipient"]["id"] == psid)
        // Message sends, not the "seen" and "typing" the inbox causes.
        .filter(|r| r["body"]["sender_action"].is_null())
        .collect()
}

async fn open_app(stack: &Stack, b: &Client, token: &str) {
    b.goto(&format!("{}/#token={token}", stack.s("web_url")))
        .await
        .expect("open the inbox");
}

#[tokio::test]
async fn an_agent_sees_a_message_arrive_answers_claims_and_resolves() {
    let stack = Stack::connect();
    let t: Tenant = stack.tenant().await;
    let token = stack.token(&t.account, "alice", Role::Agent);
    let d = driver().await;
    let b = browser(&d).await;
    open_app(&stack, &b, &token).await;

    // Signed in from the dev link, as an agent: the inbox, no admin section, and the token is
    // out of the address bar.
    find(&b, "section.inbox").await;
    let url = b.current_url().await.expect("url");
    assert!(
        !url.as_str().contains("token="),
        "token left in the URL: {url}"
    );
    assert!(
        b.find(Locator::Css("a[href='#/admin/pages']"))
            .await
            .is_err(),
        "an agent is shown the admin section"
    );
    let render_ms = b
        .execute(
            "const m = performance.getEntriesByName('pagedesk-rendered')[0]; return m ? m.startTime : null;",
            vec![],
        )
        .await
        .expect("timing");
    eprintln!("web: first render {render_ms} ms after navigation start");

    // A person writes; the row appears without a reload.
    let psid = format!("2{:014}", unique());
    stack
        .sim(
            "POST",
            "/_sim/messages",
            Some(
                json!({"page_id": t.page_id, "psid": psid, "text": "Hello from the browser test"}),
            ),
        )
        .await;
    let row = text_of(&b, "li[data-conversation]", "Hello from the browser test").await;
    assert!(row.contains("Unassigned"), "row: {row}");
    assert!(
        b.find(Locator::Css("li.row.unread")).await.is_ok(),
        "a new person message is marked unread"
    );
    screenshot(&b, "inbox.png").await;

    // Open it: the thread, the window's state, and a reply box named "Reply".
    find(&b, "li[data-conversation] a")
        .await
        .click()
        .await
        .expect("open");
    text_of(&b, ".thread", "Hello from the browser test").await;
    text_of(&b, ".window", "Messaging window open").await;
    let reply = find(&b, "textarea[aria-label='Reply']").await;
    assert!(reply.is_enabled().await.expect("enabled"));
    reply
        .send_keys("Thanks for writing, we are on it")
        .await
        .expect("type");
    button(&b, "Send").await.click().await.expect("send");

    // The simulator receives the Send API call in the Page's name, and the thread shows it sent.
    let sent = eventually("the Send API call", 30, || {
        let stack = &stack;
        let psid = psid.clone();
        async move {
            sends_to(stack, &psid)
                .await
                .into_iter()
                .find(|r| r["body"]["message"]["text"] == "Thanks for writing, we are on it")
        }
    })
    .await;
    assert_eq!(sent["body"]["messaging_type"], "RESPONSE", "{sent}");
    text_of(&b, ".msg.out", "Sent").await;
    screenshot(&b, "conversation.png").await;

    // Claim, then resolve, through the buttons; the API agrees.
    let admin = stack.admin(&t.account);
    let conv_id = stack.get("/conversations", &admin).await["items"][0]["id"]
        .as_str()
        .expect("conversation id")
        .to_owned();
    button(&b, "Claim").await.click().await.expect("claim");
    text_of(&b, ".conv-head .assignee", "Assigned to you").await;
    stack
        .wait_for(
            &format!("/conversations/{conv_id}"),
            &admin,
            "claimed by alice",
            |v| v["assignee"] == "alice",
        )
        .await;
    // Snoozed for an hour through the header's choices, then woken by hand.
    located(
        &b,
        Locator::XPath(
            "//header[contains(@class,'conv-head')]//label[contains(., 'Snooze')]/select",
        ),
        "the snooze choices",
    )
    .await
    .select_by_index(1)
    .await
    .expect("snooze for an hour");
    text_of(&b, ".conv-head .status", "Snoozed until").await;
    stack
        .wait_for(
            &format!("/conversations/{conv_id}"),
            &admin,
            "snoozed for an hour",
            |v| v["status"] == "snoozed" && v["snoozed_until"].is_string(),
        )
        .await;
    button(&b, "Wake now").await.click().await.expect("wake");
    text_of(&b, ".conv-head .status", "Open").await;
    button(&b, "Resolve").await.click().await.expect("resolve");
    button(&b, "Reopen").await;
    stack
        .wait_for(
            &format!("/conversations/{conv_id}"),
            &admin,
            "resolved",
            |v| v["status"] == "resolved",
        )
        .await;
    text_of(&b, "#reply-refusal", "resolved").await;

    // A person whose last message is 25 hours old: the reply box is refused with the reason,
    // as the API would refuse the reply.
    let old = format!("2{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![text_event(
                &t.page_id,
                &old,
                "An old question",
                now_ms() - 25 * 3600 * 1000,
            )],
        )
        .await;
    b.goto(&format!("{}/#/", stack.s("web_url")))
        .await
        .expect("back to the inbox");
    let old_id = open_row(&b, "An old question").await;
    let refusal = text_of(&b, "#reply-refusal", "window").await;
    assert!(refusal.contains("24-hour"), "reason in words: {refusal}");
    let reply = find(&b, "textarea[aria-label='Reply']").await;
    assert!(!reply.is_enabled().await.expect("state"), "reply box open");
    assert!(!button(&b, "Send").await.is_enabled().await.expect("state"));
    let (status, v) = stack
        .api(
            "POST",
            &format!("/conversations/{old_id}/messages"),
            Some(&token),
            Some(json!({"text": "late"})),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("window_closed"))
    );

    b.close().await.expect("close");
}

#[tokio::test]
async fn an_admin_reorders_and_edits_a_routing_rule() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    let (status, v) = stack
        .api(
            "PUT",
            "/routing-rules",
            Some(&admin),
            Some(json!({"rules": [
                {"name": "first", "agents": ["alice"], "method": "round_robin"},
                {"name": "second", "agents": ["bob"], "method": "claim"},
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let d = driver().await;
    let b = browser(&d).await;
    open_app(&stack, &b, &admin).await;
    find(&b, "a[href='#/admin/pages']")
        .await
        .click()
        .await
        .expect("admin");
    // The tenant's Page is listed with its status.
    text_of(&b, &format!("tr[data-page='{}']", t.page_id), "connected").await;

    b.goto(&format!("{}/#/admin/rules", stack.s("web_url")))
        .await
        .expect("rules");
    find(&b, "li[data-rule='second']").await;
    button(&b, "Move second up")
        .await
        .click()
        .await
        .expect("move");
    let agents = b
        .find(Locator::XPath(
            "//li[@data-rule='second']//label[contains(., 'Agents')]/input",
        ))
        .await
        .expect("agents field");
    agents.clear().await.expect("clear");
    agents.send_keys("bob, carol").await.expect("type");
    button(&b, "Save rules").await.click().await.expect("save");
    text_of(&b, "[role=status]", "Saved").await;

    let rules = stack.get("/routing-rules", &admin).await;
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["second", "first"], "{rules}");
    assert_eq!(
        rules["rules"][0]["agents"],
        json!(["bob", "carol"]),
        "{rules}"
    );
    assert_eq!(rules["rules"][1]["agents"], json!(["alice"]), "{rules}");

    // Connect another Page through the simulator's Facebook Login, "only me".
    b.goto(&format!("{}/#/admin/pages", stack.s("web_url")))
        .await
        .expect("pages");
    let page2 = format!("9{:014}", unique());
    let form = find(&b, "form[aria-label='Connect Pages']").await;
    let page_field = form
        .find(Locator::XPath(".//label[contains(., 'Page id')]/input"))
        .await
        .expect("page id field");
    page_field.send_keys(&page2).await.expect("type");
    form.find(Locator::XPath(".//label[contains(., 'Page name')]/input"))
        .await
        .expect("page name field")
        .send_keys("Second Page")
        .await
        .expect("type");
    button(&b, "Log in with the simulator and connect")
        .await
        .click()
        .await
        .expect("connect");
    text_of(
        &b,
        "ul[aria-label='Connect results']",
        "Second Page: connected",
    )
    .await;
    text_of(&b, &format!("tr[data-page='{page2}']"), "connected").await;
    let rules = stack.get("/routing-rules", &admin).await;
    assert!(
        rules["rules"][0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("only me: "))
            && rules["rules"][0]["method"] == "owner",
        "only me puts an owner rule first: {rules}"
    );
    assert_eq!(
        rules["rules"][0]["match"]["pages"],
        json!([page2]),
        "{rules}"
    );

    // Settings: the Human Agent switch.
    b.goto(&format!("{}/#/admin/settings", stack.s("web_url")))
        .await
        .expect("settings");
    find(&b, "form[aria-label='Settings']")
        .await
        .find(Locator::XPath(".//label[contains(., 'Human Agent')]/input"))
        .await
        .expect("human agent switch")
        .click()
        .await
        .expect("toggle");
    button(&b, "Save settings")
        .await
        .click()
        .await
        .expect("save");
    text_of(&b, "[role=status]", "Saved").await;
    assert_eq!(
        stack.get("/settings", &admin).await["human_agent_enabled"],
        true
    );

    // The CSAT report draws its chart (no answers yet: five empty bars).
    b.goto(&format!("{}/#/admin/csat", stack.s("web_url")))
        .await
        .expect("csat");
    let chart = find(&b, "svg.chart[aria-label^='Scores']").await;
    let label = chart
        .attr("aria-label")
        .await
        .expect("label")
        .unwrap_or_default();
    assert!(label.contains("5: 0"), "{label}");

    b.close().await.expect("close");
}

/// Picks `value` in the inbox filter labelled `label` (the filters are plain selects), once
/// the inbox has rendered them (right after the page opens it may not have yet).
async fn filter(b: &Client, label: &str, value: &str) {
    let xpath = format!("//form[contains(@class,'filters')]//label[contains(., '{label}')]/select");
    located(b, Locator::XPath(&xpath), &format!("filter {label}"))
        .await
        .select_by_value(value)
        .await
        .expect("select");
}

/// Waits until the inbox lists exactly one conversation, and its row contains `text`.
async fn only_row(b: &Client, text: &str) {
    eventually(
        &format!("only the row with {text:?} listed"),
        20,
        || async {
            let rows = b
                .find_all(Locator::Css("li[data-conversation]"))
                .await
                .ok()?;
            let mut texts = Vec::new();
            for r in &rows {
                texts.push(r.text().await.ok()?);
            }
            (texts.len() == 1 && texts[0].contains(text)).then_some(())
        },
    )
    .await;
}

/// Opens the first inbox row whose text contains `text`; answers its conversation id.
async fn open_row(b: &Client, text: &str) -> String {
    text_of(b, "li[data-conversation]", text).await;
    for r in b
        .find_all(Locator::Css("li[data-conversation]"))
        .await
        .expect("rows")
    {
        if r.text().await.unwrap_or_default().contains(text) {
            let id = r
                .attr("data-conversation")
                .await
                .expect("attr")
                .expect("a row names its conversation");
            r.find(Locator::Css("a"))
                .await
                .expect("link")
                .click()
                .await
                .expect("open");
            return id;
        }
    }
    panic!("no row with {text}");
}

#[tokio::test]
async fn images_comments_and_leads_show_as_what_they_are() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let token = stack.token(&t.account, "carol", Role::Agent);

    // A person sends a picture (served by the simulator as Meta's CDN would).
    let name = format!("pic-{}.svg", unique());
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="#0866ff"/></svg>"##;
    let put = pagedesk_shared::adapters::tls::reqwest_builder()
        .build()
        .expect("http client")
        .put(format!("{}/_sim/media/{name}", stack.s("sim_url")))
        .header("content-type", "image/svg+xml")
        .body(svg)
        .send()
        .await
        .expect("sim media");
    assert!(put.status().is_success());
    let psid = format!("2{:014}", unique());
    stack
        .deliver(
            &t.page_id,
            vec![messaging_event(&t.page_id, &psid, now_ms(), json!({"message": {"mid": format!("m_{}", unique()), "text": "Here is the photo",
                                    "attachments": [{"type": "image", "payload": {"url": format!("{}/_sim/media/{name}", stack.s("sim_url"))}}]}}))],
        )
        .await;

    // A comment on a post, and a lead.
    let post_obj = unique();
    let comment_obj = unique();
    let commenter = format!("3{:014}", unique());
    let feed = json!({"object": "page", "entry": [{"id": t.page_id, "time": now_ms() / 1000, "changes": [
        {"field": "feed", "value": {"from": {"id": commenter, "name": "Commenter"}, "item": "comment", "verb": "add",
         "post_id": format!("{}_{post_obj}", t.page_id), "comment_id": format!("{post_obj}_{comment_obj}"),
         "parent_id": format!("{}_{post_obj}", t.page_id), "created_time": now_ms() / 1000, "message": "Is this still on sale?"}}]}]});
    let (s, body) = stack.post_webhook(feed.to_string().as_bytes()).await;
    assert_eq!(s, 200, "{body}");
    let lead_id = format!("{}", unique());
    stack
        .sim(
            "PUT",
            &format!("/_sim/leads/{lead_id}"),
            Some(
                json!({"field_data": [{"name": "full_name", "values": ["Ada Lovelace"]},
                                       {"name": "email", "values": ["ada@example.com"]}]}),
            ),
        )
        .await;
    let lead = json!({"object": "page", "entry": [{"id": t.page_id, "time": now_ms() / 1000, "changes": [{"field": "leadgen",
        "value": {"leadgen_id": lead_id, "page_id": t.page_id, "form_id": "555000111", "created_time": now_ms() / 1000}}]}]});
    let (s, body) = stack.post_webhook(lead.to_string().as_bytes()).await;
    assert_eq!(s, 200, "{body}");

    let d = driver().await;
    let b = browser(&d).await;
    open_app(&stack, &b, &token).await;

    // The picture shows inline once our copy is in the bucket (the URL is a presigned read).
    filter(&b, "Channel", "messenger").await;
    open_row(&b, "Here is the photo").await;
    eventually("the image to load", 30, || {
        let b = &b;
        async move {
            let v = b
                .execute(
                    "const i = document.querySelector('.thread img.att-image'); return i && i.complete ? i.naturalWidth : 0;",
                    vec![],
                )
                .await
                .ok()?;
            (v.as_u64().unwrap_or(0) > 0).then_some(())
        }
    })
    .await;

    // The comment thread: the post, the comment, and a private reply from its button.
    filter(&b, "Channel", "comment").await;
    open_row(&b, "Is this still on sale?").await;
    text_of(&b, ".thread", "Is this still on sale?").await;
    button(&b, "Reply privately")
        .await
        .click()
        .await
        .expect("private");
    text_of(&b, ".reply-target", "Private reply").await;
    find(&b, "textarea[aria-label='Reply']")
        .await
        .send_keys("Yes, until Sunday")
        .await
        .expect("type");
    button(&b, "Send").await.click().await.expect("send");
    let comment_id = format!("{post_obj}_{comment_obj}");
    eventually("the private reply", 30, || {
        let stack = &stack;
        let comment_id = comment_id.clone();
        async move {
            let log = stack.sim("GET", "/_sim/requests", None).await;
            log.as_array()?
                .iter()
                .find(|r| {
                    r["body"]["recipient"]["comment_id"] == comment_id.as_str()
                        && r["body"]["message"]["text"] == "Yes, until Sunday"
                })
                .cloned()
        }
    })
    .await;
    text_of(&b, ".msg.out", "Private reply").await;
    screenshot(&b, "comment.png").await;

    // The lead: its answers as a table, and no reply box (there is no thread to answer in).
    filter(&b, "Channel", "lead").await;
    open_row(&b, "ada@example.com").await;
    let answers = text_of(&b, ".lead-answers", "ada@example.com").await;
    assert!(answers.contains("Ada Lovelace"), "{answers}");
    text_of(&b, "#reply-refusal", "lead has no Messenger thread").await;

    b.close().await.expect("close");
}

#[tokio::test]
async fn a_page_overrides_a_setting_and_an_agent_limited_to_one_page_sees_only_it() {
    let stack = Stack::connect();
    let t: Tenant = stack.tenant().await;
    let other = stack.another_page(&t, "Second Page").await;
    let admin = stack.admin(&t.account);
    let d = driver().await;
    let b = browser(&d).await;
    open_app(&stack, &b, &admin).await;

    // Admin → Pages → the second Page's settings: its own greeting, then the account's again.
    b.goto(&format!("{}/#/admin/pages", stack.s("web_url")))
        .await
        .expect("pages");
    button(&b, "Settings of Second Page")
        .await
        .click()
        .await
        .expect("open its settings");
    let form = find(&b, &format!("form[aria-label='Settings of Page {other}']")).await;
    let greeting = form
        .find(Locator::Css("[data-field=greeting] textarea"))
        .await
        .expect("greeting");
    greeting
        .send_keys("Hallo von der zweiten Seite")
        .await
        .expect("type");
    form.find(Locator::XPath(
        ".//button[normalize-space()='Save settings']",
    ))
    .await
    .expect("save button")
    .click()
    .await
    .expect("save");
    text_of(&b, "[data-field=greeting] .origin .badge", "this Page's").await;
    let v = stack.get(&format!("/pages/{other}/settings"), &admin).await;
    assert_eq!(
        v["overrides"],
        json!({"greeting": "Hallo von der zweiten Seite"}),
        "only what changed: {v}"
    );
    screenshot(&b, "page-settings.png").await;
    button(&b, "Follow the account for greeting")
        .await
        .click()
        .await
        .expect("inherit");
    text_of(&b, "[data-field=greeting] .origin .hint", "the account's").await;
    let v = stack.get(&format!("/pages/{other}/settings"), &admin).await;
    assert_eq!(v["overrides"], json!({}), "{v}");
    // Its diagnostics: no webhook has come for it yet, and the page says so.
    button(&b, "Why is nothing arriving?")
        .await
        .click()
        .await
        .expect("diagnose");
    find(&b, "li[data-finding=no_webhook_yet]").await;
    // Only me, then shared again (the rest of the test needs the agent on it).
    button(&b, "Only me").await.click().await.expect("only me");
    text_of(&b, ".page-inbox .sharing", "agents do not see it").await;
    let v = stack.get(&format!("/pages/{other}"), &admin).await;
    assert_eq!(v["sharing"]["mode"], "only_me", "{v}");
    button(&b, "Share with the team")
        .await
        .click()
        .await
        .expect("share");
    text_of(&b, ".page-inbox .sharing", "Shared with the agents").await;
    let v = stack.get(&format!("/pages/{other}"), &admin).await;
    assert_eq!(v["sharing"]["mode"], "shared", "{v}");

    // Admin → Agents: limit an agent to the second Page.
    put_agent(&stack, &admin, "limited").await;
    b.goto(&format!("{}/#/admin/agents", stack.s("web_url")))
        .await
        .expect("agents");
    let pages = find(&b, "form[aria-label='Pages of limited'] input").await;
    pages.send_keys(&other).await.expect("type");
    button(&b, "Set Pages").await.click().await.expect("set");
    eventually("the agent's Pages saved", 10, || async {
        let a = stack.get("/agents/limited", &admin).await;
        (a["pages"] == json!([other])).then_some(())
    })
    .await;

    // People write to both Pages; the limited agent's inbox shows the second Page's only, and
    // its Page filter offers that Page alone.
    for (page, psid, text) in [
        (&t.page_id, "31", "to the first Page"),
        (&other, "32", "to the second Page"),
    ] {
        stack
            .deliver(
                page,
                vec![text_event(
                    page,
                    &format!("{psid}{:012}", unique()),
                    text,
                    now_ms(),
                )],
            )
            .await;
    }
    let everyone = stack.token(&t.account, "everyone", Role::Agent);
    eventually("both conversations listed", 20, || async {
        let all = stack.get("/conversations", &everyone).await;
        (all["items"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;
    b.close().await.expect("close");
    // A browser of the agent's own (the admin's session is not theirs).
    let b = browser(&d).await;
    let limited = stack.token(&t.account, "limited", Role::Agent);
    open_app(&stack, &b, &limited).await;
    text_of(&b, "li[data-conversation]", "to the second Page").await;
    let rows = b
        .find_all(Locator::Css("li[data-conversation]"))
        .await
        .expect("rows");
    let mut texts = Vec::new();
    for r in rows {
        texts.push(r.text().await.unwrap_or_default());
    }
    assert!(
        texts.len() == 1 && texts[0].contains("to the second Page"),
        "{texts:?}"
    );
    let options = b
        .find_all(Locator::XPath(
            "//form[contains(@class,'filters')]//label[contains(., 'Page')]/select/option",
        ))
        .await
        .expect("options");
    let mut values = Vec::new();
    for o in options {
        values.push(o.prop("value").await.ok().flatten().unwrap_or_default());
    }
    assert_eq!(values, ["".to_owned(), other.clone()], "the Page filter");
    b.close().await.expect("close");
}

async fn put_agent(stack: &Stack, admin: &str, id: &str) {
    let (status, v) = stack
        .api(
            "PUT",
            &format!("/agents/{id}"),
            Some(admin),
            Some(json!({"status": "online"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn an_agent_notes_labels_and_answers_with_a_saved_reply() {
    let stack = Stack::connect();
    let t: Tenant = stack.tenant().await;
    let admin = stack.admin(&t.account);
    put_agent(&stack, &admin, "alice").await;
    let (s, v) = stack
        .api(
            "PUT",
            "/agents/alice",
            Some(&admin),
            Some(json!({"name": "Alice"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = stack
        .api(
            "PUT",
            "/saved-replies/thanks",
            Some(&admin),
            Some(json!({"text": "Thanks {{contact.first_name}}, {{agent.name}} here."})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (one, two) = (format!("2{:014}", unique()), format!("2{:014}", unique()));
    for (psid, text) in [
        (&one, "First person writes"),
        (&two, "Second person writes"),
    ] {
        stack
            .sim(
                "POST",
                "/_sim/messages",
                Some(json!({"page_id": t.page_id, "psid": psid, "text": text})),
            )
            .await;
    }
    let token = stack.token(&t.account, "alice", Role::Agent);
    let d = driver().await;
    let b = browser(&d).await;
    open_app(&stack, &b, &token).await;
    let id = open_row(&b, "First person writes").await;

    // A private note: in the thread as a note, never at the Send API.
    find(&b, "textarea[aria-label='Private note']")
        .await
        .send_keys("Checked the order, it ships Monday")
        .await
        .expect("type");
    button(&b, "Add note").await.click().await.expect("note");
    text_of(&b, ".thread .kind-note", "it ships Monday").await;
    let msgs = stack.all_messages(&id, &admin).await;
    assert!(
        msgs.iter()
            .any(|m| m["kind"] == "note" && m["author"]["id"] == "alice"),
        "{msgs:?}"
    );

    // A label, then the list filtered by it shows this conversation alone.
    let labels = find(&b, "input[aria-label='Labels, comma-separated']").await;
    labels.send_keys("vip").await.expect("type");
    button(&b, "Save labels")
        .await
        .click()
        .await
        .expect("labels");
    text_of(&b, ".conv-head .labels", "vip").await;
    eventually("the label among the filter's choices", 20, || async {
        let opts = b
            .find_all(Locator::Css("form.filters option[value='vip']"))
            .await
            .ok()?;
        (!opts.is_empty()).then_some(())
    })
    .await;
    filter(&b, "Label", "vip").await;
    only_row(&b, "First person writes").await;

    // `/` offers the saved reply; choosing it fills in the agent's name.
    find(&b, "textarea[aria-label='Reply']")
        .await
        .send_keys("/tha")
        .await
        .expect("type");
    button(&b, "/thanks").await.click().await.expect("choose");
    let filled = find(&b, "textarea[aria-label='Reply']")
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        filled.starts_with("Thanks") && filled.ends_with("Alice here."),
        "{filled}"
    );
    button(&b, "Send").await.click().await.expect("send");
    let sent = eventually("the saved reply at the Send API", 30, || {
        let stack = &stack;
        let one = one.clone();
        async move {
            let s = sends_to(stack, &one).await;
            (!s.is_empty()).then_some(s)
        }
    })
    .await;
    assert_eq!(sent[0]["body"]["message"]["text"], filled.as_str());
    assert!(
        !sends_to(&stack, &one)
            .await
            .iter()
            .any(|s| s.to_string().contains("ships Monday")),
        "the note never reached Meta"
    );

    // A thumbs-up on the person's message reaches Messenger and shows in the thread.
    button(&b, "React with a thumbs-up")
        .await
        .click()
        .await
        .expect("react");
    text_of(&b, ".thread .page-reaction", "👍").await;
    let log = stack.sim("GET", "/_sim/requests", None).await;
    assert!(
        log.as_array()
            .into_iter()
            .flatten()
            .any(|r| r["body"]["sender_action"] == "react"
                && r["body"]["recipient"]["id"] == one.as_str()),
        "a react sender action for the person"
    );

    // A note of the admin's naming alice: a notice in her inbox and a count in the title.
    let (s, v) = stack
        .api(
            "POST",
            &format!("/conversations/{id}/notes"),
            Some(&admin),
            Some(json!({"text": "@alice can you call them back?"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    find(&b, ".notices-panel summary")
        .await
        .click()
        .await
        .expect("open the notices");
    text_of(&b, "li[data-notice=mention]", "admin-1 mentioned you").await;
    let title = b.title().await.expect("title");
    assert!(title.starts_with("(1)"), "{title}");

    // Search: the second person by their name, then only their conversation is listed.
    filter(&b, "Label", "").await;
    let contact = stack
        .all_pages("/conversations?limit=100", &admin, "cursor")
        .await
        .into_iter()
        .find(|c| {
            c["contact"]["id"]
                .as_str()
                .is_some_and(|x| x.ends_with(&two))
        })
        .expect("the second conversation");
    let name = contact["contact"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let last_word = name
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_lowercase();
    find(&b, "input[aria-label='Search contacts']")
        .await
        .send_keys(&last_word)
        .await
        .expect("type");
    button(&b, "Search").await.click().await.expect("search");
    let hit = format!(
        "li[data-contact='{}'] button",
        contact["contact"]["id"].as_str().unwrap_or_default()
    );
    find(&b, &hit).await.click().await.expect("pick");
    only_row(&b, "Second person writes").await;
}
