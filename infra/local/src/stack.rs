//! Brings the local stack up from `template.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pagedesk_agent_api::{AgentApi, App};
use pagedesk_router::Router;
use pagedesk_scheduler::Scheduler;
use pagedesk_sender::Sender;
use pagedesk_shared::adapters::auth::{Role, Verifier, dev_token};
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{
    AgentApiConfig, FunctionConfig, HooksConfig, RouterConfig, SchedulerConfig, SenderConfig,
    WebhookConfig, env,
};
use pagedesk_shared::store::Store;
use pagedesk_webhook::Webhook;
use serde_json::json;
use tokio::net::TcpListener;

use crate::emulators::{self, Emulators};
use crate::fault::{FaultProxy, Faults};
use crate::host::{self, HttpHandler, SqsHandler, event_sources};
use crate::provision;
use crate::sim::Sim;
use crate::template::{self, Cors, Resolver};

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot find template.yaml above {0}")]
    NoRepo(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Emulator(#[from] emulators::EmulatorError),
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    #[error("function {0}: {1}")]
    Function(String, String),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub root: Option<PathBuf>,
    pub webhook_port: u16,
    pub api_port: u16,
    pub sim_port: u16,
    /// The reference inbox (`web/dist`).
    pub web_port: u16,
    pub app_secret: String,
    pub verify_token: String,
    pub jwt_secret: String,
    pub app_id: String,
    pub stack_name: String,
    /// Visibility timeout of received records, instead of the queue's (Lambda uses the queue's;
    /// locally a few seconds keeps retries and redrive observable).
    pub visibility: Option<i32>,
    /// Seconds between scheduler runs (the template says every minute).
    pub schedule_seconds: Option<u64>,
    /// Graph call timeout for the hosted functions.
    /// Function settings taken from this process's environment (test stacks use short
    /// timeouts and no settings cache).
    pub env_overrides: Vec<(String, String)>,
    /// Concurrent pollers per SQS event source: Lambda runs several invocations at once, and
    /// so does the local host, so that races show up here too.
    pub pollers: usize,
    pub ready_file: Option<PathBuf>,
    pub seed_demo: bool,
    pub demo_account: String,
    pub demo_page_id: String,
}

/// The demo Page's linked Instagram account (`make dev`).
pub const DEMO_INSTAGRAM_ID: &str = "17841400000000001";

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_owned())
}

fn port(k: &str, d: u16) -> u16 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

