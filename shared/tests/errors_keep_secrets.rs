//! No error a client hands back (and so no log line that prints one, with `%` or `?`) carries a
//! token, a signature, a signing secret or a URL that holds one. Each client is made to fail
//! the way a network fails: a refused connection, and a server that hangs up mid-answer. (S3's,
//! whose presigned URLs carry credentials, is in `adapters/s3.rs`; the router's media fetch in
//! its own crate.)

use std::time::Duration;

use pagedesk_shared::adapters::auth::Verifier;
use pagedesk_shared::adapters::graph::GraphClient;
use pagedesk_shared::domain::EventType;
use pagedesk_shared::runtime::config::{AuthConfig, GraphConfig};
use pagedesk_shared::services::ai_agent::AiAgentClient;
use pagedesk_shared::url_policy::UrlPolicy;
use serde_json::json;

const PAGE_TOKEN: &str = "EAAsecretPageToken0123456789";
const URL_SECRET: &str = "querySecret0123456789";
const SIGNING_SECRET: &str = "whsec_signingSecret0123456789";

/// Both renderings of an error, as a log line would show it.
fn rendered(e: &(impl std::fmt::Display + std::fmt::Debug)) -> String {
    format!("{e} | {e:?}")
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    assert!(!text.is_empty(), "{what}: an error was rendered");
    for s in secrets {
        assert!(!text.contains(s), "{what}: {s:?} in {text:?}");
    }
}

/// Where nothing listens (connections are refused), and a server that reads the request and
/// closes the connection without answering.
async fn failing_endpoints() -> [String; 2] {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        format!("http://{addr}")
    };
    let hangs_up = {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                drop(sock);
            }
        });
        format!("http://{addr}")
    };
    [closed, hangs_up]
}

#[tokio::test]
async fn graph_errors_carry_no_token() {
    for base in failing_endpoints().await {
        let graph = GraphClient::new(&GraphConfig {
            base_url: base.clone(),
            version: "v25.0".into(),
            timeout_ms: 3_000,
            app_secret_id: None,
        });
        let e = graph.me(PAGE_TOKEN).await.expect_err("no Graph there");
        assert_clean(
            &format!("GET /me at {base}"),
            &rendered(&e),
            &[PAGE_TOKEN, "access_token"],
        );
        let e = graph
            .post_json(
                "1/messages",
                &json!({"message": {"text": "hi"}}),
                PAGE_TOKEN,
            )
            .await
            .expect_err("no Graph there");
        assert_clean(
            &format!("POST at {base}"),
            &rendered(&e),
            &[PAGE_TOKEN, "access_token"],
        );
    }
}

/// A server that answers every request 200 with a body that is not JSON.
async fn answers_garbage() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let mut buf = [0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let body = "<html>not a key set</html>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(answer.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn jwks_errors_carry_neither_the_url_nor_the_token() {
    let [closed, hangs_up] = failing_endpoints().await;
    // The third fails after the answer, where the body is decoded.
    for base in [closed, hangs_up, answers_garbage().await] {
        let verifier = Verifier::new(AuthConfig::Jwks {
            url: format!("{base}/jwks?key={URL_SECRET}"),
            issuer: "https://idp".into(),
            audience: "app".into(),
        });
        // A well-formed RS256 token whose key id makes the verifier fetch the key set.
        let header = base64_url(r#"{"alg":"RS256","kid":"unknown-kid","typ":"JWT"}"#);
        let claims = base64_url(r#"{"sub":"a","account":"acme","role":"admin","exp":9999999999}"#);
        let token = format!("{header}.{claims}.c2lnbmF0dXJl");
        let e = verifier.verify(&token).await.expect_err("no key set there");
        assert_clean(
            &format!("JWKS at {base}"),
            &rendered(&e),
            &[URL_SECRET, &token, "c2lnbmF0dXJl"],
        );
    }
}

#[tokio::test]
async fn ai_agent_errors_carry_no_url_secret_or_signature() {
    for base in failing_endpoints().await {
        let client = AiAgentClient::new(
            Duration::from_secs(3),
            UrlPolicy {
                allow_private: true,
                ports: pagedesk_shared::url_policy::Ports::STANDARD,
            },
        );
        let e = client
            .deliver(
                &format!("{base}/hook?token={URL_SECRET}"),
                SIGNING_SECRET,
                EventType::MessageCreated,
                "dl_1",
                &json!({"type": "message.created"}),
                1_700_000_000_000,
            )
            .await
            .expect_err("no AI agent there");
        assert_clean(
            &format!("AI agent at {base}"),
            &rendered(&e),
            &[URL_SECRET, SIGNING_SECRET, "sha256="],
        );
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
