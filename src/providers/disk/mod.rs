//! Copies of exposed keys on disk: working trees, `.env` and config files, and (in `git`)
//! git history. Key-shaped tokens are cut out of every text file, and each token's keyed
//! fingerprint (the incident's HMAC key, [`crate::incident::model::fingerprint`]) is
//! compared with the exposed keys'. A value is never kept, printed or written: a token lives
//! in the read buffer only while its fingerprint is taken, and a finding names the key, the
//! file and the line, never the line's text.
//!
//! The walk is the `ignore` crate's (ripgrep's): `.gitignore`, `.ignore` and git's excludes
//! are respected unless the caller says otherwise, hidden files (`.env`) are read, `.git`
//! folders are not (history is `git`'s job), a file with a NUL byte in its first 8 KiB is
//! taken for binary and skipped, and files are read on every core.
//!
//! A token is a run of `A–Z a–z 0–9 _ - + /` at least [`MIN_TOKEN`] long, tried as it is
//! and with the `=` padding that follows it: it cuts `OPENAI_API_KEY=sk-…` at the `=`,
//! quotes, spaces, `:` and `,`, and keeps base64 keys (AWS secret access keys hold `/` and
//! `+`) whole.
//!
//! May depend on the incident model (fingerprints, hints) only.

pub mod git;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// The shortest token looked at: every provider's key is longer (an IAM access key id is 20
/// characters, the shortest API key kind seen 32).
pub const MIN_TOKEN: usize = 16;
/// The longest token looked at; a longer run is data (a base64 blob), not a key.
pub const MAX_TOKEN: usize = 512;
/// How much of a file's start decides whether it is binary (git and ripgrep look at 8 KiB).
const BINARY_PROBE: usize = 8 * 1024;

/// Takes keyed fingerprints the way the incident took them: HMAC-SHA256 under the
/// incident's key (a drill's world adds its seed first), first 6 bytes (12 hex characters).
/// The keyed state is made once and cloned per token.
#[derive(Clone)]
pub struct Fingerprinter {
    mac: Hmac<Sha256>,
}

impl Fingerprinter {
    /// Fingerprints under `key`, with `prefix` fed first (empty for a live incident).
    pub fn new(key: &[u8], prefix: &[u8]) -> Option<Fingerprinter> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        mac.update(prefix);
        Some(Fingerprinter { mac })
    }

    /// The first 6 bytes of the fingerprint of `value`.
    pub fn of(&self, value: &[u8]) -> [u8; 6] {
        let mut mac = self.mac.clone();
        mac.update(value);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 6];
        out.copy_from_slice(&full[..6]);
        out
    }
}

/// One exposed key to look for.
#[derive(Debug, Clone, Serialize)]
pub struct Needle {
    /// The credential's id in the incident.
    pub credential: String,
    /// Its name, for people.
    pub name: String,
    /// Its masked hint (`sk-…aaP1`).
    pub hint: String,
}

/// The keys looked for, by fingerprint.
pub struct Needles {
    by_fingerprint: HashMap<[u8; 6], Vec<usize>>,
    needles: Vec<Needle>,
    fp: Fingerprinter,
}

impl Needles {
    /// `keys`: each key with its fingerprint as the incident keeps it (12 hex characters);
    /// a fingerprint that is not 12 hex characters is left out (and returned).
    pub fn new(fp: Fingerprinter, keys: Vec<(Needle, String)>) -> (Needles, Vec<Needle>) {
        let mut by_fingerprint: HashMap<[u8; 6], Vec<usize>> = HashMap::new();
        let mut needles = Vec::new();
        let mut unusable = Vec::new();
        for (needle, hex_fp) in keys {
            let mut bytes = [0u8; 6];
            match hex::decode_to_slice(hex_fp.trim(), &mut bytes) {
                Ok(()) => {
                    by_fingerprint.entry(bytes).or_default().push(needles.len());
                    needles.push(needle);
                }
                Err(_) => unusable.push(needle),
            }
        }
        (
            Needles {
                by_fingerprint,
                needles,
                fp,
            },
            unusable,
        )
    }

