//! Copies in git history: every line any commit added, on every ref and in the reflog, so a
//! key committed and then amended away, reset or reverted is still found where it was
//! added. Read from the `git` command's own output as it streams (`git log --all --reflog
//! -p -U0`, the way gitleaks reads history): git's object store, packs and deltas stay
//! git's to read, and nothing is checked out or written.
//!
//! Parsing: with `-U0` a patch holds no context lines, so every line is a commit header
//! (`commit <hash>`), a file header (`diff --git`, then `+++ b/<path>` before the first
//! hunk), a hunk header (`@@ -a,b +c,d @@`, `c` the first new line) or a changed line (`+`
//! added, `-` removed). A `+++ ` line is taken for a file header only before the file's
//! first hunk, so an added line that reads `++ b/x` is still a line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Finding, Needles, Place};

/// Why history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git could not be run ({0}): install git, or leave out --git-history")]
    Missing(std::io::Error),
    #[error(
        "{0} is not in a git repository: leave out --git-history for it, or give the repository's folder"
    )]
    NotARepository(PathBuf),
    #[error("git log failed in {repo}: {why}")]
    Failed { repo: PathBuf, why: String },
}

/// What reading one repository's history did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryStats {
    pub repository: PathBuf,
    pub commits: u64,
    pub added_lines: u64,
    #[serde(skip)]
    pub took: Duration,
}

/// The top folder of the git repository `path` is in.
pub fn repository_of(path: &Path) -> Result<PathBuf, GitError> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let out = git(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(Stdio::null())
        .output()
        .map_err(GitError::Missing)?;
    if !out.status.success() {
        return Err(GitError::NotARepository(path.to_path_buf()));
    }
    let top = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(top))
}

/// `git -C dir` with the settings that keep its output plain: no pager, colour, external
/// diff, text conversion or signature lines, paths unquoted.
fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.quotePath=false",
            "-c",
            "log.showSignature=false",
        ])
        .env("GIT_PAGER", "cat")
        .env_remove("GIT_EXTERNAL_DIFF")
        .stdin(Stdio::null());
    c
}

/// Every line added in the history of the repository at `repo` holding a copy of a key.
pub fn scan_history(
    repo: &Path,
    needles: &Needles,
) -> Result<(Vec<Finding>, HistoryStats), GitError> {
    let started = Instant::now();
    let mut child = git(repo)
        .args([
            "log",
            "--all",
            "--reflog",
            "-p",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--format=commit %H",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(GitError::Missing)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(GitError::Failed {
            repo: repo.to_path_buf(),
            why: "no output".into(),
        });
    };
    let mut parser = Parser::default();
    let mut found = Vec::new();
    let mut reader = BufReader::with_capacity(256 * 1024, stdout);
    let mut line = Vec::with_capacity(256);
    let read = loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
        if let Some((mut at, added)) = parser.line(&line) {
            let hits = needles.in_line(added);
            if !hits.is_empty() {
                at.repository = Some(repo.to_path_buf());
            }
            for n in hits {
                found.push(Finding {
                    credential: n.credential.clone(),
                    name: n.name.clone(),
                    hint: n.hint.clone(),
                    place: at.clone(),
                });
            }
        }
    };
    zeroize::Zeroize::zeroize(&mut line);
    let out = child.wait_with_output().map_err(GitError::Missing)?;
    if let Err(e) = read {
        return Err(GitError::Failed {
            repo: repo.to_path_buf(),
            why: e.to_string(),
        });
    }
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim();
        // A repository with no commit yet has no history to read.
        if why.contains("does not have any commits") || why.contains("bad default revision") {
            return Ok((Vec::new(), parser.stats(repo, started)));
        }
        return Err(GitError::Failed {
            repo: repo.to_path_buf(),
            why: crate::printable::printable_text(why),
        });
    }
    found.sort_by(|a, b| a.place.cmp(&b.place).then(a.credential.cmp(&b.credential)));
    found.dedup_by(|a, b| a.place == b.place && a.credential == b.credential);
    Ok((found, parser.stats(repo, started)))
}

/// Where `git log -p -U0` output is.
#[derive(Default)]
struct Parser {
    commit: Option<String>,
    path: Option<PathBuf>,
    /// Between `diff --git` and the file's first hunk.
    in_header: bool,
    /// The new file's line number the next added line has.
    next: u64,
    commits: u64,
    added: u64,
}

