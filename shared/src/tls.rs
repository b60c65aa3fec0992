//! One TLS client set-up for every HTTPS call a function makes (AWS through the SDK; Graph, the
//! JWKS URL, the AI agent and media through reqwest), trusting the Mozilla root set compiled
//! into the binary (`webpki-root-certs`).
//!
//! Why not the system store: loading it reads and parses the bundle and every file of the
//! certificate directory, once per HTTP client. That was most of a function's start-up (a
//! router built four clients: four loads before its first poll). The compiled-in set costs no
//! I/O, is the same on every machine, and is what the system store holds anyway for the public
//! endpoints these clients reach; it is updated with the crate.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;

fn roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    roots
}

/// The rustls configuration every reqwest client uses, built once per process.
fn client_config() -> Option<rustls::ClientConfig> {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(roots())
                .with_no_client_auth();
            // HTTP/1.1 only: the calls are few and small, and an HTTP/2 stack is about 0.3 MB.
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(cfg)
        })
        .clone()
}

/// Makes ring the process's rustls provider, for clients built without `reqwest_builder`
/// (reqwest is built without a provider of its own, so a plain `Client::new()` needs one).
/// Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder on the shared TLS configuration.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    install_default_provider();
    let builder = reqwest::Client::builder();
    match client_config() {
        Some(cfg) => builder.tls_backend_preconfigured(cfg),
        // Cannot happen with ring's defaults; reqwest's own set-up then.
        None => builder,
    }
}

/// The AWS SDK's HTTP client: the same reqwest stack as every other call, so a function links
/// one HTTP client and one TLS set-up (the SDK's own, `aws-smithy-http-client`, brought a
/// second hyper client with HTTP/2 that no AWS endpoint here needs).
pub fn sdk_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_runtime_api::client::http::{SharedHttpConnector, http_client_fn};
    use std::sync::Mutex;
    // One connector (one connection pool) per distinct timeout setting, made on first use.
    let made: Mutex<Vec<(Option<std::time::Duration>, SharedHttpConnector)>> =
        Mutex::new(Vec::new());
    http_client_fn(move |settings, _components| {
        let connect = settings.connect_timeout();
        if let Ok(m) = made.lock()
            && let Some((_, c)) = m.iter().find(|(t, _)| *t == connect)
        {
            return c.clone();
        }
        let mut b = reqwest_builder().no_proxy();
        if let Some(t) = connect {
            b = b.connect_timeout(t);
        }
        let connector = SharedHttpConnector::new(SdkConnector {
            client: b.build().unwrap_or_else(|_| reqwest::Client::new()),
            read_timeout: settings.read_timeout(),
        });
        if let Ok(mut m) = made.lock() {
            m.push((connect, connector.clone()));
        }
        connector
    })
}

#[derive(Debug, Clone)]
struct SdkConnector {
    client: reqwest::Client,
    read_timeout: Option<std::time::Duration>,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for SdkConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use aws_smithy_runtime_api::client::http::HttpConnectorFuture;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let classify = |e: reqwest::Error| {
                if e.is_timeout() {
                    ConnectorError::timeout(e.into())
                } else if e.is_connect() || e.is_request() || e.is_body() {
                    ConnectorError::io(e.into())
                } else {
                    ConnectorError::other(e.into(), None)
                }
            };
            // The AWS calls here (DynamoDB, SQS, Secrets Manager) have bodies in memory.
            let body = request
                .body()
                .bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| ConnectorError::user("a streaming request body".into()))?;
            let method = reqwest::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut req = client.request(method, request.uri());
            for (name, value) in request.headers() {
                req = req.header(name, value);
            }
            if let Some(t) = read_timeout {
                req = req.timeout(t);
            }
            let res = req.body(body).send().await.map_err(classify)?;
            let mut out = http::Response::builder().status(res.status().as_u16());
            for (name, value) in res.headers() {
                out = out.header(name, value);
            }
            let bytes = res.bytes().await.map_err(classify)?;
            let out = out
                .body(aws_smithy_types::body::SdkBody::from(bytes))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            aws_smithy_runtime_api::client::orchestrator::HttpResponse::try_from(out)
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_usable() {
        assert!(roots().len() > 100, "{} roots", roots().len());
        assert!(client_config().is_some_and(|c| c.alpn_protocols == [b"http/1.1".to_vec()]));
    }
}
