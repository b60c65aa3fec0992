//! Test harness: talks to a running local stack over HTTP and the AWS SDK, the way Meta and a
//! front end would. `make test` starts the stack and points `PAGEDESK_STACK_FILE` at the JSON
//! it writes when ready.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pagedesk_shared::adapters::auth::{Role, dev_token};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::meta::signature;
use serde_json::{Value, json};

/// The repository's `template.yaml`, read.
fn template() -> pagedesk_local::template::Template {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template readable");
    pagedesk_local::template::parse(&text).expect("template parses")
}

pub struct Stack {
    pub info: Value,
    pub http: reqwest::Client,
}

impl Stack {
    pub fn connect() -> Stack {
        let path = std::env::var("PAGEDESK_STACK_FILE")
            .expect("PAGEDESK_STACK_FILE is not set: run the end-to-end tests through `make test`");
        let text = std::fs::read_to_string(&path).expect("stack file readable");
        Stack {
            info: serde_json::from_str(&text).expect("stack file is JSON"),
            http: pagedesk_shared::adapters::tls::reqwest_builder()
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn s(&self, key: &str) -> String {
        self.info[key].as_str().unwrap_or_default().to_owned()
    }

    /// The stored message rows of a conversation as DynamoDB holds them, newest first.
    pub async fn message_items(
        &self,
        account: &str,
        conv: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.clients()
            .await
            .dynamo()
            .query()
            .table_name(self.s("table"))
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":p", S(format!("ACC#{account}#CONV#{conv}")))
            .expression_attribute_values(":m", S("MSG#".into()))
            .scan_index_forward(false)
            .send()
            .await
            .ok()
            .and_then(|o| o.items)
            .unwrap_or_default()
    }

    pub async fn clients(&self) -> Clients {
        pagedesk_local::aws::clients_for(
            &self.s("dynamodb_url"),
            &self.s("moto_url"),
            &self.s("moto_url"),
        )
    }

    /// A new table provisioned from the template, for tests that need one of their own (the
    /// scheduler's cursor, a store behind a proxy).
    pub async fn fresh_table(&self) -> String {
        self.fresh_stack().await.1.refs["Table"].clone()
    }

    /// A new stack's resources (table, queues, secrets, bucket) provisioned from the
    /// template, with its name: for a function a test builds and runs by itself.
    pub async fn fresh_stack(&self) -> (String, pagedesk_local::provision::Provisioned) {
        let clients = self.clients().await;
        let name = format!("t{}", unique());
        // Nothing reads a fresh table's stream (the hooks function polls the stack's own), and
        // DynamoDB Local keeps one at a cost on every write: the scheduler's tests, which write
        // hundreds of conversations, took 104 s with it and 92 s without (alone, 2026-12-06).
        let mut tpl = template();
        if let Some(props) = tpl.table.properties.as_mapping_mut() {
            props.remove("StreamSpecification");
        }
        let prov = pagedesk_local::provision::provision(
            &tpl,
            &clients,
            &name,
            &std::collections::BTreeMap::new(),
        )
        .await
        .expect("provisioned");
        (name, prov)
    }

    /// Clients that refuse what `function`'s policy in `template.yaml` does not grant on the
    /// resources of `fresh` (a [`Stack::fresh_stack`]), as the local host holds the functions
    /// it runs: a test that builds a function itself is held to the same policy.
    pub async fn clients_as(
        &self,
        function: &str,
        fresh: &(String, pagedesk_local::provision::Provisioned),
    ) -> Clients {
        let tpl = template();
        let f = tpl
            .functions
            .iter()
            .find(|f| f.logical_id == function)
            .unwrap_or_else(|| panic!("no function {function} in template.yaml"));
        let (name, prov) = fresh;
        let resolver = pagedesk_local::template::Resolver {
            stack: name,
            refs: &prov.refs,
            attrs: &prov.attrs,
            parameters: &tpl.parameters,
            conditions: &tpl.conditions,
        };
        let grants = pagedesk_local::iam::grants(&f.policy, &resolver).expect("policy resolves");
        pagedesk_local::iam::with_policy(&self.clients().await, function, grants)
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.info["queues"][logical_id]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn token(&self, account: &str, sub: &str, role: Role) -> String {
        dev_token(&self.s("jwt_secret"), sub, account, role, 3600)
    }

    pub fn admin(&self, account: &str) -> String {
        self.token(account, "admin-1", Role::Admin)
    }

    /// Posts `body` to the webhook signed with the app secret, as Meta does.
    pub async fn post_webhook(&self, body: &[u8]) -> (u16, String) {
        let sig = signature::sign(self.s("app_secret").as_bytes(), body);
        self.post_webhook_with(body, Some(&sig)).await
    }

    /// Delivers `messaging[]` items for `page` as one signed webhook; Meta must get a 200.
    pub async fn deliver(&self, page: &str, items: Vec<Value>) {
        let body = envelope(page, "messaging", items).to_string();
        let (status, text) = self.post_webhook(body.as_bytes()).await;
        assert_eq!(status, 200, "webhook: {text}");
    }

    pub async fn post_webhook_with(&self, body: &[u8], sig: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .post(self.s("webhook_url"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        let res = req.send().await.expect("webhook reachable");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.s("api_url"), path);
        let mut req = self.http.request(method.parse().expect("method"), url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("agent api reachable");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let (status, v) = self.api("GET", path, Some(token), None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// A fresh account with one Page connected through the simulator's Facebook Login, so
    /// tests do not see each other's data and every token is one the simulator minted.
    pub async fn tenant(&self) -> Tenant {
        let n = unique();
        let account = format!("acct-{n}");
        let page_id = format!("9{n:014}");
        let login = self
            .fb_user(&format!("7{n:014}"), &[(&page_id, "Test Page")], &[])
            .await;
        let (status, v) = self
            .api(
                "POST",
                "/pages/connect",
                Some(&self.admin(&account)),
                Some(json!({"user_access_token": login["user_access_token"]})),
            )
            .await;
        assert_eq!(
            (status, v["pages"][0]["result"].as_str()),
            (200, Some("connected")),
            "connect page: {v}"
        );
        Tenant { account, page_id }
    }

    /// `psid`'s conversation on `page` (its id) and its messages as an admin of `account`
    /// reads them, once `done` holds for the messages; panics after `secs`.
    pub async fn messages_when(
        &self,
        account: &str,
        page: &str,
        psid: &str,
        what: &str,
        secs: u64,
        done: impl Fn(&[Value]) -> bool,
    ) -> (String, Vec<Value>) {
        let admin = self.admin(account);
        let contact = format!("ct_{page}_{psid}");
        eventually(&format!("{what} ({psid})"), secs, || async {
            let all = self
                .all_pages("/conversations?limit=100", &admin, "cursor")
                .await;
            let c = all
                .into_iter()
                .find(|c| c["contact"]["id"] == contact.as_str())?;
            let id = c["id"].as_str()?.to_owned();
            let v = self
                .get(&format!("/conversations/{id}/messages"), &admin)
                .await;
            let items = v["items"].as_array()?.clone();
            done(&items).then_some((id, items))
        })
        .await
    }

    /// Another Page, named `name`, connected to `t`'s account by a person with full control.
    pub async fn another_page(&self, t: &Tenant, name: &str) -> String {
        let n = unique();
        let page_id = format!("8{n:014}");
        let login = self
            .fb_user(&format!("6{n:014}"), &[(&page_id, name)], &[])
            .await;
        let (status, v) = self
            .api(
                "POST",
                "/pages/connect",
                Some(&self.admin(&t.account)),
                Some(json!({"user_access_token": login["user_access_token"]})),
            )
            .await;
        assert_eq!(
            (status, v["pages"][0]["result"].as_str()),
            (200, Some("connected")),
            "connect another page: {v}"
        );
        page_id
    }

    /// A Facebook user in the simulator who manages `pages` (id, name) and declined
    /// `declined`: `{user_access_token, code}`.
    pub async fn fb_user(&self, id: &str, pages: &[(&str, &str)], declined: &[&str]) -> Value {
        let pages: Vec<Value> = pages
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        self.sim(
            "POST",
            "/_sim/fb-users",
            Some(json!({"id": id, "name": "Page Admin", "pages": pages, "declined": declined})),
        )
        .await
    }

    /// A Facebook user in the simulator whose role on `page` is `tasks` (Meta's task names):
    /// `{user_access_token, code}`.
    pub async fn fb_user_with_tasks(&self, id: &str, page: &str, tasks: &[&str]) -> Value {
        self.sim(
            "POST",
            "/_sim/fb-users",
            Some(json!({"id": id, "name": "Someone", "pages": [{"id": page, "name": "Page", "tasks": tasks}]})),
        )
        .await
    }

    /// The token of a new person with full control of `page` (what `PUT /pages/{id}` takes).
    pub async fn manager_token(&self, page: &str) -> String {
        let login = self
            .fb_user(&format!("8{}", unique()), &[(page, "Page")], &[])
            .await;
        login["user_access_token"]
            .as_str()
            .expect("a user token")
            .to_owned()
    }

    /// The Page token `/me/accounts` lists for `page` to the person whose token is `user_token`.
    pub async fn listed_page_token(&self, user_token: &str, page: &str) -> String {
        let url = format!(
            "{}/v25.0/me/accounts?access_token={user_token}",
            self.s("sim_url"),
        );
        let v: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("sim")
            .json()
            .await
            .expect("json");
        v["data"]
            .as_array()
            .and_then(|pages| pages.iter().find(|p| p["id"] == page))
            .and_then(|p| p["access_token"].as_str())
            .expect("a page token")
            .to_owned()
    }

    /// A Page token the simulator minted for `page` (a new person with full control of it).
    pub async fn page_token(&self, page: &str) -> String {
        let user = self.manager_token(page).await;
        self.listed_page_token(&user, page).await
    }

    /// A sender of its own on the stack's table and queue (so a test decides when a job is
    /// handled), handling `job` as SQS's `receives`-th delivery of it.
    pub async fn send_job(
        &self,
        job: &pagedesk_shared::contracts::queue::OutboundJob,
        receives: u32,
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        use pagedesk_shared::runtime::config::{FunctionConfig, SenderConfig};
        let cfg = SenderConfig::from_lookup(|k| match k {
            "PAGEDESK_TABLE" => Some(self.s("table")),
            "PAGEDESK_OUTBOUND_QUEUE_URL" => Some(self.queue_url("OutboundQueue")),
            "PAGEDESK_GRAPH_BASE_URL" => Some(self.s("sim_url")),
            _ => None,
        })
        .expect("sender config");
        let clients = self.clients().await;
        let sender = pagedesk_sender::Sender::new(
            cfg,
            &clients,
            std::sync::Arc::new(pagedesk_shared::clock::SystemClock),
        );
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = Some(format!("r{}", unique()));
        record.body = serde_json::to_string(job).ok();
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), receives.to_string());
        record
            .attributes
            .insert("MessageGroupId".into(), job.conversation_id.clone());
        let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
        batch.records = vec![record];
        sender.handle_batch(batch).await
    }

    /// The Page token pagedesk holds for `page`, `None` when there is no such secret. Any other
    /// failure (moto down, access refused) fails the test: it proves nothing about the token.
    pub async fn stored_token(&self, page: &str) -> Option<String> {
        let out = self
            .clients()
            .await
            .secrets()
            .get_secret_value()
            .secret_id(format!("{}{page}", self.s("page_token_prefix")))
            .send()
            .await;
        match out {
            Ok(s) => Some(s.secret_string().expect("a secret string").to_owned()),
            Err(e) => {
                let e = e.into_service_error();
                assert!(
                    e.is_resource_not_found_exception(),
                    "reading the Page token failed: {e}"
                );
                None
            }
        }
    }

    pub async fn sim(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{}", self.s("sim_url"), path),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("sim reachable");
        res.json().await.unwrap_or(Value::Null)
    }

    /// Polls the agent API until `check` accepts the value at `path`, or panics after 15 s.
    pub async fn wait_for(
        &self,
        path: &str,
        token: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, v) = self.api("GET", path, Some(token), None).await;
            if status == 200 && check(&v) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}: last answer {status} {v}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the local stack has done everything it was given: every event-source queue
    /// drained and nothing in flight (`GET /_local/idle`). Tests that assert something did
    /// *not* happen call this first instead of sleeping. Panics after 120 s (a send retried with
    /// backoff keeps the stack busy for up to two minutes) or on an error.
    pub async fn settled(&self) {
        self.wait_idle("/_local/idle").await
    }

    /// As [`Stack::settled`], but messages waiting out a delay (the deferred queue's retries
    /// of events whose target has not arrived yet) do not count: everything that could run has.
    pub async fn settled_but_delayed(&self) {
        self.wait_idle("/_local/idle?ignore_delayed=true").await
    }

    /// Waits until the local host's scheduler has finished `n` more runs than when called.
    pub async fn scheduler_ran(&self, n: u64) {
        let runs = || async {
            self.local("/_local/invocations").await["SchedulerFunction"]["count"]
                .as_u64()
                .unwrap_or(0)
        };
        let start = runs().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while runs().await < start + n {
            assert!(
                Instant::now() < deadline,
                "the scheduler did not run {n} times in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One of the local host's own answers (`/_local/...` beside the webhook).
    async fn local(&self, path: &str) -> Value {
        let url = self.s("webhook_url").replace("/webhook", path);
        let res = self.http.get(&url).send().await;
        let res = res.unwrap_or_else(|e| panic!("the local host answers {path}: {e}"));
        res.json()
            .await
            .unwrap_or_else(|e| panic!("{path} answers JSON: {e}"))
    }

    async fn wait_idle(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let v = self.local(path).await;
            assert!(v["error"].is_null(), "the idle check failed: {v}");
            if v["idle"] == true {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the stack was not idle in 120 s: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every item of a paged list (`path` with its query, without `cursor`), following
    /// `next_cursor` as `param` (`cursor` for lists, `after` for the events feed).
    pub async fn all_pages(&self, path: &str, token: &str, param: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}{param}={c}"),
                None => path.to_owned(),
            };
            let v = self.get(&url, token).await;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let done = items.is_empty();
            out.extend(items);
            match v["next_cursor"].as_str() {
                // The feed answers its last cursor again once it is read to the end.
                Some(c) if !done && cursor.as_deref() != Some(c) => cursor = Some(c.to_owned()),
                _ => return out,
            }
        }
    }

    /// Every message of conversation `conv`, oldest first, all pages.
    pub async fn all_messages(&self, conv: &str, token: &str) -> Vec<Value> {
        self.all_pages(
            &format!("/conversations/{conv}/messages?limit=100"),
            token,
            "cursor",
        )
        .await
    }

    /// Polls the events feed `page` events at a time, as a front end does, until `enough`
    /// accepts what was read so far (every event once, in order); panics after `secs`.
    pub async fn watch_feed(
        &self,
        token: &str,
        page: usize,
        secs: u64,
        enough: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/events?limit={page}&after={c}"),
                None => format!("/events?limit={page}"),
            };
            let v = self.get(&path, token).await;
            seen.extend(v["items"].as_array().cloned().unwrap_or_default());
            cursor = v["next_cursor"].as_str().map(str::to_owned).or(cursor);
            if enough(&seen) {
                return seen;
            }
            if Instant::now() > deadline {
                panic!("the feed did not show what was expected; read so far: {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The only conversation of the tenant, once it has `n` messages.
    pub async fn single_conversation(&self, t: &Tenant, n: usize) -> (Value, Vec<Value>) {
        let tok = self.admin(&t.account);
        let list = self
            .wait_for("/conversations", &tok, "a conversation", |v| {
                v["items"].as_array().is_some_and(|a| !a.is_empty())
            })
            .await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "one conversation expected: {list}");
        let id = items[0]["id"].as_str().unwrap_or_default().to_owned();
        let msgs = self
            .wait_for(
                &format!("/conversations/{id}/messages"),
                &tok,
                &format!("{n} messages"),
                |v| v["items"].as_array().is_some_and(|a| a.len() >= n),
            )
            .await;
        let msgs = msgs["items"].as_array().cloned().unwrap_or_default();
        (items[0].clone(), msgs)
    }
}

/// Calls `probe` every 150 ms until it gives `Some`, or panics naming `what` after `secs`.
pub async fn eventually<T, Fut>(what: &str, secs: u64, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub struct Tenant {
    pub account: String,
    pub page_id: String,
}

/// Unique per process and test run.
pub fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    (base % 10_000_000_000_000)
        + N.fetch_add(1, Ordering::SeqCst) * 1_000
        + u64::from(std::process::id() % 1000)
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/meta")
}

pub fn fixture(name: &str) -> Value {
    let p = fixtures_dir().join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .expect("fixture is JSON")
}

/// Rewrites a fixture for a test's Page: every occurrence of the fixture's Page id (and of
/// doc placeholders) becomes the test's ids, so fixtures can be replayed in parallel.
pub fn retarget(item: &Value, from_page: &str, page: &str, user: &str) -> Value {
    let text = item
        .to_string()
        .replace(from_page, page)
        .replace("<PAGE_ID>", page)
        .replace("<PSID>", user);
    serde_json::from_str(&text).expect("still JSON")
}

/// A `messaging[]` item wrapped in a full webhook body for `page`.
pub fn envelope(page: &str, field: &str, items: Vec<Value>) -> Value {
    json!({"object": "page", "entry": [{"id": page, "time": 1_700_000_000_000i64, field: items}]})
}

/// A person's text message to `page`, as Meta sends it in `messaging[]`.
pub fn text_event(page: &str, user: &str, text: &str, at: i64) -> Value {
    text_event_with_mid(page, user, &format!("m_{}", unique()), text, at)
}

/// A text message with a given `mid` (redeliveries, edits and reactions that name it).
pub fn text_event_with_mid(page: &str, user: &str, mid: &str, text: &str, at: i64) -> Value {
    messaging_event(
        page,
        user,
        at,
        json!({"message": {"mid": mid, "text": text}}),
    )
}

/// A Messenger `messaging` item from `user` to `page` at `at` (ms), with `fields` (`message`,
/// `reaction`, `read`, `delivery`, …) beside the sender, recipient and timestamp.
pub fn messaging_event(page: &str, user: &str, at: i64, fields: Value) -> Value {
    let mut event = json!({"sender": {"id": user}, "recipient": {"id": page}, "timestamp": at});
    if let (Some(e), Value::Object(f)) = (event.as_object_mut(), fields) {
        e.extend(f);
    }
    event
}

/// Now, in milliseconds since the epoch (Meta's timestamps).
pub fn now_ms() -> i64 {
    use pagedesk_shared::clock::Clock;
    pagedesk_shared::clock::SystemClock.now_ms()
}

/// A TCP proxy that holds every chunk it forwards towards `upstream` for a random time up to
/// `max_delay_ms`: a slow network between a writer and DynamoDB, so that requests a writer
/// prepared early reach the server late. Returns the proxy's `http://` URL.
pub async fn delaying_proxy(upstream: &str, max_delay_ms: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let pause = u64::from(jitter_byte()) * max_delay_ms / 255;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                });
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
                up.abort();
            });
        }
    });
    format!("http://{addr}")
}

