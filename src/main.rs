//! The `breachbook` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = breachbook::cli::Cli::parse();
    let _log_guard = breachbook::logging::init(cli.state_dir.as_deref());
    breachbook::launch::run(cli)
}
