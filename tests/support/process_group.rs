//! A test server in a process group of its own, ended with everything it started: when its
//! handle is dropped, and, for a server kept in a `static` (statics are never dropped), when
//! the test binary exits for any reason, SIGKILL included.
//!
//! How: `sh` leads a new process group (`process_group(0)`, no `unsafe`), starts the server
//! in the background, and a watcher subshell waits on a pipe from the test binary. The test
//! binary holds the only write end; when it closes (drop, exit, crash), the watcher sends
//! TERM to the whole group, gives it a grace time, then KILL. When the server ends by
//! itself, the shell ends the group at once, so `try_wait` tells that the server is gone.
//!
//! Included by other support modules (`#[path = "process_group.rs"] mod process_group;`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the group has between TERM and KILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// `sh -c` script: `$1...` is the server's command line. Stdin is kept on fd 3 for the
/// watcher, since a background job's stdin is /dev/null in a non-interactive shell. The
/// shell ignores TERM only after the server has started, so the server keeps the default.
/// `kill 0` is the whole process group (dash's `kill` takes no `--`). The folder to remove
/// goes only when the test binary ended the server (marked by `.ended`): a server that died
/// by itself leaves its log for the failure message.
const SUPERVISE: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
trap '' TERM INT HUP
( read -r _ <&3; [ -z "$BB_REMOVE_WHEN_DONE" ] || touch "$BB_REMOVE_WHEN_DONE/.ended" 2>/dev/null; kill -TERM 0 2>/dev/null; sleep GRACE_S; kill -KILL 0 2>/dev/null ) &
exec 3<&-
wait "$server"
echo "[process_group] server exited with status $?" >&2
if [ -n "$BB_REMOVE_WHEN_DONE" ] && [ -e "$BB_REMOVE_WHEN_DONE/.ended" ]; then
  rm -rf "$BB_REMOVE_WHEN_DONE"
fi
kill -KILL 0 2>/dev/null
"#;

/// A server running in its own process group.
pub struct GroupChild {
    child: Child,
    /// The group's id (the supervising shell's pid).
    pub pgid: u32,
    /// Where the server's standard output and error go.
    pub log: PathBuf,
    /// Closing this ends the group.
    lifeline: Option<ChildStdin>,
}

impl GroupChild {
    /// Starts `program args...` with `envs` added to the environment, output to `log`.
    ///
    /// `remove_when_done`: a folder the supervisor deletes once it has ended the server (for
    /// servers in statics, whose `TempDir` would never be dropped). A server that exits by
    /// itself leaves the folder, and its log, to the caller.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        log: &Path,
        remove_when_done: Option<&Path>,
    ) -> io::Result<GroupChild> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        let script = SUPERVISE.replace("GRACE_S", &GRACE.as_secs().to_string());
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        match remove_when_done {
            Some(dir) => cmd.env("BB_REMOVE_WHEN_DONE", dir),
            None => cmd.env_remove("BB_REMOVE_WHEN_DONE"),
        };
        let mut child = cmd.spawn()?;
        let lifeline = child.stdin.take();
        Ok(GroupChild {
            pgid: child.id(),
            child,
            log: log.to_path_buf(),
            lifeline,
        })
    }

    /// True while the server runs (the supervisor ends as soon as the server does).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `n` lines the server printed, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Ends the group (TERM, then KILL after [`GRACE`]) and waits for it.
    pub fn stop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + GRACE + Duration::from_secs(2);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pgid)])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.stop();
    }
}
