//! The simulator's Graph API side: every call recorded, then answered by a scripted failure or
//! as Meta would (sends with their echoes, comment replies, posts and leads, the connect flow's
//! endpoints in `facebook.rs`).

use super::*;
use axum::http::{Method, Uri};

/// `GET /{post_id}`: a stored post, or a made-up one.
fn post_answer(sim: &Sim, id: &str) -> Response {
    let stored = sim
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .posts
        .get(id)
        .cloned();
    let mut v = stored.unwrap_or_else(
        || json!({"message": format!("Post {id}"), "created_time": "2026-01-01T00:00:00+0000"}),
    );
    v["id"] = json!(id);
    if v.get("permalink_url").is_none() {
        v["permalink_url"] = json!(format!("https://www.facebook.com/{id}"));
    }
    axum::Json(v).into_response()
}

/// `GET /{leadgen_id}`: a stored lead, a made-up one, or, for the App Dashboard's test id,
/// the refusal Meta gives.
fn lead_answer(sim: &Sim, id: &str) -> Response {
    if id.chars().all(|c| c == '4') {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            &format!(
                "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
        );
    }
    let stored = sim
        .inner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .leads
        .get(id)
        .cloned();
    let tail = &id[id.len().saturating_sub(4)..];
    let mut v = stored.unwrap_or_else(|| {
        json!({"created_time": "2026-01-01T00:00:00+0000", "field_data": [
            {"name": "full_name", "values": [format!("Lead Person {tail}")]},
            {"name": "email", "values": [format!("lead{tail}@example.com")]},
            {"name": "phone_number", "values": [format!("+1555000{tail}")]}]})
    });
    v["id"] = json!(id);
    axum::Json(v).into_response()
}

/// Meta sends the Page's own comment back as a feed webhook; so does the simulator, for the
/// post it learnt from a `GET /{post_id}` (a comment id starts with its post's object id).
fn comment_echo_later(sim: &Sim, parent: &str, id: &str, body: &Value) {
    let object = parent.split('_').next().unwrap_or("").to_owned();
    let post_id = {
        let st = sim.state();
        st.requests
            .iter()
            .filter_map(|r| r["path"].as_str())
            .filter_map(|p| p.rsplit('/').next())
            .find(|p| p.ends_with(&format!("_{object}")))
            .map(str::to_owned)
    };
    let Some(post_id) = post_id else { return };
    let Some(page_id) = post_id.split('_').next().map(str::to_owned) else {
        return;
    };
    let now = chrono_now_ms();
    let payload = json!({"object": "page", "entry": [{"id": page_id, "time": now / 1000, "changes": [{"field": "feed", "value": {
        "from": {"id": page_id, "name": "Test Page"}, "item": "comment", "verb": "add", "comment_id": id, "post_id": post_id,
        "parent_id": parent, "created_time": now / 1000, "message": body.get("message").cloned().unwrap_or(Value::Null)}}]}]});
    sim.deliver_later(payload, "sim: comment echo delivery failed");
}

