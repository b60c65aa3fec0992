//! Serves the reference inbox (`web/dist`, built by `npm run build` in `web/`) the way a static
//! host would, plus the `config.json` a deployment writes beside it: where the agent API is,
//! and, locally, where the simulator that plays Facebook Login is.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Site {
    dist: PathBuf,
    config: String,
}

pub fn router(dist: PathBuf, config: serde_json::Value) -> axum::Router {
    let site = Arc::new(Site {
        dist,
        config: config.to_string(),
    });
    axum::Router::new()
        .route("/", get(|s: State<Arc<Site>>| file(s, "index.html".into())))
        .route("/config.json", get(config_json))
        .route(
            "/{name}",
            get(|s: State<Arc<Site>>, Path(n): Path<String>| file(s, n)),
        )
        .with_state(site)
}

async fn config_json(State(site): State<Arc<Site>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        site.config.clone(),
    )
        .into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn file(State(site): State<Arc<Site>>, name: String) -> Response {
    // One flat directory: a name with a separator or a leading dot is never a file of ours.
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(site.dist.join(&name)).await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&name)),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(_) if name == "index.html" => (
            StatusCode::NOT_FOUND,
            "web/dist is missing: build the inbox with `make web` (make dev does)",
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
