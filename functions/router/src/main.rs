use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_router::Router;
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, RouterConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = RouterConfig::from_env()?;
    let clients = Clients::from_env();
    let router = Router::new(cfg, &clients, Arc::new(SystemClock));
    let router = &router;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(router.handle_batch(ev.payload).await)
    }))
    .await
}
