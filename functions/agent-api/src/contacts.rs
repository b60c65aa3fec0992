//! `GET /contacts/{id}`.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::views;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, Reply, ok};

pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(id): Id) -> Reply {
    let contact = app
        .store
        .get_contact(&c.account, &id)
        .await?
        .ok_or(ApiFailure::NotFound("contact"))?;
    ok(&views::contact(&contact))
}
