//! The simulator's media URLs (`/_sim/media/{name}`): what attachment URLs point at in tests,
//! served until a test makes them expire.

use super::*;

/// Stores bytes (with the request's content type) for `GET /_sim/media/{name}`: what an
/// attachment's CDN URL serves in tests.
pub(super) async fn put_media(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    sim.state().media.insert(name, (ct, body));
    StatusCode::NO_CONTENT
}

pub(super) async fn get_media(State(sim): State<Sim>, Path(name): Path<String>) -> Response {
    // `/_sim/failures` applies here too: a CDN that fails for a while.
    let path = format!("/_sim/media/{name}");
    let scripted = sim
        .state()
        .scripted(&path, false)
        .map(|f| (f.status, f.delay_ms));
    let found = sim.state().media.get(&name).cloned();
    // A scripted 2xx serves the bytes as usual, only after its delay (a slow CDN).
    let (failure, delay_ms) = match scripted {
        Some((status, delay)) if (200..300).contains(&status) => (None, delay),
        Some((status, delay)) => (Some(status), delay),
        None => (None, 0),
    };
    let answer = match (failure, found) {
        (Some(status), _) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
        (None, Some((ct, bytes))) => ([("content-type", ct)], bytes).into_response(),
        // An expired CDN URL.
        (None, None) => (StatusCode::NOT_FOUND, "URL signature expired").into_response(),
    };
    // Logged as it arrives, so a test can tell a fetch is under way.
    sim.state()
        .media_gets
        .entry(name)
        .or_default()
        .push(answer.status().as_u16());
    if delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    }
    answer
}

/// The URL expires: 404 from now on.
pub(super) async fn delete_media(State(sim): State<Sim>, Path(name): Path<String>) -> StatusCode {
    sim.state().media.remove(&name);
    StatusCode::NO_CONTENT
}