fn jitter_byte() -> u8 {
    (unique() % 251) as u8
}

/// A Messenger conversation whose person last wrote at `at`, written through the store as the
/// router writes it (for tests that drive the store or the scheduler directly).
pub async fn seed_conversation(
    store: &pagedesk_shared::store::Store,
    account: &str,
    at: i64,
    now: i64,
) -> String {
    use pagedesk_shared::domain::{AuthorType, Channel, Direction, MessageStatus, ProfileStatus};
    use pagedesk_shared::store::{
        ContactItem, ConversationItem, CreateOutcome, FirstMessage, Message, Touch,
    };
    let n = unique();
    let mut contact = ContactItem::new(account, &format!("ct_{n}"), "1", 0);
    contact.facebook_id = format!("{n}");
    contact.profile_status = ProfileStatus::Fetched;
    assert!(store.create_contact(&contact).await.expect("contact"));
    let id = format!("cv_{n}");
    let mut conv = ConversationItem::new_open(account, &id, "1", Channel::Messenger, now);
    conv.contact_id = contact.id.clone();
    conv.facebook_id = contact.facebook_id.clone();
    let msg = Message {
        id: format!("ms_{n}"),
        direction: Direction::In,
        author_type: AuthorType::Contact,
        status: MessageStatus::Received,
        created_at: at,
        ..Default::default()
    }
    .placed(account, &id);
    let first = FirstMessage {
        msg: &msg,
        mid: Some(&format!("m_{n}")),
        touch: Touch {
            at,
            inbound: true,
            require_active: true,
            now,
        },
        events: &[],
        preface: &[],
    };
    assert_eq!(
        store
            .create_conversation(&conv, None, now, Some(first))
            .await
            .expect("conversation"),
        CreateOutcome::Created
    );
    id
}

/// The ids of the messages in `message.created` events of a feed, by conversation, in the
/// order the router stored them.
pub fn created_by_conversation(feed: &[Value]) -> std::collections::HashMap<String, Vec<String>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for e in feed.iter().filter(|e| e["type"] == "message.created") {
        out.entry(e["conversation_id"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(
                e["data"]["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
    }
    out
}