    /// How many keys are looked for.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// Whether no key is looked for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The keys `line` holds a copy of, each once.
    pub fn in_line(&self, line: &[u8]) -> Vec<&Needle> {
        let mut found: Vec<usize> = Vec::new();
        for_each_token(line, |token| {
            if let Some(hits) = self.by_fingerprint.get(&self.fp.of(token)) {
                for &i in hits {
                    if !found.contains(&i) {
                        found.push(i);
                    }
                }
            }
        });
        found.iter().map(|&i| &self.needles[i]).collect()
    }
}

/// Calls `f` with every token of `line` (see the module doc): each maximal run, and the run
/// with the `=` padding right after it when there is some.
pub fn for_each_token(line: &[u8], mut f: impl FnMut(&[u8])) {
    let is_key = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'/');
    let mut i = 0;
    while i < line.len() {
        if !is_key(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && is_key(line[i]) {
            i += 1;
        }
        let len = i - start;
        if (MIN_TOKEN..=MAX_TOKEN).contains(&len) {
            f(&line[start..i]);
            let mut end = i;
            while end < line.len() && end - i < 3 && line[end] == b'=' {
                end += 1;
            }
            if end > i {
                f(&line[start..end]);
            }
        }
    }
}

/// Where a copy was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Place {
    /// The repository, for a copy in git history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<PathBuf>,
    /// The commit that added the line, for a copy in git history (full hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The file: as walked (working tree), or its path in the commit.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
}

impl Place {
    /// `path:line`, or `commit 1a2b3c4d path:line`.
    pub fn label(&self) -> String {
        let at = format!("{}:{}", self.path.display(), self.line);
        match &self.commit {
            Some(c) => format!("commit {} {at}", &c[..c.len().min(12)]),
            None => at,
        }
    }
}

/// One copy of one exposed key.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub credential: String,
    pub name: String,
    pub hint: String,
    #[serde(flatten)]
    pub place: Place,
}

/// How to walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Read what `.gitignore`, `.ignore` and git's excludes leave out too.
    pub no_ignore: bool,
    /// Threads reading files (0: one per core).
    pub threads: usize,
}

/// What a walk did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WalkStats {
    pub files_read: u64,
    pub bytes_read: u64,
    pub binary_skipped: u64,
    /// Files that could not be read, with why (permission, vanished).
    pub unreadable: Vec<String>,
    #[serde(skip)]
    pub took: Duration,
}

/// Scans every file under `paths` (files or folders) for copies of `needles`.
pub fn scan_paths(
    paths: &[PathBuf],
    opts: &WalkOptions,
    needles: &Needles,
) -> (Vec<Finding>, WalkStats) {
    let started = Instant::now();
    let Some((first, rest)) = paths.split_first() else {
        return (Vec::new(), WalkStats::default());
    };
    let mut builder = ignore::WalkBuilder::new(first);
    for p in rest {
        builder.add(p);
    }
    builder
        .hidden(false)
        .threads(opts.threads)
        // `.git` folders hold history, read by `git` (and packed: no use to a line scan).
        .filter_entry(|e| e.file_name() != ".git");
    if opts.no_ignore {
        builder.standard_filters(false).hidden(false);
    }
    let found = Mutex::new(Vec::new());
    let stats = Mutex::new(WalkStats::default());
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if let Ok(mut s) = stats.lock() {
                        s.unreadable.push(e.to_string());
                    }
                    return ignore::WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            let path = entry.path();
            match scan_file(path, needles) {
                Ok(FileScan::Binary) => {
                    if let Ok(mut s) = stats.lock() {
                        s.binary_skipped += 1;
                    }
                }
                Ok(FileScan::Text { bytes, hits }) => {
                    if let Ok(mut s) = stats.lock() {
                        s.files_read += 1;
                        s.bytes_read += bytes;
                    }
                    if !hits.is_empty()
                        && let Ok(mut f) = found.lock()
                    {
                        f.extend(hits.into_iter().map(|(line, n)| Finding {
                            credential: n.credential.clone(),
                            name: n.name.clone(),
                            hint: n.hint.clone(),
                            place: Place {
                                repository: None,
                                commit: None,
                                path: path.to_path_buf(),
                                line,
                            },
                        }));
                    }
                }
                Err(e) => {
                    if let Ok(mut s) = stats.lock() {
                        s.unreadable.push(format!("{}: {e}", path.display()));
                    }
                }
            }
            ignore::WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap_or_default();
    found.sort_by(|a, b| a.place.cmp(&b.place).then(a.credential.cmp(&b.credential)));
    let mut stats = stats.into_inner().unwrap_or_default();
    stats.unreadable.sort();
    stats.took = started.elapsed();
    (found, stats)
}

