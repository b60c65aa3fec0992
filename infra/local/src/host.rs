//! The local host: plays API Gateway (HTTP API routes), the Lambda function URL (with its
//! CORS), and Lambda's SQS event-source mapping (batches, visibility timeout, partial batch
//! failures, redrive to the DLQ after maxReceiveCount), calling the functions' handlers
//! in-process.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lambda_http::Body;

use crate::template::Cors;

pub type HttpHandler = Arc<
    dyn Fn(
            lambda_http::Request,
        ) -> Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>>
        + Send
        + Sync,
>;
pub type SqsHandler =
    Arc<dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + Send>> + Send + Sync>;

pub fn to_lambda(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> lambda_http::Request {
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let mut req = lambda_http::http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

pub fn from_lambda(resp: lambda_http::Response<Body>) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => vec![],
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => vec![],
    };
    let mut r = Response::new(axum::body::Body::from(bytes));
    *r.status_mut() = parts.status;
    *r.headers_mut() = parts.headers;
    r
}

/// The largest request bodies the cloud passes on (API Gateway HTTP API: 10 MB; a function
/// URL: 6 MB), so local runs refuse what the cloud refuses, and pass on what it passes on.
const API_GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;
const FUNCTION_URL_MAX_BODY: usize = 6 * 1024 * 1024;

/// API Gateway HTTP API: only the template's routes reach the function.
pub fn http_api(routes: Vec<(String, String, HttpHandler)>) -> axum::Router {
    let routes = Arc::new(routes);
    axum::Router::new()
        .fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let routes = routes.clone();
                async move {
                    let path = uri.path().to_owned();
                    // Local only: AWS requests made by the hosted functions, for cost measurements.
                    if path == "/_local/aws-requests" && method == Method::GET {
                        return axum::Json(crate::aws::request_counts()).into_response();
                    }
                    // Local only: whether everything given to the stack has been done.
                    if path == "/_local/idle" && method == Method::GET {
                        let ignore_delayed = uri
                            .query()
                            .is_some_and(|q| q.contains("ignore_delayed=true"));
                        return axum::Json(crate::idle::report(ignore_delayed).await)
                            .into_response();
                    }
                    // Per function, the IAM actions its policy grants and those its calls used.
                    if path == "/_local/iam" && method == Method::GET {
                        return axum::Json(crate::iam::report()).into_response();
                    }
                    // Invocations and handler time per function, for the bench's cost figures.
                    if path == "/_local/invocations" && method == Method::GET {
                        return axum::Json(invocations()).into_response();
                    }
                    // DynamoDB's own meter, when the stack runs with PAGEDESK_MEASURE_CAPACITY=1.
                    if path == "/_local/aws-capacity" && method == Method::GET {
                        return axum::Json(crate::aws::consumed_capacity()).into_response();
                    }
                    let Some((_, _, h)) = routes
                        .iter()
                        .find(|(m, p, _)| *m == method.as_str() && path_matches(p, &path))
                    else {
                        return (
                            StatusCode::NOT_FOUND,
                            axum::Json(serde_json::json!({"message": "Not Found"})),
                        )
                            .into_response();
                    };
                    from_lambda(h(to_lambda(method, uri, headers, body)).await)
                }
            },
        )
        .layer(DefaultBodyLimit::max(API_GATEWAY_MAX_BODY))
}

/// An HTTP API route's path (`/meta/data-deletion/{code}`) against a request's: a `{name}`
/// segment matches any one segment.
fn path_matches(route: &str, path: &str) -> bool {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len()
        && r.iter()
            .zip(&p)
            .all(|(r, p)| (r.starts_with('{') && r.ends_with('}') && !p.is_empty()) || r == p)
}

