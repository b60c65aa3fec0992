use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_scheduler::{Health, Scheduler};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, SchedulerConfig};
use pagedesk_shared::store::Store;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = SchedulerConfig::from_env()?;
    let clients = Clients::from_env();
    let scheduler = Scheduler {
        store: Store::new(clients.dynamo(), cfg.table.clone()),
        clock: Arc::new(SystemClock),
        health: Some(Health::new(&cfg, &clients)),
    };
    let scheduler = &scheduler;
    // The EventBridge envelope carries nothing we need: the clock and the cursor say what to do.
    lambda_runtime::run(service_fn(move |_ev: LambdaEvent<Value>| async move {
        let report = scheduler.run().await?;
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}
