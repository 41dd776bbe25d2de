//! Logging to a daily rolling file under the state folder; never to the terminal (a TUI may
//! own it). `RUST_LOG` is honoured (default: `breachbook=info`).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging; keep the guard alive as long as the program runs. Returns None
/// (and logs nowhere) when the folder cannot be created — logging must never stop a
/// responder.
pub fn init(state_dir: Option<&Path>) -> Option<WorkerGuard> {
    let dir = match state_dir {
        Some(d) => d.join("logs"),
        None => directories::ProjectDirs::from("dev", "breachbook", "breachbook")?
            .data_local_dir()
            .join("logs"),
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ok()?;
    }
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("breachbook")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("breachbook=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
