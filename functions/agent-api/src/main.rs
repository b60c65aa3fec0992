use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use pagedesk_agent_api::{AgentApi, App};
use pagedesk_shared::adapters::auth::Verifier;
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::adapters::secrets::SecretCache;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{AgentApiConfig, FunctionConfig};
use pagedesk_shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = AgentApiConfig::from_env()?;
    let clients = Clients::from_env();
    let secrets = SecretCache::shared(&clients.secrets(), cfg.secret_cache_seconds);
    let api = AgentApi::new(App {
        store: Store::new(clients.dynamo(), cfg.table.clone()),
        graph: pagedesk_shared::adapters::graph::GraphClient::new(&cfg.graph)
            .proving_with(&secrets),
        secrets,
        verifier: Verifier::new(cfg.auth.clone()),
        clock: Arc::new(SystemClock),
        sqs: clients.sqs(),
        s3: clients.s3(),
        agent_pages: Default::default(),
        page_names: Default::default(),
        cfg,
    });
    let api = &api;
    // The same handler the local host and the tests call.
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
