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
            cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

/// The root set as PEM, the form the AWS SDK's trust store takes.
fn roots_pem() -> String {
    use base64::Engine;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2000);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// The AWS SDK's HTTPS client on the same root set (the SDK's default loads the system store).
pub fn sdk_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots_pem().into_bytes());
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    match tls::TlsContext::builder().with_trust_store(trust).build() {
        Ok(ctx) => builder.tls_context(ctx).build_https(),
        Err(_) => builder.build_https(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_usable() {
        assert!(roots().len() > 100, "{} roots", roots().len());
        let pem = roots_pem();
        assert_eq!(
            pem.matches("-----BEGIN CERTIFICATE-----").count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        assert!(client_config().is_some_and(|c| c.alpn_protocols.len() == 2));
    }
}