enum FileScan<'a> {
    Binary,
    Text {
        bytes: u64,
        hits: Vec<(u64, &'a Needle)>,
    },
}

/// Reads one file line by line (any size: one line in memory at a time).
fn scan_file<'a>(path: &Path, needles: &'a Needles) -> std::io::Result<FileScan<'a>> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf()?;
    if head[..head.len().min(BINARY_PROBE)].contains(&0) {
        return Ok(FileScan::Binary);
    }
    scan_reader(reader, needles).map(|(bytes, hits)| FileScan::Text { bytes, hits })
}

/// Scans text from `reader`; the bytes read and each (line, key) found.
pub fn scan_reader(
    mut reader: impl BufRead,
    needles: &Needles,
) -> std::io::Result<(u64, Vec<(u64, &Needle)>)> {
    let mut line = Vec::with_capacity(256);
    let mut n = 0u64;
    let mut fresh = true;
    let mut bytes = 0u64;
    let mut hits = Vec::new();
    loop {
        line.clear();
        // A line is read in pieces of at most 1 MiB, so one huge line cannot take the
        // memory; a key cut there is not found (no key is near that long).
        let read = (&mut reader)
            .take(1024 * 1024)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        if fresh {
            n += 1;
        }
        fresh = line.last() == Some(&b'\n');
        for needle in needles.in_line(&line) {
            hits.push((n, needle));
        }
    }
    // The buffer held key values: clear it before it is freed.
    zeroize::Zeroize::zeroize(&mut line);
    Ok((bytes, hits))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn needles(values: &[(&str, &str)]) -> Needles {
        let fp = Fingerprinter::new(b"test key", b"").unwrap();
        let keys = values
            .iter()
            .map(|(name, v)| {
                (
                    Needle {
                        credential: format!("c/{name}"),
                        name: (*name).into(),
                        hint: crate::incident::model::mask(v),
                    },
                    crate::incident::model::fingerprint(b"test key", v),
                )
            })
            .collect();
        Needles::new(fp, keys).0
    }

    #[test]
    fn tokens_are_cut_at_separators_and_keep_base64_whole() {
        let mut seen = Vec::new();
        for_each_token(
            b"OPENAI_API_KEY=\"sk-test-aaaaaaaaaaaaaaaa\" x: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY== short",
            |t| seen.push(String::from_utf8_lossy(t).into_owned()),
        );
        assert_eq!(
            seen,
            [
                // OPENAI_API_KEY is 14 characters: shorter than any key, not looked at.
                "sk-test-aaaaaaaaaaaaaaaa",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY==",
            ]
        );
    }

    #[test]
    fn a_copy_is_found_by_its_fingerprint_and_nothing_else_matches() {
        let n = needles(&[
            ("openai-prod", "sk-test-openai-FAKE00000000000000aaP1"),
            ("aws", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        ]);
        let text = "# config\nkey: sk-test-openai-FAKE00000000000000aaP1\nother: sk-test-openai-FAKE00000000000000aaP2\n\
                    export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\nlast line without newline sk-test-openai-FAKE00000000000000aaP1";
        let (bytes, hits) = scan_reader(text.as_bytes(), &n).unwrap();
        assert_eq!(bytes, text.len() as u64);
        let lines: Vec<(u64, &str)> = hits.iter().map(|(l, n)| (*l, n.name.as_str())).collect();
        assert_eq!(lines, [(2, "openai-prod"), (4, "aws"), (5, "openai-prod")]);
    }

    #[test]
    fn a_fingerprint_that_is_not_twelve_hex_characters_is_given_back() {
        let fp = Fingerprinter::new(b"k", b"").unwrap();
        let needle = Needle {
            credential: "c".into(),
            name: "n".into(),
            hint: "sk-…0000".into(),
        };
        let (n, unusable) = Needles::new(fp, vec![(needle, "not hex".into())]);
        assert!(n.is_empty());
        assert_eq!(unusable.len(), 1);
    }
}
