use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_router::Router;
use pagedesk_shared::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::config::{FunctionConfig, RouterConfig};
use pagedesk_shared::graph::GraphClient;
use pagedesk_shared::secrets::SecretCache;
use pagedesk_shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::telemetry::init();
    let cfg = RouterConfig::from_env()?;
    let clients = Clients::from_env().await;
    let router = Router {
        store: Store::new(clients.dynamo.clone(), cfg.table.clone()),
        graph: GraphClient::new(&cfg.graph),
        secrets: Arc::new(SecretCache::new(
            clients.secrets.clone(),
            Duration::from_secs(cfg.secret_cache_seconds),
        )),
        clock: Arc::new(SystemClock),
        pages: Default::default(),
        accounts: Default::default(),
        sqs: clients.sqs.clone(),
        cfg,
    };
    let router = &router;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(router.handle_batch(ev.payload).await)
    }))
    .await
}
