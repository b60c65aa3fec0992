use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_sender::Sender;
use pagedesk_shared::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::config::{FunctionConfig, SenderConfig};
use pagedesk_shared::graph::GraphClient;
use pagedesk_shared::secrets::SecretCache;
use pagedesk_shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::telemetry::init();
    let cfg = SenderConfig::from_env()?;
    let clients = Clients::from_env().await;
    let sender = Sender {
        store: Store::new(clients.dynamo.clone(), cfg.table.clone()),
        graph: GraphClient::new(&cfg.graph),
        secrets: Arc::new(SecretCache::new(
            clients.secrets.clone(),
            Duration::from_secs(cfg.secret_cache_seconds),
        )),
        sqs: clients.sqs.clone(),
        clock: Arc::new(SystemClock),
        bot: pagedesk_shared::bot::BotClient::new(
            std::time::Duration::from_millis(cfg.ai_agent_timeout_ms),
            cfg.url_policy,
        ),
        cfg,
    };
    let sender = &sender;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(sender.handle_batch(ev.payload).await)
    }))
    .await
}
