use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, WebhookConfig};
use pagedesk_webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = WebhookConfig::from_env()?;
    let clients = Clients::from_env();
    let webhook = Webhook::new(cfg, &clients, Arc::new(SystemClock));
    let webhook = &webhook;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(webhook.handle(req).await)
    }))
    .await
}
