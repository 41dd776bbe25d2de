//! The signals `kill` sends (SIGTERM, SIGINT, SIGHUP, SIGQUIT), caught while the screen is
//! up so the terminal is restored and the stop journaled. In raw mode Ctrl-C and Ctrl-\ are
//! keys, not signals: these come from outside the terminal. SIGKILL cannot be caught.
//!
//! Once caught, a signal is caught for the rest of the process (tokio never gives a handler
//! back): after the screen, `launch` races the engine's drain against another signal.

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

/// A signal the process was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    /// `SIGTERM`, `SIGINT`, `SIGHUP`, `SIGQUIT`.
    pub name: &'static str,
    /// Its number (15, 2, 1, 3 on Linux and macOS); the exit code is 128 + it.
    pub number: i32,
}

/// The four signals, listened to.
pub struct Signals {
    streams: Vec<(Caught, Stream)>,
}

impl Signals {
    /// Starts listening. A signal that cannot be listened to (no handler could be installed)
    /// keeps its default action; the others are still caught.
    pub fn listen() -> Signals {
        let kinds = [
            ("SIGTERM", SignalKind::terminate()),
            ("SIGINT", SignalKind::interrupt()),
            ("SIGHUP", SignalKind::hangup()),
            ("SIGQUIT", SignalKind::quit()),
        ];
        let streams = kinds
            .into_iter()
            .filter_map(|(name, kind)| match signal(kind) {
                Ok(s) => Some((
                    Caught {
                        name,
                        number: kind.as_raw_value(),
                    },
                    s,
                )),
                Err(e) => {
                    tracing::warn!(signal = name, error = %e, "cannot listen for the signal");
                    None
                }
            })
            .collect();
        Signals { streams }
    }

    /// The next signal of the four to arrive (pending for ever when none could be listened
    /// to).
    pub async fn next(&mut self) -> Caught {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.streams.iter_mut().map(|(caught, s)| {
            let caught = *caught;
            Box::pin(async move {
                // `None`: the stream closed (the runtime is going away); never a signal.
                match s.recv().await {
                    Some(()) => caught,
                    None => std::future::pending().await,
                }
            })
        });
        futures::future::select_all(waits).await.0
    }
}