/// A Lambda function URL with the template's CORS settings: preflights are answered by the
/// URL itself, and CORS headers are added to the function's responses.
pub fn function_url(handler: HttpHandler, cors: Cors) -> axum::Router {
    let cors = Arc::new(cors);
    axum::Router::new()
        .fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let handler = handler.clone();
                let cors = cors.clone();
                async move {
                    let origin = headers
                        .get("origin")
                        .and_then(|o| o.to_str().ok())
                        .map(str::to_owned);
                    let mut resp = if method == Method::OPTIONS {
                        StatusCode::OK.into_response()
                    } else {
                        from_lambda(handler(to_lambda(method.clone(), uri, headers, body)).await)
                    };
                    if let Some(origin) = origin {
                        add_cors(
                            resp.headers_mut(),
                            &cors,
                            &origin,
                            method == Method::OPTIONS,
                        );
                    }
                    resp
                }
            },
        )
        .layer(DefaultBodyLimit::max(FUNCTION_URL_MAX_BODY))
}

fn add_cors(h: &mut HeaderMap, cors: &Cors, origin: &str, preflight: bool) {
    let allowed = cors
        .allow_origins
        .iter()
        .any(|o| o.as_str() == Some("*") || o.as_str() == Some(origin));
    if !allowed {
        return;
    }
    let set = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set(h, "access-control-allow-origin", origin.to_owned());
    set(h, "vary", "Origin".to_owned());
    if preflight {
        set(
            h,
            "access-control-allow-methods",
            cors.allow_methods.join(","),
        );
        set(
            h,
            "access-control-allow-headers",
            cors.allow_headers.join(","),
        );
        if let Some(m) = cors.max_age {
            set(h, "access-control-max-age", m.to_string());
        }
    }
}

pub struct EventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: Option<String>,
    pub max_receive: u32,
    pub batch_size: i32,
    pub report_failures: bool,
    /// Visibility timeout of received records. A failed record is left alone, as Lambda does:
    /// it comes back when this runs out, or earlier if the function changed its visibility.
    pub visibility: i32,
    pub handler: SqsHandler,
}

