//! One TLS set-up for every HTTPS call a function makes: the AWS SDK's own HTTP client
//! (`aws-smithy-http-client`) for AWS, reqwest for Graph, the JWKS URL, the AI agent and media.
//! Both use rustls on aws-lc (the SDK's default provider, and jsonwebtoken's), so a function
//! links one cryptography library.
//!
//! Both trust the Mozilla root set compiled into the binary (`webpki-root-certs`) instead of the
//! system store: loading that reads and parses the bundle and every file of the certificate
//! directory, which was most of a function's start-up when every client loaded it. The
//! compiled-in set costs no I/O, is the same on every machine, and is what the system store
//! holds anyway for the public endpoints these clients reach; it is updated with the crate.

use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine;
use rustls::RootCertStore;

fn roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    roots
}

/// The compiled-in roots as one PEM bundle: the SDK's trust store takes PEM only.
fn roots_pem() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = b64.encode(der.as_ref());
        for line in text.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// The rustls configuration every reqwest client uses, built once per process.
fn client_config() -> Option<rustls::ClientConfig> {
    static CONFIG: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(roots())
                .with_no_client_auth();
            // HTTP/1.1 only: the calls are few and small, and reqwest is built without HTTP/2.
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(cfg)
        })
        .clone()
}

/// Makes aws-lc the process's rustls provider, for clients built without `reqwest_builder`
/// (reqwest is built without a provider of its own, so a plain `Client::new()` needs one).
/// Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A reqwest client builder on the shared TLS configuration.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    install_default_provider();
    let builder = reqwest::Client::builder();
    match client_config() {
        Some(cfg) => builder.tls_backend_preconfigured(cfg),
        // Cannot happen with aws-lc's defaults; reqwest's own set-up then.
        None => builder,
    }
}

/// The AWS SDK's HTTP client, trusting the compiled-in roots. Built on the first AWS request,
/// not at start-up: the roots' PEM bundle (the SDK's trust store takes PEM only) is encoded and
/// parsed back then. One per call, not one per process: a connection pool belongs to the tokio
/// runtime that opened its connections, and the local host and the tests run several runtimes
/// (a pool shared across them handed one test a connection whose runtime had ended).
pub fn sdk_http_client() -> SharedHttpClient {
    use aws_smithy_runtime_api::client::http::{HttpClient, http_client_fn};
    let client: Arc<OnceLock<SharedHttpClient>> = Arc::new(OnceLock::new());
    http_client_fn(move |settings, components| {
        client
            .get_or_init(build_sdk_http_client)
            .http_connector(settings, components)
    })
}

fn build_sdk_http_client() -> SharedHttpClient {
    let tls_context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots_pem()))
        .build();
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match tls_context {
        Ok(ctx) => builder.tls_context(ctx).build_https(),
        // The context builder only fails on a server-name option this code does not use.
        Err(_) => builder.build_https(),
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

    #[test]
    fn the_pem_bundle_holds_every_compiled_in_root() {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let pem = roots_pem();
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("PEM parses");
        assert_eq!(parsed.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert_eq!(parsed[0], webpki_root_certs::TLS_SERVER_ROOT_CERTS[0]);
    }
}