impl Options {
    pub fn from_env() -> Self {
        Options {
            root: std::env::var("PAGEDESK_ROOT").ok().map(Into::into),
            webhook_port: port("PAGEDESK_WEBHOOK_PORT", 3000),
            api_port: port("PAGEDESK_API_PORT", 3001),
            sim_port: port("PAGEDESK_SIM_PORT", 3002),
            web_port: port("PAGEDESK_WEB_PORT", 3003),
            app_secret: env_or("PAGEDESK_DEV_APP_SECRET", "local-app-secret"),
            verify_token: env_or("PAGEDESK_DEV_VERIFY_TOKEN", "local-verify-token"),
            jwt_secret: env_or("PAGEDESK_DEV_JWT_SECRET", "local-dev-secret"),
            app_id: env_or("PAGEDESK_DEV_APP_ID", "100000000000999"),
            stack_name: env_or("PAGEDESK_LOCAL_STACK", "pagedesk-local"),
            visibility: std::env::var("PAGEDESK_LOCAL_VISIBILITY_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok()),
            schedule_seconds: std::env::var("PAGEDESK_LOCAL_SCHEDULE_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok()),
            env_overrides: [
                env::GRAPH_TIMEOUT_MS,
                env::SETTINGS_CACHE_SECONDS,
                env::AI_AGENT_TIMEOUT_MS,
                env::PAGE_CHECK_SECONDS,
                env::RECONCILE_SECONDS,
                env::WEBHOOK_TIMEOUT_MS,
                env::WEBHOOK_GIVE_UP_SECONDS,
                env::INSTAGRAM_PRIVATE_REPLIES_PER_HOUR,
            ]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
            .collect(),
            pollers: std::env::var("PAGEDESK_LOCAL_POLLERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2)
                .max(1),
            ready_file: None,
            seed_demo: false,
            demo_account: env_or("PAGEDESK_DEV_ACCOUNT", "acct-dev"),
            demo_page_id: env_or("PAGEDESK_DEV_PAGE_ID", "100000000000001"),
        }
    }
}

pub struct Stack {
    pub info: serde_json::Value,
    _emulators: Emulators,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn find_root(start: Option<PathBuf>) -> Result<PathBuf, StackError> {
    let start = match start {
        Some(p) => p,
        None => std::env::current_dir()?,
    };
    let mut dir: Option<&Path> = Some(&start);
    while let Some(d) = dir {
        if d.join("template.yaml").exists() && d.join("Cargo.toml").exists() {
            return Ok(d.to_owned());
        }
        dir = d.parent();
    }
    Err(StackError::NoRepo(start.display().to_string()))
}

async fn bind(port: u16) -> Result<(TcpListener, u16), StackError> {
    let l = TcpListener::bind(("127.0.0.1", port)).await?;
    let p = l.local_addr()?.port();
    Ok((l, p))
}

impl Stack {
    pub async fn start(opts: Options) -> Result<Stack, StackError> {
        let root = find_root(opts.root.clone())?;
        let tpl = template::parse(&std::fs::read_to_string(root.join("template.yaml"))?)?;

        // Bind first, so that a busy port fails fast and port 0 resolves before anything
        // needs the URLs.
        let (webhook_l, webhook_port) = bind(opts.webhook_port).await?;
        let (api_l, api_port) = bind(opts.api_port).await?;
        let (sim_l, sim_port) = bind(opts.sim_port).await?;
        let (web_l, web_port) = bind(opts.web_port).await?;
        let webhook_base = format!("http://127.0.0.1:{webhook_port}");
        let api_url = format!("http://127.0.0.1:{api_port}");
        let sim_url = format!("http://127.0.0.1:{sim_port}");
        let web_url = format!("http://127.0.0.1:{web_port}");

        let log_dir =
            root.join(".local/logs")
                .join(format!("{}-{}", opts.stack_name, std::process::id()));
        let emu = emulators::start(&root, &log_dir).await?;
        // The functions and the event sources reach the emulators through fault proxies, so
        // an outage can be staged (`POST /_sim/faults`); the stack file names the emulators'
        // own URLs, which tests use to look at what was stored.
        let (ddb_proxy, ddb_url) = FaultProxy::start(&emu.dynamodb_url).await?;
        let (moto_proxy, moto_url) = FaultProxy::start(&emu.moto_url).await?;
        let faults = Faults {
            dynamodb: ddb_proxy,
            moto: moto_proxy,
        };
        let clients = crate::aws::clients_for(&ddb_url, &moto_url, &moto_url);

        let secret_values = BTreeMap::from([
            ("AppSecret".to_owned(), opts.app_secret.clone()),
            ("VerifyToken".to_owned(), opts.verify_token.clone()),
        ]);
        let prov = provision::provision(&tpl, &clients, &opts.stack_name, &secret_values).await?;

        let mut params = tpl.parameters.clone();
        params.insert("GraphBaseUrl".into(), sim_url.clone());
        params.insert("MetaAppId".into(), opts.app_id.clone());
        let resolver = Resolver {
            stack: &opts.stack_name,
            refs: &prov.refs,
            attrs: &prov.attrs,
            parameters: &params,
            conditions: &tpl.conditions,
        };

        let mut tasks = Vec::new();
        let mut http_routes: Vec<(String, String, HttpHandler)> = Vec::new();
        let mut api_server: Option<(HttpHandler, Cors)> = None;
        let mut agent_api: Option<Arc<AgentApi>> = None;
        let host_clients = clients;
        for f in &tpl.functions {
            // The function's own clients: each service allows what its policy allows.
            let grants = crate::iam::grants(&f.policy, &resolver)
                .map_err(|e| StackError::Function(f.logical_id.clone(), format!("policy: {e}")))?;
            let clients = crate::iam::with_policy(&host_clients, &f.logical_id, grants);
            let mut env: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in tpl.global_env.iter().chain(f.env.iter()) {
                let val = resolver
                    .resolve(v)
                    .map_err(|e| StackError::Function(f.logical_id.clone(), format!("{k}: {e}")))?;
                env.insert(k.clone(), val);
            }
            for (k, v) in &opts.env_overrides {
                env.insert(k.clone(), v.clone());
            }
            // The simulator's stand-in AI agent is http on loopback: allowed here only.
            env.insert(env::ALLOW_PRIVATE_URLS.into(), "1".into());
            if f.function_url.is_some() {
                // Local runs sign agent tokens with a shared secret instead of a JWKS.
                env.insert(env::DEV_JWT_SECRET.into(), opts.jwt_secret.clone());
            }
            // Each function reads its own configuration, as it does at start-up in Lambda.
            let config = |e: pagedesk_shared::Error| {
                StackError::Function(f.logical_id.clone(), e.to_string())
            };
            let lookup = |k: &str| env.get(k).cloned();
            let secrets = |seconds: u64| {
                Arc::new(SecretCache::new(
                    clients.secrets(),
                    Duration::from_secs(seconds),
                ))
            };
            let store = |table: &str| Store::new(clients.dynamo(), table);
            match f.logical_id.as_str() {
                "WebhookFunction" => {
                    let cfg = WebhookConfig::from_lookup(lookup).map_err(&config)?;
                    let w = Arc::new(Webhook::new(cfg, &clients, Arc::new(SystemClock)));
                    let h: HttpHandler = Arc::new(move |req| {
                        let w = w.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let r = w.handle(req).await;
                            host::record_invocation("WebhookFunction", started);
                            r
                        })
                    });
                    for (m, p) in &f.http_routes {
                        http_routes.push((m.clone(), p.clone(), h.clone()));
                    }
                }
                "RouterFunction" => {
                    let cfg = RouterConfig::from_lookup(lookup).map_err(&config)?;
                    let r = Arc::new(Router::new(cfg, &clients, Arc::new(SystemClock)));
                    let h: SqsHandler = Arc::new(move |ev| {
                        let r = r.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let out = r.handle_batch(ev).await;
                            host::record_invocation("RouterFunction", started);
                            out
                        })
                    });
                    tasks.extend(
                        event_sources(&host_clients, &prov, f, h, opts.pollers, opts.visibility)
                            .await,
                    );
                }
                "SenderFunction" => {
                    let cfg = SenderConfig::from_lookup(lookup).map_err(&config)?;
                    let sender = Arc::new(Sender::new(cfg, &clients, Arc::new(SystemClock)));
                    let h: SqsHandler = Arc::new(move |ev| {
                        let s = sender.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let out = s.handle_batch(ev).await;
                            host::record_invocation("SenderFunction", started);
                            out
                        })
                    });
                    tasks.extend(
                        event_sources(&host_clients, &prov, f, h, opts.pollers, opts.visibility)
                            .await,
                    );
                }
                "HooksFunction" => {
                    let cfg = HooksConfig::from_lookup(lookup).map_err(&config)?;
                    let hooks = Arc::new(pagedesk_hooks::Hooks::new(
                        cfg,
                        &clients,
                        Arc::new(SystemClock),
                    ));
                    let h = hooks.clone();
                    let sqs: SqsHandler = Arc::new(move |ev| {
                        let h = h.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let out = h.handle_sqs(ev).await;
                            host::record_invocation("HooksFunction", started);
                            out
                        })
                    });
                    tasks.extend(
                        event_sources(&host_clients, &prov, f, sqs, opts.pollers, opts.visibility)
                            .await,
                    );
                    let h = hooks.clone();
                    let handler: crate::stream::StreamHandler = Arc::new(move |batch| {
                        let h = h.clone();
                        Box::pin(async move {
                            let batch: pagedesk_hooks::StreamEvent =
                                serde_json::from_value(batch).map_err(|e| e.to_string())?;
                            h.handle_stream(batch).await.map_err(|e| e.to_string())
                        })
                    });
                    let arn = prov
                        .attrs
                        .get(&format!("{}.StreamArn", tpl.table.logical_id));
                    let sources = crate::stream::StreamSource::of(f, arn, &ddb_url, handler)
                        .map_err(|e| StackError::Function(f.logical_id.clone(), e))?;
                    tasks.extend(sources.into_iter().map(|s| tokio::spawn(s.run())));
                }
                "SchedulerFunction" => {
                    let cfg = SchedulerConfig::from_lookup(lookup).map_err(&config)?;
                    let scheduler = Scheduler {
                        store: store(&cfg.table),
                        clock: Arc::new(SystemClock),
                        health: Some(pagedesk_scheduler::Health::new(&cfg, &clients)),
                    };
                    let every = opts
                        .schedule_seconds
                        .unwrap_or_else(|| f.schedules.first().map_or(60, |e| rate_seconds(e)));
                    tasks.push(tokio::spawn(async move {
                        let period = Duration::from_secs(every.max(1));
                        // Like EventBridge, the first run comes one period after start.
                        let mut tick =
                            tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                        loop {
                            tick.tick().await;
                            let _busy = crate::idle::Busy::start();
                            let started = std::time::Instant::now();
                            if let Err(e) = scheduler.run().await {
                                tracing::warn!(error = %e, "scheduler run failed");
                            }
                            host::record_invocation("SchedulerFunction", started);
                        }
                    }));
                }
                "MetaCallbacksFunction" => {
                    let cfg =
                        pagedesk_shared::runtime::config::MetaCallbacksConfig::from_lookup(lookup)
                            .map_err(&config)?;
                    let m = Arc::new(pagedesk_meta_callbacks::MetaCallbacks::new(
                        cfg,
                        &clients,
                        Arc::new(SystemClock),
                    ));
                    let h: HttpHandler = Arc::new(move |req| {
                        let m = m.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let r = m.handle(req).await;
                            host::record_invocation("MetaCallbacksFunction", started);
                            r
                        })
                    });
                    for (m, p) in &f.http_routes {
                        http_routes.push((m.clone(), p.clone(), h.clone()));
                    }
                }
                "AgentApiFunction" => {
                    let cfg = AgentApiConfig::from_lookup(lookup).map_err(&config)?;
                    let cache = secrets(cfg.secret_cache_seconds);
                    let a = Arc::new(AgentApi::new(App {
                        verifier: Verifier::new(cfg.auth.clone()),
                        store: store(&cfg.table),
                        graph: pagedesk_shared::adapters::graph::GraphClient::new(&cfg.graph)
                            .proving_with(&cache),
                        secrets: cache,
                        clock: Arc::new(SystemClock),
                        sqs: clients.sqs(),
                        s3: clients.s3(),
                        agent_pages: Default::default(),
                        page_names: Default::default(),
                        cfg,
                    }));
                    agent_api = Some(a.clone());
                    let h: HttpHandler = Arc::new(move |req| {
                        let a = a.clone();
                        Box::pin(async move {
                            let started = std::time::Instant::now();
                            let r = a.handle(req).await;
                            host::record_invocation("AgentApiFunction", started);
                            r
                        })
                    });
                    let mut cors = f.function_url.clone().unwrap_or_default();
                    cors.allow_origins = cors
                        .allow_origins
                        .iter()
                        .map(|o| resolver.resolve(o).map(serde_yaml_ng::Value::String))
                        .collect::<Result<_, _>>()?;
                    api_server = Some((h, cors));
                }
                other => tracing::warn!(function = other, "function not hosted locally"),
            }
        }

        tasks.push(serve(webhook_l, host::http_api(http_routes)));
        if let Some((h, cors)) = api_server {
            tasks.push(serve(api_l, host::function_url(h, cors)));
        }
        let sim = Sim::new(
            format!("{webhook_base}/webhook"),
            opts.app_secret.clone(),
            opts.app_id.clone(),
        )
        .with_faults(faults);
        tasks.push(serve(sim_l, sim.clone().router()));

        tasks.push(serve(
            web_l,
            crate::web::router(
                root.join("web/dist"),
                json!({"api_url": api_url, "sim_url": sim_url, "dev": true, "facebook_app_id": null}),
            ),
        ));

        let admin_token = dev_token(
            &opts.jwt_secret,
            "admin",
            &opts.demo_account,
            Role::Admin,
            30 * 24 * 3600,
        );
        if opts.seed_demo
            && let Some(api) = &agent_api
        {
            // Through the same Facebook Login flow a person would use, against the simulator.
            let login = sim.add_fb_user(crate::facebook::NewUser {
                id: "100000000000010".into(),
                name: "Demo Admin".into(),
                pages: vec![crate::facebook::PageRef {
                    id: opts.demo_page_id.clone(),
                    name: "pagedesk demo Page".into(),
                    tasks: crate::facebook::EVERY_TASK.map(str::to_owned).to_vec(),
                    instagram_business_account: Some(
                        json!({"id": DEMO_INSTAGRAM_ID, "username": "pagedesk.demo"}),
                    ),
                }],
                declined: vec![],
            });
            let mut req = lambda_http::http::Request::new(lambda_http::Body::Text(
                json!({"user_access_token": login["user_access_token"]}).to_string(),
            ));
            *req.method_mut() = lambda_http::http::Method::POST;
            *req.uri_mut() = "/pages/connect".parse().unwrap_or_default();
            req.headers_mut().insert(
                "content-type",
                lambda_http::http::HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = format!("Bearer {admin_token}").parse() {
                req.headers_mut().insert("authorization", v);
            }
            let resp = api.handle(req).await;
            if !resp.status().is_success() {
                return Err(StackError::Function(
                    "AgentApiFunction".into(),
                    format!("demo page registration answered {}", resp.status()),
                ));
            }
        }

        let info = json!({
            "webhook_url": format!("{webhook_base}/webhook"),
            "api_url": api_url,
            "sim_url": sim_url,
            "web_url": web_url,
            "dynamodb_url": emu.dynamodb_url,
            "moto_url": emu.moto_url,
            "region": "us-east-1",
            "stack": opts.stack_name,
            "table": prov.refs.get(&tpl.table.logical_id),
            "bucket": tpl.buckets.first().and_then(|b| prov.refs.get(b)),
            "queues": prov.queue_defs.keys().map(|k| (k.clone(), prov.refs.get(k).cloned())).collect::<BTreeMap<_, _>>(),
            "secrets": tpl.secrets.iter().map(|k| (k.clone(), prov.refs.get(k).cloned())).collect::<BTreeMap<_, _>>(),
            "page_token_prefix": format!("{}/page-token/", opts.stack_name),
            "app_secret": opts.app_secret,
            "verify_token": opts.verify_token,
            "jwt_secret": opts.jwt_secret,
            "app_id": opts.app_id,
            "admin_token": admin_token,
            "demo_account": opts.demo_account,
            "demo_page_id": opts.demo_page_id,
            "logs": log_dir.display().to_string(),
        });
        if let Some(path) = &opts.ready_file {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&info).unwrap_or_default())?;
            std::fs::rename(&tmp, path)?;
        }
        Ok(Stack {
            info,
            _emulators: emu,
            tasks,
        })
    }

    pub fn print_banner(&self) {
        let i = &self.info;
        let s = |k: &str| i[k].as_str().unwrap_or("").to_owned();
        println!(
            "\npagedesk local stack is up\n\
             \n  webhook API   {webhook}   (verify token: {vt})\
             \n  agent API     {api}\
             \n  Meta sim      {sim}\
             \n  inbox         {web}/#token={tok}\
             \n                (the reference front end, signed in as the dev admin)\
             \n  DynamoDB      {ddb}   SQS + Secrets Manager (moto) {moto}\
             \n  logs          {logs}\
             \n\n  admin token (account {acct}):\n  {tok}\
             \n\n  send a signed test message from a Facebook user to the demo Page {page}:\
             \n  curl -s -X POST {sim}/_sim/messages -H 'content-type: application/json' -d '{{\"page_id\":\"{page}\",\"psid\":\"200000000000001\",\"text\":\"Hello from Messenger\"}}'\
             \n  or to its Instagram account {ig} in Direct:\
             \n  curl -s -X POST {sim}/_sim/instagram/messages -H 'content-type: application/json' -d '{{\"ig_id\":\"{ig}\",\"igsid\":\"300000000000001\",\"text\":\"Hello from Instagram\"}}'\
             \n\n  then list conversations:\
             \n  curl -s {api}/conversations -H 'authorization: Bearer {tok}'\
             \n\n  connect another Page the way an admin does (Facebook Login, simulated):\
             \n  curl -s -X POST {sim}/_sim/fb-users -H 'content-type: application/json' -d '{{\"id\":\"100000000000002\",\"name\":\"Demo Admin\",\"pages\":[{{\"id\":\"100000000000003\",\"name\":\"Second demo Page\"}}]}}' | curl -s -X POST {api}/pages/connect -H 'authorization: Bearer {tok}' -H 'content-type: application/json' -d @-\
             \n\n  Ctrl-C stops everything.\n",
            webhook = s("webhook_url"),
            vt = s("verify_token"),
            api = s("api_url"),
            sim = s("sim_url"),
            ig = DEMO_INSTAGRAM_ID,
            web = s("web_url"),
            ddb = s("dynamodb_url"),
            moto = s("moto_url"),
            logs = s("logs"),
            acct = s("demo_account"),
            tok = s("admin_token"),
            page = s("demo_page_id"),
        );
    }
}

fn serve(listener: TcpListener, app: axum::Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

/// Seconds of a `rate(N unit)` schedule expression.
fn rate_seconds(expr: &str) -> u64 {
    let inner = expr
        .trim()
        .trim_start_matches("rate(")
        .trim_end_matches(')');
    let mut it = inner.split_whitespace();
    let n: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    match it.next().unwrap_or("minute").trim_end_matches('s') {
        "second" => n,
        "hour" => n * 3600,
        "day" => n * 86_400,
        _ => n * 60,
    }
}
