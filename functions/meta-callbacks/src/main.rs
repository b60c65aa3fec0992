use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use pagedesk_meta_callbacks::MetaCallbacks;
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, MetaCallbacksConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = MetaCallbacksConfig::from_env()?;
    let clients = Clients::from_env();
    let callbacks = MetaCallbacks::new(cfg, &clients, Arc::new(SystemClock));
    let callbacks = &callbacks;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(callbacks.handle(req).await)
    }))
    .await
}
