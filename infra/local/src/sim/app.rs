//! The app's own webhook subscriptions (`/{app-id}/subscriptions`, with the app token), as the
//! App Dashboard's Webhooks page keeps them. The `page` object starts subscribed to pagedesk's
//! webhook (the deployer's step in the README); the `instagram` object starts empty. A `POST`
//! checks the callback first, as Meta does: a `GET` with `hub.mode=subscribe`, the verify token
//! and a challenge, which must come back as the body.

use super::*;
use axum::http::Method;

/// One object's subscription: its callback and fields.
#[derive(Debug, Clone)]
pub(super) struct AppSubscription {
    callback_url: String,
    fields: Vec<String>,
}

/// The subscriptions the simulator starts with: the `page` object at pagedesk's webhook.
pub(super) fn initial(webhook_url: &str) -> std::collections::BTreeMap<String, AppSubscription> {
    let fields = pagedesk_shared::connect::WEBHOOK_FIELDS
        .map(str::to_owned)
        .to_vec();
    [(
        "page".to_owned(),
        AppSubscription {
            callback_url: webhook_url.to_owned(),
            fields,
        },
    )]
    .into()
}

/// Answers `/{app-id}/subscriptions`; `None` for any other path.
pub(super) async fn answer(
    sim: &Sim,
    method: &Method,
    path: &str,
    param: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Option<Response> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segs.as_slice() {
        [v, rest @ ..] if v.starts_with('v') => rest,
        all => all,
    };
    let [app, "subscriptions"] = rest else {
        return None;
    };
    if *app != sim.app_id {
        return None;
    }
    let token = param("access_token").unwrap_or_default();
    let secret = token.strip_prefix(&format!("{}|", sim.app_id));
    if !secret.is_some_and(|s| s == sim.app_secret || s == "sim-app-token") {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            190,
            "An app access token is required for this resource.",
        ));
    }
    Some(match *method {
        Method::GET => {
            let data: Vec<Value> = sim
                .state()
                .app_subscriptions
                .iter()
                .map(|(object, s)| {
                    let fields: Vec<Value> = s
                        .fields
                        .iter()
                        .map(|f| json!({"name": f, "version": "v25.0"}))
                        .collect();
                    json!({"object": object, "callback_url": s.callback_url, "active": true, "fields": fields})
                })
                .collect();
            axum::Json(json!({"data": data})).into_response()
        }
        Method::POST => subscribe(sim, param).await,
        Method::DELETE => {
            let Some(object) = param("object") else {
                return Some(graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "object is required",
                ));
            };
            let mut st = sim.state();
            match param("fields") {
                Some(fields) => {
                    if let Some(s) = st.app_subscriptions.get_mut(&object) {
                        s.fields
                            .retain(|f| !fields.split(',').any(|x| x.trim() == f));
                    }
                }
                None => {
                    st.app_subscriptions.remove(&object);
                }
            }
            axum::Json(json!({"success": true})).into_response()
        }
        _ => graph_error(StatusCode::BAD_REQUEST, 100, "Unsupported method"),
    })
}

async fn subscribe(sim: &Sim, param: &(dyn Fn(&str) -> Option<String> + Sync)) -> Response {
    let (Some(object), Some(callback_url), Some(fields), Some(verify_token)) = (
        param("object"),
        param("callback_url"),
        param("fields"),
        param("verify_token"),
    ) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "object, callback_url, fields and verify_token are required",
        );
    };
    let challenge = sim.next_id("");
    let res = sim
        .http
        .get(&callback_url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.challenge", challenge.as_str()),
            ("hub.verify_token", verify_token.as_str()),
        ])
        .send()
        .await;
    let echoed = match res {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default() == challenge,
        _ => false,
    };
    if !echoed {
        return graph_error(
            StatusCode::BAD_REQUEST,
            2200,
            "(#2200) Callback verification failed: the response did not match the challenge",
        );
    }
    let fields: Vec<String> = fields
        .split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let mut st = sim.state();
    let sub = st
        .app_subscriptions
        .entry(object)
        .or_insert(AppSubscription {
            callback_url: callback_url.clone(),
            fields: Vec::new(),
        });
    sub.callback_url = callback_url;
    for f in fields {
        if !sub.fields.contains(&f) {
            sub.fields.push(f);
        }
    }
    axum::Json(json!({"success": true})).into_response()
}