pub(super) fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every Graph call: recorded, then answered by a scripted failure or the default behaviour.
/// The work runs in its own task so that it completes (and a send's echo goes out) even when
/// the caller gave up waiting, as Meta's would.
pub(super) async fn graph(
    State(sim): State<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match tokio::spawn(graph_call(sim, method, uri, headers, body)).await {
        Ok(r) => r,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn graph_call(
    sim: Sim,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: serde_json::Map<String, Value> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        })
        .unwrap_or_default();
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(v.to_str().unwrap_or("").to_owned()),
            )
        })
        .collect();
    let parsed_body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| {
            let form: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            if form.is_empty() {
                Value::String(String::from_utf8_lossy(&body).into_owned())
            } else {
                Value::Object(form)
            }
        })
    };
    let scripted = {
        let mut s = sim.state();
        let out = s.scripted(&path, parsed_body.get("sender_action").is_some());
        // Whether the call took effect: a scripted failure's did not, unless it is a 2xx whose
        // answer is lost on the way back.
        let effective = out.as_ref().is_none_or(|f| (200..300).contains(&f.status));
        s.requests.push(json!({"method": method.as_str(), "path": path, "query": query, "headers": header_map, "body": parsed_body, "effective": effective, "at_ms": chrono_now_ms()}));
        out
    };
    let here = format!(
        "http://{}{path}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    if let Some(refused) = missing_proof(&sim, &query) {
        return refused;
    }
    if scripted.is_none() {
        let param = |k: &str| {
            query
                .get(k)
                .or_else(|| parsed_body.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if let Some(answer) = super::app::answer(&sim, &method, &path, &param).await {
            return answer;
        }
    }
    let Some(f) = scripted else {
        return default_answer(&sim, &method, &path, &query, &parsed_body, &here);
    };
    if f.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(f.delay_ms)).await;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mangled = f.raw.is_some() || f.broken_body;
    if status.is_success() && (f.body.is_null() || mangled) {
        // The call takes effect; only what comes back may be lost.
        let answer = default_answer(&sim, &method, &path, &query, &parsed_body, &here);
        if !mangled {
            return answer;
        }
    }
    if f.broken_body {
        let broken = futures::stream::iter([
            Ok(Bytes::from_static(b"{\"message_id\": \"m_")),
            Err(std::io::Error::other("connection reset")),
        ]);
        return Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(axum::body::Body::from_stream(broken))
            .unwrap_or_else(|_| status.into_response());
    }
    let mut answer = match f.raw {
        Some(text) => (status, text).into_response(),
        None => (status, axum::Json(f.body)).into_response(),
    };
    for (k, v) in &f.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            answer.headers_mut().insert(k, v);
        }
    }
    answer
}

/// With proofs required, a call made with the Page's token without the token's
/// `appsecret_proof` is refused as Meta refuses it.
fn missing_proof(sim: &Sim, query: &serde_json::Map<String, Value>) -> Option<Response> {
    let token = query.get("access_token").and_then(Value::as_str)?;
    if !sim.proof_required(token) {
        return None;
    }
    let expected =
        pagedesk_shared::meta::signature::appsecret_proof(sim.app_secret.as_bytes(), token);
    match query.get("appsecret_proof").and_then(Value::as_str) {
        Some(p) if p == expected => None,
        Some(_) => Some(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid appsecret_proof provided in the API argument",
        )),
        None => Some(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "API calls from the server require an appsecret_proof argument",
        )),
    }
}

/// Meta sends our own sends back as `message_echoes`, with our app id and our metadata.
fn echo_later(sim: &Sim, page_id: &str, body: &Value, mid: &str) {
    let Some(psid) = body
        .pointer("/recipient/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return;
    };
    let now = chrono_now_ms();
    let app_id = sim
        .app_id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(sim.app_id.clone()));
    let mut message = json!({"is_echo": true, "app_id": app_id, "mid": mid});
    for k in ["text", "metadata", "quick_replies"] {
        if let Some(v) = body.pointer(&format!("/message/{k}")) {
            message[k] = v.clone();
        }
    }
    if let Some(a) = body.pointer("/message/attachment") {
        message["attachments"] = json!([a]);
    }
    let payload = json!({"object": "page", "entry": [{"id": page_id, "time": now, "messaging": [{
        "sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": now, "message": message}]}]});
    sim.deliver_later(payload, "sim: echo delivery failed");
}

pub(super) fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "SIM"}}))).into_response()
}

