//! The agent API against its own document, by a schema-driven fuzzer (schemathesis, installed
//! into `.local/fuzz` by `make tools`) with every check: no server error, no schema-valid request
//! refused, no schema-violating request accepted, no response that breaks the document, 405 with
//! `Allow` for undeclared methods. The hooks in `tests/fuzz/pagedesk_hooks.py` supply, for the
//! cases drawn valid, what the document states only in words (DESIGN.md lists each: cursors only
//! the API makes, zones that exist, unique rule names, …) and real ids of the fuzzed account.

use std::path::PathBuf;
use std::process::Command;

use pagedesk_e2e::{Stack, envelope, text_event, unique};
use pagedesk_shared::clock::{Clock, SystemClock};
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_no_refused_valid_request_and_no_broken_response() {
    let stack = Stack::connect();
    let t = stack.tenant().await;
    let admin = stack.admin(&t.account);
    // Something to read: two people writing (so lists have cursors), an agent, a rule.
    // Now, so the window is open and replies get past it.
    let now = SystemClock.now_ms();
    for n in 0..2 {
        let user = format!("7{}", unique());
        let event = text_event(&t.page_id, &user, &format!("hello {n}"), now + n);
        let body = envelope(&t.page_id, "messaging", vec![event]);
        stack.post_webhook(body.to_string().as_bytes()).await;
    }
    let list = stack
        .wait_for("/conversations", &admin, "two conversations", |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let conv = list["items"][0].clone();
    let (s, _) = stack
        .api(
            "PUT",
            "/agents/fuzz-agent",
            Some(&admin),
            Some(json!({"name": "Fuzz", "status": "online"})),
        )
        .await;
    assert_eq!(s, 200);
    // The agent the `assign` cases name, which no other case changes.
    let (s, _) = stack
        .api(
            "PUT",
            "/agents/fuzz-assignee",
            Some(&admin),
            Some(json!({"name": "Assignee", "status": "online"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, hook) = stack
        .api(
            "POST",
            "/webhooks",
            Some(&admin),
            Some(json!({"url": format!("{}/_bot/fuzz-webhook", stack.s("sim_url")), "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let ids = json!({
        "webhook": hook["id"],
        "conversation": conv["id"],
        "contact": conv["contact"]["id"],
        "agent": "fuzz-agent",
        "assignee": "fuzz-assignee",
        "page": t.page_id,
    });
    let bin = root().join(".local/fuzz/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run `make tools`",
        bin.display()
    );
    // Schemathesis keeps caches in its working directory: a scratch one, not the repo.
    let report = std::env::temp_dir().join(format!("pagedesk-fuzz-{}", unique()));
    std::fs::create_dir_all(&report).expect("scratch directory");
    let out = Command::new(&bin)
        .current_dir(&report)
        .env("SCHEMATHESIS_HOOKS", "pagedesk_hooks")
        .env("PYTHONPATH", root().join("tests/fuzz"))
        .env("PAGEDESK_FUZZ_API", stack.s("api_url"))
        .env("PAGEDESK_FUZZ_TOKEN", &admin)
        .env("PAGEDESK_FUZZ_IDS", ids.to_string())
        .env("PAGEDESK_FUZZ_SIM", stack.s("sim_url"))
        .arg("run")
        .arg(root().join("openapi.yaml"))
        .arg("--url")
        .arg(stack.s("api_url"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {admin}"))
        .args([
            // Every check, as an integrator would run it: negative_data_rejection too (a
            // request the document refuses must be refused).
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &std::env::var("PAGEDESK_FUZZ_EXAMPLES").unwrap_or_else(|_| "50".into()),
            "--seed",
            &std::env::var("PAGEDESK_FUZZ_SEED").unwrap_or_else(|_| "20261121".into()),
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--no-color",
            "--suppress-health-check",
            "all",
            "--report-dir",
        ])
        .arg(&report)
        .output()
        .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&report);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "schemathesis found problems (the output above says which)"
    );
}
