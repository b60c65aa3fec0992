//! Outages on demand: the local host reaches DynamoDB Local and moto through these TCP proxies,
//! and a test (or a person, with `POST /_sim/faults`) takes one down for a while. Down means
//! what a stopped or restarting emulator looks like from a client: open connections are cut
//! and new ones are closed at once; the emulator itself and its data stay as they were.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Clone, Default)]
pub struct FaultProxy {
    down: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`) and
    /// returns it with its `http://` URL.
    pub async fn start(upstream: &str) -> std::io::Result<(FaultProxy, String)> {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let proxy = FaultProxy::default();
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        let (mut client, mut server) = (client, server);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut live) = p.live.lock() {
                    live.retain(|h| !h.is_finished());
                    live.push(task.abort_handle());
                }
            }
        });
        Ok((proxy, url))
    }

    /// Takes the service down for `for_ms`, then brings it back.
    pub fn outage(&self, for_ms: u64) {
        self.down.store(true, Ordering::SeqCst);
        if let Ok(mut live) = self.live.lock() {
            for h in live.drain(..) {
                h.abort();
            }
        }
        let down = self.down.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(for_ms)).await;
            down.store(false, Ordering::SeqCst);
        });
    }
}

/// The proxies of one local stack, by service.
#[derive(Clone, Default)]
pub struct Faults {
    pub dynamodb: FaultProxy,
    pub moto: FaultProxy,
}