fn default_answer(
    sim: &Sim,
    method: &Method,
    path: &str,
    query: &serde_json::Map<String, Value>,
    body: &Value,
    here: &str,
) -> Response {
    if path.starts_with("/_bot/") {
        return (StatusCode::OK, axum::Json(json!({"ok": true}))).into_response();
    }
    // Paths look like /v25.0/<node>[/<edge>].
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = if segs.first().is_some_and(|s| s.starts_with('v')) {
        &segs[1..]
    } else {
        &segs
    };
    let param = |k: &str| {
        query
            .get(k)
            .or_else(|| body.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    {
        let mut state = sim.state();
        if let Some((status, v)) = state
            .fb
            .answer(method.as_str(), rest, &param, &sim.app_id, here)
        {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, axum::Json(v)).into_response();
        }
        // A revoked Page's tokens are refused everywhere, the Send API included.
        if let Some((status, v)) = param("access_token").and_then(|t| state.fb.refused(&t)) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, axum::Json(v)).into_response();
        }
    }
    let has_token = query.contains_key("access_token") || body.get("access_token").is_some();
    if !has_token {
        return graph_error(
            StatusCode::BAD_REQUEST,
            104,
            "An access token is required to request this resource.",
        );
    }
    match (method, rest) {
        // A sender action (typing_on, mark_seen, react, unreact): Meta answers the recipient
        // alone, and no echo follows.
        (&Method::POST, [_, "messages"]) if body.get("sender_action").is_some() => axum::Json(
            json!({"recipient_id": body.pointer("/recipient/id").cloned().unwrap_or(Value::Null)}),
        )
        .into_response(),
        (&Method::POST, [page, "messages"]) => {
            let mid = sim.next_id("m_sim_out_");
            let page_echoes = !sim.state().no_echo_pages.contains(*page);
            if sim.echoes.load(std::sync::atomic::Ordering::SeqCst) && page_echoes {
                echo_later(sim, page, body, &mid);
            }
            axum::Json(json!({"recipient_id": body.pointer("/recipient/id").cloned().unwrap_or(Value::Null), "message_id": mid})).into_response()
        }
        // Instagram's public reply: a new comment id (no echo here).
        (&Method::POST, [_, "replies"]) => {
            axum::Json(json!({"id": sim.next_id("1790")})).into_response()
        }
        (&Method::POST, [parent, "comments"]) => {
            let object = parent.split('_').next().unwrap_or("0");
            let id = format!("{object}_{}", sim.next_id("9"));
            if sim.echoes.load(std::sync::atomic::Ordering::SeqCst) {
                comment_echo_later(sim, parent, &id, body);
            }
            axum::Json(json!({"id": id})).into_response()
        }
        (&Method::GET, [node])
            if query
                .get("fields")
                .and_then(Value::as_str)
                .is_some_and(|f| f.contains("field_data")) =>
        {
            lead_answer(sim, node)
        }
        (&Method::GET, [node]) if node.contains('_') => post_answer(sim, node),
        // An Instagram post or reel (numeric ids, asked for its caption).
        (&Method::GET, [node])
            if query
                .get("fields")
                .and_then(Value::as_str)
                .is_some_and(|f| f.contains("caption")) =>
        {
            axum::Json(json!({
                "id": node,
                "caption": format!("Instagram post {node}"),
                "permalink": format!("https://www.instagram.com/p/{node}/"),
                "timestamp": "2026-12-01T10:00:00+0000",
            }))
            .into_response()
        }
        (&Method::GET, [node]) => {
            let users = sim.state().users.get(*node).cloned();
            match users {
                Some(u) => axum::Json(u).into_response(),
                None if node.chars().all(|c| c.is_ascii_digit()) => {
                    let tail = &node[node.len().saturating_sub(4)..];
                    let mut person = json!({
                        "id": node,
                        "first_name": "Test",
                        "last_name": format!("Person {tail}"),
                        "name": format!("Test Person {tail}"),
                        "profile_pic": format!("https://sim.invalid/pics/{node}.jpg"),
                    });
                    // The Instagram user profile names a handle too.
                    let fields = query.get("fields").and_then(Value::as_str).unwrap_or("");
                    if fields.split(',').any(|f| f == "username") {
                        person["username"] = json!(format!("test.person.{tail}"));
                    }
                    axum::Json(person).into_response()
                }
                None => graph_error(StatusCode::BAD_REQUEST, 100, "Unsupported get request."),
            }
        }
        _ => graph_error(StatusCode::BAD_REQUEST, 100, "Unknown path components"),
    }
}