impl Parser {
    /// Takes one line of output; for an added line, where it is and its text.
    fn line<'a>(&mut self, raw: &'a [u8]) -> Option<(Place, &'a [u8])> {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        if let Some(hash) = line.strip_prefix(b"commit ") {
            self.commit = Some(String::from_utf8_lossy(hash).trim().to_string());
            self.path = None;
            self.in_header = false;
            self.commits += 1;
            return None;
        }
        if line.starts_with(b"diff --git ") {
            self.in_header = true;
            self.path = None;
            return None;
        }
        if self.in_header {
            if let Some(p) = line.strip_prefix(b"+++ ") {
                self.path = file_path(p);
            } else if line.starts_with(b"@@ ") {
                self.in_header = false;
                self.next = new_start(line).unwrap_or(1);
            }
            return None;
        }
        if line.starts_with(b"@@ ") {
            self.next = new_start(line).unwrap_or(1);
            return None;
        }
        let added = line.strip_prefix(b"+")?;
        let at = self.next;
        self.next += 1;
        self.added += 1;
        let place = Place {
            repository: None,
            commit: self.commit.clone(),
            path: self.path.clone()?,
            line: at,
        };
        Some((place, added))
    }

    fn stats(&self, repo: &Path, started: Instant) -> HistoryStats {
        HistoryStats {
            repository: repo.to_path_buf(),
            commits: self.commits,
            added_lines: self.added,
            took: started.elapsed(),
        }
    }
}

/// The path of a `+++ b/<path>` header (`/dev/null`, a deleted file: none). A path git
/// still quotes (a tab or a newline in it) is unquoted of its outer quotes only.
fn file_path(header: &[u8]) -> Option<PathBuf> {
    let text = String::from_utf8_lossy(header);
    let text = text.trim_end_matches('\r');
    if text == "/dev/null" {
        return None;
    }
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let path = text.strip_prefix("b/").unwrap_or(text);
    Some(PathBuf::from(path))
}

/// `c` of a hunk header `@@ -a,b +c,d @@`.
fn new_start(header: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(header).ok()?;
    let plus = text.split(' ').find(|w| w.starts_with('+'))?;
    let start = plus[1..].split(',').next()?;
    start.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn added_lines_are_placed_in_their_commit_file_and_line() {
        let log = "commit 1111111111111111111111111111111111111111\n\
                   diff --git a/.env b/.env\n\
                   new file mode 100644\n\
                   index 0000000..e69de29\n\
                   --- /dev/null\n\
                   +++ b/.env\n\
                   @@ -0,0 +1,2 @@\n\
                   +A=1\n\
                   ++++ b/not-a-header\n\
                   diff --git a/config/app.yaml b/config/app.yaml\n\
                   --- a/config/app.yaml\n\
                   +++ b/config/app.yaml\n\
                   @@ -3 +3 @@ old\n\
                   -x: 1\n\
                   +x: 2\n\
                   @@ -9,0 +10,1 @@\n\
                   +y: 3\n\
                   commit 2222222222222222222222222222222222222222\n\
                   diff --git a/gone.txt b/gone.txt\n\
                   deleted file mode 100644\n\
                   --- a/gone.txt\n\
                   +++ /dev/null\n\
                   @@ -1 +0,0 @@\n\
                   -bye\n";
        let mut p = Parser::default();
        let mut seen = Vec::new();
        for line in log.split_inclusive('\n') {
            if let Some((at, text)) = p.line(line.as_bytes()) {
                seen.push((
                    at.commit.unwrap()[..1].to_string(),
                    at.path.display().to_string(),
                    at.line,
                    String::from_utf8_lossy(text).into_owned(),
                ));
            }
        }
        let want = [
            ("1", ".env", 1, "A=1"),
            ("1", ".env", 2, "+++ b/not-a-header"),
            ("1", "config/app.yaml", 3, "x: 2"),
            ("1", "config/app.yaml", 10, "y: 3"),
        ];
        assert_eq!(
            seen,
            want.map(|(c, p, l, t)| (c.to_string(), p.to_string(), l, t.to_string()))
        );
        assert_eq!(p.commits, 2);
    }
}
