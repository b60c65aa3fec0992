//! Per Lambda function: the stripped release binary's size and its start-up time — process
//! start to its first `GET /2018-06-01/runtime/invocation/next` on a stand-in Lambda Runtime
//! API that this program serves — median of 20 starts. Prints figures, asserts nothing.
//!
//! Run: `make bench` (builds the release binaries first), or `cargo run --bin startup` after
//! `make release`. `STARTUP_RUNS=n` changes the number of starts.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 7] = [
    "webhook",
    "router",
    "agent-api",
    "sender",
    "scheduler",
    "meta-callbacks",
    "hooks",
];

/// What every function's configuration asks for, pointing nowhere: start-up must not call
/// anything but the Runtime API (a function that does shows as a failure to start).
const ENV: [(&str, &str); 22] = [
    ("PAGEDESK_TABLE", "pagedesk-bench"),
    (
        "PAGEDESK_INBOUND_QUEUE_URL",
        "http://127.0.0.1:9/inbound.fifo",
    ),
    (
        "PAGEDESK_OUTBOUND_QUEUE_URL",
        "http://127.0.0.1:9/outbound.fifo",
    ),
    ("PAGEDESK_DEFERRED_QUEUE_URL", "http://127.0.0.1:9/deferred"),
    (
        "PAGEDESK_DISPATCH_QUEUE_URL",
        "http://127.0.0.1:9/dispatch.fifo",
    ),
    (
        "PAGEDESK_DELIVERY_QUEUE_URL",
        "http://127.0.0.1:9/delivery.fifo",
    ),
    ("PAGEDESK_BUCKET", "pagedesk-bench"),
    ("PAGEDESK_APP_SECRET_ID", "bench/app-secret"),
    ("PAGEDESK_VERIFY_TOKEN_ID", "bench/verify-token"),
    ("PAGEDESK_PAGE_TOKEN_PREFIX", "bench/page-token/"),
    ("PAGEDESK_DEV_JWT_SECRET", "bench-secret"),
    ("PAGEDESK_APP_ID", "1"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench"),
    ("AWS_SESSION_TOKEN", "bench"),
    ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
    ("RUST_LOG", "warn"),
];

/// Milliseconds from spawning `bin` to its first request to the stand-in Runtime API, and its
/// resident memory then (KiB, from `/proc`): what a function holds before its first event.
fn start_once(bin: &Path) -> Result<(f64, u64), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .envs(ENV)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let result = loop {
        match listener.accept() {
            Ok((mut conn, _)) => {
                let at = started.elapsed();
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 256];
                let n = conn.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                break if head.contains("/runtime/invocation/next") {
                    Ok((at.as_secs_f64() * 1000.0, resident_kib(child.id())))
                } else {
                    Err(format!("first request was not a poll: {head}"))
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut s) = child.stderr.take() {
                        let _ = s.read_to_string(&mut err);
                    }
                    break Err(format!("exited {status} before polling: {err}"));
                }
                if started.elapsed() > Duration::from_secs(10) {
                    break Err("no poll within 10 s".into());
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

fn main() {
    let runs: usize = std::env::var("STARTUP_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!(
        "bin  function          stripped size   start-up to first runtime poll (median of {runs}, min, max), resident memory then"
    );
    for f in FUNCTIONS {
        let bin = release_dir().join(f);
        let Ok(meta) = std::fs::metadata(&bin) else {
            println!("     {f:<16}  (no release binary: run `make release`)");
            continue;
        };
        let mut times = Vec::with_capacity(runs);
        let mut rss = 0;
        let mut error = None;
        // One start first, unmeasured: the page cache holds the binary afterwards, as on a
        // Lambda worker that has the image.
        let _ = start_once(&bin);
        for _ in 0..runs {
            match start_once(&bin) {
                Ok((ms, kib)) => {
                    times.push(ms);
                    rss = rss.max(kib);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = error {
            println!("     {f:<16}  {:>10} B   failed to start: {e}", meta.len());
            continue;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "     {f:<16}  {:>10} B   {:>6.2} ms  ({:.2}, {:.2})   {:.1} MiB",
            meta.len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            rss as f64 / 1024.0
        );
    }
}
