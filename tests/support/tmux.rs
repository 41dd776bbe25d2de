//! The real binary in a real terminal: a detached tmux session on its own socket (in the
//! test's temporary folder), driven with keys and read from the screen, killed on drop.
//!
//! Waits are generous (a shared 2-core CI machine can be slow) and end as soon as the
//! screen is right. Send one key, then wait for the screen to show its effect before the
//! next: on a loaded machine crossterm can read Esc and the following byte in one go as
//! Alt+key (the app splits it again, but the screen is the only reliable clock).
//!
//! `scripts/test` installs tmux when it is missing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A real terminal: the binary running in a detached tmux session.
pub struct Tmux {
    session: String,
    socket: PathBuf,
    /// Every screen captured, consecutive repeats once: what a test may check afterwards.
    captured: Mutex<Vec<String>>,
}

/// Sessions started by this test binary, for unique names.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A value quoted for `sh` (single quotes; a single quote inside is closed, escaped, reopened).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tmux {
    /// Starts `breachbook ARGS` with `BREACHBOOK_STATE_DIR=state` and `NO_COLOR=1` in a
    /// `cols`×`rows` terminal.
    pub fn start(state: &Path, args: &[&str], cols: u16, rows: u16) -> Tmux {
        Tmux::start_with_env(state, &[], &[], args, cols, rows)
    }

    /// As [`Tmux::start`], with more environment: `unset` names are removed, `env` pairs set.
    /// The tmux server inherits the test's environment, so anything that could point the
    /// binary somewhere real (AWS_PROFILE, AWS_ENDPOINT_URL…) belongs in `unset`.
    pub fn start_with_env(
        state: &Path,
        unset: &[&str],
        env: &[(&str, &str)],
        args: &[&str],
        cols: u16,
        rows: u16,
    ) -> Tmux {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let session = format!("bb{}-{n}", std::process::id());
        let socket = state.join("tmux.sock");
        let mut cmd = String::from("env");
        for name in unset {
            cmd.push_str(&format!(" -u {name}"));
        }
        cmd.push_str(&format!(
            " BREACHBOOK_STATE_DIR={} NO_COLOR=1",
            sh_quote(&state.display().to_string())
        ));
        for (k, v) in env {
            cmd.push_str(&format!(" {k}={}", sh_quote(v)));
        }
        cmd.push(' ');
        cmd.push_str(&sh_quote(env!("CARGO_BIN_EXE_breachbook")));
        for a in args {
            cmd.push(' ');
            cmd.push_str(&sh_quote(a));
        }
        // Keep the pane after exit so the last screen can be read. No user tmux.conf.
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null"])
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg(format!("{cmd}; echo '[exited '$?']'; sleep 600"))
            .status()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(ok.success());
        Tmux {
            session,
            socket,
            captured: Mutex::new(Vec::new()),
        }
    }

    /// Sends tmux key names (`Enter`, `Space`, `Escape`, `y`…).
    pub fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Types literal text.
    pub fn type_text(&self, text: &str) {
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Pastes text as a terminal does (bracketed paste when the application asked for it):
    /// through a tmux buffer of its own, deleted as it is pasted.
    pub fn paste(&self, text: &str) {
        let buffer = format!("{}-paste", self.session);
        for args in [
            vec!["set-buffer", "-b", &buffer, "--", text],
            vec![
                "paste-buffer",
                "-p",
                "-d",
                "-b",
                &buffer,
                "-t",
                &self.session,
            ],
        ] {
            let st = Command::new("tmux")
                .arg("-S")
                .arg(&self.socket)
                .args(&args)
                .status()
                .unwrap();
            assert!(st.success());
        }
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut captured = self.captured.lock().unwrap_or_else(|p| p.into_inner());
        if captured.last() != Some(&s) {
            captured.push(s.clone());
        }
        s
    }

    /// The pane's whole history: the screen and everything scrolled off it (the shell's
    /// output after the application left the alternate screen).
    pub fn scrollback(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-S", "-", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every screen captured so far (each wait's and [`Tmux::screen`]'s), in order,
    /// consecutive repeats once.
    pub fn captured(&self) -> Vec<String> {
        self.captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the screen shows `text`; panics with the screen after `secs` (×3).
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        self.wait_until(&format!("{text:?}"), secs, |s| s.contains(text))
    }

    /// Waits until the screen no longer shows `text`.
    pub fn wait_gone(&self, text: &str, secs: u64) -> String {
        self.wait_until(&format!("{text:?} to go"), secs, |s| !s.contains(text))
    }

    /// Waits until `done` holds for the screen. A shared 2-core CI machine can be slow, so
    /// the limits are generous (`secs` × 3): a wait ends as soon as the screen is right.
    pub fn wait_until(&self, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs * 3);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A tmux format evaluated for the pane (`#{alternate_on}`, `#{cursor_flag}`,
    /// `#{pane_tty}`, `#{pane_pid}`…), trimmed.
    pub fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux display {format}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The pid of breachbook itself: the pane's shell runs it as its only child (`env`
    /// execs it), found by the parent pid in `/proc`.
    pub fn app_pid(&self) -> u32 {
        let shell: u32 = self.display("#{pane_pid}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                    continue;
                };
                // `pid (comm) state ppid …`: comm may hold spaces, so split after the `)`.
                let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                    continue;
                };
                let ppid = rest
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u32>().ok());
                let exe = std::fs::read_link(entry.path().join("exe")).ok();
                if ppid == Some(shell)
                    && exe.is_some_and(|e| e.to_string_lossy().contains("breachbook"))
                {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no breachbook under pane shell {shell}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pane terminal's settings as `stty -a` prints them (read from its tty, from
    /// outside the pane).
    pub fn stty(&self) -> String {
        let tty = self.display("#{pane_tty}");
        let file = std::fs::File::open(&tty).unwrap();
        let out = Command::new("stty").arg("-a").stdin(file).output().unwrap();
        assert!(out.status.success(), "stty -a < {tty}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Ticks every item of the current manual step, one key at a time, each seen on screen.
    pub fn tick_all(&self, items: usize) {
        for n in 1..=items {
            self.keys(&["Space"]);
            self.wait_until(&format!("{n} of {items} ticked"), 10, |s| {
                s.matches("[x]").count() == n
            });
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["kill-server"])
            .status();
    }
}

/// The revocation window's last line: once it is on screen, the whole window is (ratatui
/// draws top to bottom, and a capture can land mid-draw).
pub const MODAL_DRAWN: &str = "nothing happens until you type";

/// The confirmation word: the last 4 characters of the key id the modal shows.
pub fn word_on(screen: &str) -> String {
    let i = screen
        .find("key id (…")
        .expect("the modal shows the key id tail");
    let tail: String = screen[i + "key id (…".len()..]
        .chars()
        .take_while(|c| *c != ')')
        .collect();
    let chars: Vec<char> = tail.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}
