//! Ports for servers the tests start themselves (moto, LocalStack, OpenBao).
//!
//! Why not "bind 127.0.0.1:0, read the port, close it, start the server there": between the
//! close and the server's own bind, anything else in the test binary that binds `:0` (a
//! wiremock server, the fault proxy) may be handed the same port by the kernel, and the
//! harness then talks to the wrong server (seen: moto's client answered by another test's
//! server). The kernel hands out `:0` ports from its ephemeral range only, so these servers
//! take a free port *below* that range, where nothing in the tests binds by chance.
//!
//! Included by other support modules (`#[path = "ports.rs"] mod ports;`).

#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the kernel starts handing out `:0` ports (Linux default 32768).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A port below the ephemeral range that is free now, different on each call within this
/// process (and spread across processes by the pid).
pub fn free_server_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let top = u32::from(ephemeral_start().max(12000));
    let low = 10000u32;
    let span = top - low;
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + (seed.wrapping_add(n.wrapping_mul(104_729))) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range on 127.0.0.1");
}