impl EventSource {
    pub async fn run(self) {
        crate::idle::watch(&self.sqs, &self.queue_url);
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(queue = %self.queue_arn, error = %e, "event source poll failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    async fn poll_once(&self) -> Result<(), String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            // No long polling: moto's long poll spins (holding Python's GIL) while every visible
            // message belongs to a group in flight, which starves the deletes and visibility
            // changes of the other pollers. A short sleep between empty polls instead.
            .wait_time_seconds(0)
            .visibility_timeout(self.visibility)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| e.into_service_error().to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            crate::aws::count_extra(crate::aws::EMPTY_POLL);
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(());
        }
        // Busy until the batch's records are deleted or left to come back.
        let _busy = crate::idle::Busy::start();
        let mut records = Vec::with_capacity(messages.len());
        for m in &messages {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id.clone();
            r.receipt_handle = m.receipt_handle.clone();
            r.body = m.body.clone();
            r.md5_of_body = m.md5_of_body.clone();
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(self.queue_arn.clone());
            r.aws_region = Some("us-east-1".into());
            for (k, v) in m.attributes.iter().flatten() {
                r.attributes.insert(k.as_str().to_owned(), v.clone());
            }
            records.push(r);
        }
        let mut event = SqsEvent::default();
        event.records = records;
        // While the function runs, its records stay invisible: the short visibility used in
        // tests must not let a second poller take a record of the same message group while
        // this batch still works on it (Lambda's one in-flight batch per group). Records the
        // function fails come back one visibility timeout after it returns.
        let receipts: Vec<String> = messages
            .iter()
            .filter_map(|m| m.receipt_handle.clone())
            .collect();
        let run = (self.handler)(event);
        tokio::pin!(run);
        let beat = Duration::from_millis((self.visibility.max(1) as u64) * 1000 / 2);
        let resp = loop {
            tokio::select! {
                resp = &mut run => break resp,
                _ = tokio::time::sleep(beat) => self.keep_invisible(&receipts).await,
            }
        };
        let failed: HashSet<String> = if self.report_failures {
            resp.batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect()
        } else if resp.batch_item_failures.is_empty() {
            HashSet::new()
        } else {
            messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect()
        };
        for m in &messages {
            let id = m.message_id.clone().unwrap_or_default();
            let receipt = m.receipt_handle.clone().unwrap_or_default();
            if !failed.contains(&id) {
                self.delete(&receipt).await;
                continue;
            }
            let count: u32 = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            match &self.dlq_url {
                Some(dlq) if count >= self.max_receive => {
                    let group = m
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                        .cloned();
                    let mut send = self
                        .sqs
                        .send_message()
                        .queue_url(dlq)
                        .message_body(m.body.clone().unwrap_or_default());
                    if let Some(g) = group {
                        send = send
                            .message_group_id(g)
                            .message_deduplication_id(id.clone());
                    }
                    match send.send().await {
                        Ok(_) => {
                            tracing::warn!(message_id = %id, receives = count, "record moved to the dead-letter queue");
                            self.delete(&receipt).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e.into_service_error(), "could not move a record to the DLQ")
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn keep_invisible(&self, receipts: &[String]) {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(self.visibility)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(e) = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                tracing::warn!(error = %e.into_service_error(), "could not extend the visibility of a running batch");
            }
        }
    }

    async fn delete(&self, receipt: &str) {
        if let Err(e) = self
            .sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            tracing::warn!(error = %e.into_service_error(), "delete after success failed; the record will be seen again");
        }
    }
}

/// The function's SQS event sources, `pollers` concurrent pollers each, running; records are
/// received with `visibility` (else the queue's own visibility timeout).
pub async fn event_sources(
    clients: &pagedesk_shared::adapters::aws::Clients,
    prov: &crate::provision::Provisioned,
    f: &crate::template::FunctionDef,
    handler: SqsHandler,
    pollers: usize,
    visibility: Option<i32>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut out = Vec::new();
    for src in &f.sqs {
        // A source Lambda may run many of at once (`MaximumConcurrency`: deliveries to
        // outgoing webhooks, one an invocation, where a hanging endpoint must hold up nothing
        // else) gets more pollers, up to 4: each empty poll is a call to moto.
        let pollers = src
            .max_concurrency
            .map_or(pollers, |m| pollers.max((m as usize).min(4)));
        for _ in 0..pollers {
            let source = event_source(clients, prov, src, handler.clone(), visibility).await;
            out.push(tokio::spawn(source.run()));
        }
    }
    out
}

async fn event_source(
    clients: &pagedesk_shared::adapters::aws::Clients,
    prov: &crate::provision::Provisioned,
    src: &crate::template::SqsSource,
    handler: SqsHandler,
    visibility: Option<i32>,
) -> EventSource {
    let queue_url = prov.refs.get(&src.queue).cloned().unwrap_or_default();
    let def = prov.queue_defs.get(&src.queue);
    let (dlq_url, max_receive) = match def.and_then(|d| d.redrive.clone()) {
        Some((dlq, max)) => (prov.refs.get(&dlq).cloned(), max),
        None => (None, u32::MAX),
    };
    EventSource {
        sqs: clients.sqs(),
        queue_arn: queue_arn(&clients.sqs(), &queue_url).await,
        queue_url,
        dlq_url,
        max_receive,
        batch_size: src.batch_size,
        report_failures: src.report_failures,
        visibility: visibility.unwrap_or_else(|| def.map_or(30, |d| d.visibility_timeout)),
        handler,
    }
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        })
        .unwrap_or_else(|| {
            format!(
                "arn:aws:sqs:us-east-1:000000000000:{}",
                url.rsplit('/').next().unwrap_or("")
            )
        })
}

/// Invocations of each hosted function and the time its handler took in total (what Lambda
/// bills as duration), for the bench's cost figures.
static INVOCATIONS: std::sync::Mutex<std::collections::BTreeMap<String, (u64, f64)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

pub fn record_invocation(function: &str, started: std::time::Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(mut m) = INVOCATIONS.lock() {
        let e = m.entry(function.to_owned()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += ms;
    }
}

/// `{function: {"count", "ms"}}` since the stack started.
pub fn invocations() -> serde_json::Value {
    let m = INVOCATIONS.lock().map(|m| m.clone()).unwrap_or_default();
    serde_json::Value::Object(
        m.into_iter()
            .map(|(k, (count, ms))| (k, serde_json::json!({"count": count, "ms": ms})))
            .collect(),
    )
}
