//! Secrets Manager with an in-process cache: a warm Lambda reads each secret at most once per
//! TTL, and a re-registered Page token is picked up by invalidating its entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;

use crate::{Error, Result};

pub struct SecretCache {
    client: Client,
    ttl: Duration,
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl SecretCache {
    /// A function's cache, shared by its handlers: values kept `ttl_seconds`.
    pub fn shared(client: &Client, ttl_seconds: u64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::new(client.clone(), Duration::from_secs(ttl_seconds)))
    }

    pub fn new(client: Client, ttl: Duration) -> Self {
        SecretCache {
            client,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The secret's string value, or `None` if it does not exist.
    pub async fn get(&self, id: &str) -> Result<Option<String>> {
        if let Ok(m) = self.entries.lock()
            && let Some((v, at)) = m.get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(v.clone()));
        }
        let res = self.client.get_secret_value().secret_id(id).send().await;
        let value = match res {
            Ok(out) => out.secret_string,
            Err(e) => {
                let svc = e.into_service_error();
                if svc.is_resource_not_found_exception() {
                    return Ok(None);
                }
                return Err(Error::secrets("GetSecretValue", svc));
            }
        };
        if let (Some(v), Ok(mut m)) = (&value, self.entries.lock()) {
            m.insert(id.to_owned(), (v.clone(), Instant::now()));
        }
        Ok(value)
    }

    /// Like `get`, but refetches when the cached value is older than `changed_at` (epoch ms):
    /// a Page re-registered with a new token is picked up at once.
    pub async fn get_fresh(&self, id: &str, changed_at: i64) -> Result<Option<String>> {
        let stale = self
            .entries
            .lock()
            .ok()
            .and_then(|m| m.get(id).map(|(_, at)| *at))
            .is_some_and(|at| {
                let age_ms = at.elapsed().as_millis() as i64;
                chrono::Utc::now().timestamp_millis() - age_ms < changed_at
            });
        if stale {
            self.invalidate(id);
        }
        self.get(id).await
    }

    pub async fn require(&self, id: &str) -> Result<String> {
        self.get(id)
            .await?
            .ok_or_else(|| Error::Config(format!("secret {id} does not exist")))
    }

    /// Creates the secret or stores a new version of it.
    pub async fn put(&self, id: &str, value: &str) -> Result<()> {
        let created = self
            .client
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) => {
                let svc = e.into_service_error();
                if !svc.is_resource_exists_exception() {
                    return Err(Error::secrets("CreateSecret", svc));
                }
                self.client
                    .put_secret_value()
                    .secret_id(id)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| Error::secrets("PutSecretValue", e.into_service_error()))?;
            }
        }
        if let Ok(mut m) = self.entries.lock() {
            m.insert(id.to_owned(), (value.to_owned(), Instant::now()));
        }
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        let res = self
            .client
            .delete_secret()
            .secret_id(id)
            .force_delete_without_recovery(true)
            .send()
            .await;
        if let Err(e) = res {
            let svc = e.into_service_error();
            if !svc.is_resource_not_found_exception() {
                return Err(Error::secrets("DeleteSecret", svc));
            }
        }
        self.invalidate(id);
        Ok(())
    }

    pub fn invalidate(&self, id: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(id);
        }
    }
}
