//! Masking the key values breachbook holds: every value that crossed the engine's ports (a key
//! minted, pasted, staged, read back, or the old value read to test it) is remembered here,
//! in memory only, and every occurrence of it is masked before command output is journaled,
//! shown or logged, and before any record reaches the journal.
//!
//! An occurrence is found in any of these forms, anywhere in a line and across line breaks
//! and reads: the value itself, its standard and URL-safe base64 (at every alignment, so a
//! value inside a longer encoded blob is found too), its hex (either case), its URL
//! encoding (`%2F`, partly or fully encoded), JSON and C escapes (`\/`, `\u002b`, `\x2b`),
//! broken by whitespace, line breaks or terminal colour codes. Pieces of
//! [`PIECE`] characters or more of any of these forms are masked as well, so a key printed in
//! halves is masked in both. A value that is a JSON document (an IAM key pair) is remembered
//! as its string fields, an AWS access key id (an identifier, not a secret) left out.
//!
//! What is masked becomes `[masked HINT]`, HINT being the value's usual hint (`sk-…a1b2`):
//! never the piece's own characters, so overlapping pieces cannot rebuild a key.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use zeroize::{Zeroize, Zeroizing};

/// Masked pieces are at least this long: a run of 12 characters of a key (or of its
/// encodings) is masked wherever it appears.
pub const PIECE: usize = 12;

/// Values shorter than this are not remembered (they would mask ordinary words).
pub const MIN_VALUE: usize = 8;

/// The key values this process holds.
#[derive(Default)]
pub struct Known {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    atoms: Vec<Zeroizing<String>>,
    /// Key ids the issuers named as ids (an access key id in the same JSON document as its
    /// secret): identifiers the journal and the screen name keys by, never masked.
    ids: Vec<String>,
    masker: Option<Arc<Masker>>,
}

/// The process's registry: the engine's ports, the command steps, the journal writer and the
/// log file all use this one.
pub fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(Known::default)
}

impl Known {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a key value (and, for a JSON document, each secret string in it).
    pub fn add(&self, value: &str) {
        let atoms = atoms_of(value);
        if atoms.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let mut changed = false;
        for a in atoms {
            if inner.ids.iter().any(|id| id.as_str() == a.as_str()) {
                continue;
            }
            if !inner.atoms.iter().any(|b| b.as_str() == a.as_str()) {
                inner.atoms.push(a);
                changed = true;
            }
        }
        if changed {
            inner.masker = None;
        }
    }

    /// Remembers a key's id, which an issuer named as its id: it is never masked, even inside
    /// a JSON document whose other strings are (the id is how the journal, the report and the
    /// screen tell keys apart, and a masked id would lose track of a key). Not every issuer's
    /// ids have a shape one could tell from a secret's (LocalStack's `LKIA…`, a vendor's
    /// opaque `key_…`), so the issuer's word is what counts.
    pub fn add_id(&self, id: &str) {
        let id = id.trim();
        if id.is_empty() {
            return;
        }
        let mut inner = self.lock();
        if inner.ids.iter().any(|i| i == id) {
            return;
        }
        inner.ids.push(id.to_string());
        let before = inner.atoms.len();
        inner.atoms.retain(|a| a.as_str() != id);
        if inner.atoms.len() != before {
            inner.masker = None;
        }
    }

    /// How many values are remembered.
    pub fn len(&self) -> usize {
        self.lock().atoms.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The masker for everything remembered so far (built once per change).
    pub fn masker(&self) -> Arc<Masker> {
        let mut inner = self.lock();
        if let Some(m) = &inner.masker {
            return m.clone();
        }
        let m = Arc::new(Masker::build(&inner.atoms));
        inner.masker = Some(m.clone());
        m
    }

    /// `text` with every remembered value masked.
    pub fn mask(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        self.masker().mask(text)
    }

    /// Masks every string inside a JSON value; whether anything changed.
    pub fn mask_json(&self, value: &mut serde_json::Value) -> bool {
        if self.is_empty() {
            return false;
        }
        let m = self.masker();
        mask_json(&m, value)
    }
}

fn mask_json(m: &Masker, value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let masked = m.mask(s);
            if masked != *s {
                s.zeroize();
                *s = masked;
                true
            } else {
                false
            }
        }
        Value::Array(items) => {
            let mut changed = false;
            for v in items {
                changed |= mask_json(m, v);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for v in map.values_mut() {
                changed |= mask_json(m, v);
            }
            changed
        }
        _ => false,
    }
}

/// An AWS access key id: an identifier, shown in consoles and CloudTrail, not a secret.
fn is_access_key_id(s: &str) -> bool {
    (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// What of a value to remember: the value, or a JSON document's secret strings.
fn atoms_of(value: &str) -> Vec<Zeroizing<String>> {
    let v = value.trim();
    if (v.starts_with('{') || v.starts_with('['))
        && let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(v)
    {
        let mut out = Vec::new();
        leaves(&doc, &mut out);
        wipe(&mut doc);
        return out;
    }
    if v.len() >= MIN_VALUE {
        vec![Zeroizing::new(v.to_string())]
    } else {
        Vec::new()
    }
}

fn leaves(v: &serde_json::Value, out: &mut Vec<Zeroizing<String>>) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.len() >= MIN_VALUE && !is_access_key_id(t) {
                out.push(Zeroizing::new(t.to_string()));
            }
        }
        Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
        Value::Object(map) => map.values().for_each(|i| leaves(i, out)),
        _ => {}
    }
}

fn wipe(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 without padding.
fn base64(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len().div_ceil(3) * 4));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out
}

/// The base64 characters that depend on `value` alone when it starts `k` bytes into the
/// encoded data (k = 0, 1, 2): found inside any longer base64 blob holding the value.
fn base64_core(value: &[u8], k: usize) -> Zeroizing<Vec<u8>> {
    let mut padded = Zeroizing::new(vec![0u8; k]);
    padded.extend_from_slice(value);
    let enc = base64(&padded);
    let start = (8 * k).div_ceil(6);
    let end = ((8 * k + 8 * value.len()) / 6).min(enc.len());
    Zeroizing::new(enc.get(start..end).unwrap_or_default().to_vec())
}

/// Every form a value is looked for in (lower-cased: matching ignores case).
fn forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = vec![Zeroizing::new(value.to_vec())];
    for k in 0..3 {
        let core = base64_core(value, k);
        let url: Zeroizing<Vec<u8>> = Zeroizing::new(
            core.iter()
                .map(|b| match b {
                    b'+' => b'-',
                    b'/' => b'_',
                    b => *b,
                })
                .collect(),
        );
        out.push(core);
        out.push(url);
    }
    out.push(Zeroizing::new(hex::encode(value).into_bytes()));
    for f in &mut out {
        f.make_ascii_lowercase();
    }
    out.sort_by(|a, b| a[..].cmp(&b[..]));
    out.dedup_by(|a, b| a[..] == b[..]);
    out.retain(|f| !f.is_empty());
    out
}

/// A window: [`PIECE`] lower-cased bytes, then the index of its value (little-endian).
type Window = [u8; PIECE + 4];

/// The remembered values in every form, ready to search text for.
pub struct Masker {
    /// Every [`PIECE`]-byte window of every form, sorted.
    windows: Zeroizing<Vec<Window>>,
    /// Forms shorter than a piece, matched whole.
    short: Vec<(Zeroizing<Vec<u8>>, u32)>,
    /// Each value's hint, by index.
    hints: Vec<String>,
    /// Text kept back so an occurrence split over lines is seen whole (see [`StreamMasker`]).
    hold: usize,
}

impl Masker {
    fn build(atoms: &[Zeroizing<String>]) -> Masker {
        let mut windows: Zeroizing<Vec<Window>> = Zeroizing::new(Vec::new());
        let mut short = Vec::new();
        let mut hints = Vec::new();
        let mut longest = 0usize;
        for (i, a) in atoms.iter().enumerate() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            hints.push(super::super::model::mask(a));
            longest = longest.max(a.len());
            for f in forms(a.as_bytes()) {
                if f.len() < PIECE {
                    short.push((f, idx));
                    continue;
                }
                for w in f.windows(PIECE) {
                    let mut win = [0u8; PIECE + 4];
                    win[..PIECE].copy_from_slice(w);
                    win[PIECE..].copy_from_slice(&idx.to_le_bytes());
                    windows.push(win);
                }
            }
        }
        windows.sort_unstable_by(|a, b| a[..PIECE].cmp(&b[..PIECE]));
        Masker {
            windows,
            short,
            hints,
            // The longest form in text: every byte as `\u00XX` (6 characters), with room for
            // line breaks and colour codes between.
            hold: (longest.saturating_mul(6) + 256).min(64 * 1024),
        }
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.hints.is_empty()
    }

    /// Bytes a stream keeps back before it shows a line.
    pub fn hold(&self) -> usize {
        self.hold
    }

    fn lookup(&self, w: &[u8]) -> Option<u32> {
        let i = self
            .windows
            .binary_search_by(|probe| probe[..PIECE].cmp(w))
            .ok()?;
        let win = self.windows.get(i)?;
        let mut idx = [0u8; 4];
        idx.copy_from_slice(&win[PIECE..]);
        Some(u32::from_le_bytes(idx))
    }

    /// For each byte of `text`, the value it is part of, if any.
    pub fn marks(&self, text: &[u8]) -> Vec<Option<u32>> {
        let mut marks = vec![None; text.len()];
        if self.is_empty() || text.is_empty() {
            return marks;
        }
        for view in [View::raw(text), View::decoded(text)] {
            self.mark_view(&view, &mut marks);
        }
        marks
    }

    fn mark_view(&self, view: &View, marks: &mut [Option<u32>]) {
        let bytes = &view.bytes;
        let mut mark = |from: usize, to: usize, idx: u32| {
            let (start, end) = (view.origin[from].0, view.origin[to - 1].1);
            for m in &mut marks[start..end] {
                if m.is_none() {
                    *m = Some(idx);
                }
            }
        };
        if bytes.len() >= PIECE {
            for i in 0..=bytes.len() - PIECE {
                if let Some(idx) = self.lookup(&bytes[i..i + PIECE]) {
                    mark(i, i + PIECE, idx);
                }
            }
        }
        for (needle, idx) in &self.short {
            if needle.len() > bytes.len() {
                continue;
            }
            for i in 0..=bytes.len() - needle.len() {
                if bytes[i..i + needle.len()] == needle[..] {
                    mark(i, i + needle.len(), *idx);
                }
            }
        }
    }

    /// `bytes` with marked runs replaced; line breaks are kept.
    fn render(&self, bytes: &[u8], marks: &[Option<u32>]) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match marks.get(i).copied().flatten() {
                Some(_) if bytes[i] != b'\n' => {
                    // The run's value: the one most of its bytes belong to (two keys can
                    // share a prefix such as `sk-test-`).
                    let mut counts: Vec<(u32, usize)> = Vec::new();
                    while i < bytes.len() && bytes[i] != b'\n' {
                        let Some(Some(m)) = marks.get(i) else { break };
                        match counts.iter_mut().find(|(k, _)| k == m) {
                            Some((_, n)) => *n += 1,
                            None => counts.push((*m, 1)),
                        }
                        i += 1;
                    }
                    let idx = counts
                        .iter()
                        .max_by_key(|(_, n)| *n)
                        .map(|(k, _)| *k)
                        .unwrap_or(0);
                    let hint = self
                        .hints
                        .get(idx as usize)
                        .map(String::as_str)
                        .unwrap_or("…");
                    out.extend_from_slice(format!("[masked {hint}]").as_bytes());
                }
                _ => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `text` with every remembered value masked.
    pub fn mask(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        let marks = self.marks(text.as_bytes());
        if marks.iter().all(Option::is_none) {
            return text.to_string();
        }
        self.render(text.as_bytes(), &marks)
    }
}

/// Text as searched: lower-cased bytes, each with the range of the original it came from.
struct View {
    bytes: Vec<u8>,
    origin: Vec<(usize, usize)>,
}

impl View {
    fn raw(text: &[u8]) -> View {
        View {
            bytes: text.to_ascii_lowercase(),
            origin: (0..text.len()).map(|i| (i, i + 1)).collect(),
        }
    }

    /// Escapes decoded (`%XX`, `\xXX`, `\uXXXX` below 0x80, `\` before punctuation),
    /// whitespace and CSI sequences (colours) left out.
    fn decoded(text: &[u8]) -> View {
        let hexval = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let hex2 =
            |s: &[u8]| -> Option<u8> { Some(hexval(*s.first()?)? * 16 + hexval(*s.get(1)?)?) };
        let mut bytes = Vec::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            let rest = &text[i..];
            let (value, used) = match b {
                b'%' => match hex2(&rest[1..]) {
                    Some(v) => (Some(v), 3),
                    None => (Some(b), 1),
                },
                b'\\' => match rest.get(1) {
                    Some(b'x') => match hex2(&rest[2..]) {
                        Some(v) => (Some(v), 4),
                        None => (Some(b), 1),
                    },
                    Some(b'u') => match (hex2(&rest[2..]), hex2(&rest[4..])) {
                        (Some(0), Some(v)) if v < 0x80 => (Some(v), 6),
                        _ => (Some(b), 1),
                    },
                    Some(c) if c.is_ascii_punctuation() => (Some(*c), 2),
                    _ => (Some(b), 1),
                },
                0x1b if rest.get(1) == Some(&b'[') => {
                    let end = rest
                        .iter()
                        .skip(2)
                        .position(|c| (0x40..=0x7e).contains(c))
                        .map(|p| p + 3)
                        .unwrap_or(rest.len());
                    (None, end)
                }
                b if b.is_ascii_whitespace() => (None, 1),
                b => (Some(b), 1),
            };
            if let Some(v) = value {
                bytes.push(v.to_ascii_lowercase());
                origin.push((i, i + used));
            }
            i += used;
        }
        View { bytes, origin }
    }
}

/// Masks one output stream (a command's stdout or stderr) as it arrives: complete lines come
/// out masked, each only once enough has followed it (or the stream is quiet, or ends) that a
/// value split over it and the next line is seen whole; the last part already shown is kept
/// as context, so a value straddling it is still masked in what comes next.
pub struct StreamMasker {
    masker: Arc<Masker>,
    /// Already shown, kept to match across it.
    context: Vec<u8>,
    /// Not shown yet.
    pending: Zeroizing<Vec<u8>>,
    /// A line longer than this is shown in parts.
    max_line: usize,
}

impl StreamMasker {
    /// A stream masked with `masker`; lines longer than `max_line` bytes are cut in parts.
    pub fn new(masker: Arc<Masker>, max_line: usize) -> StreamMasker {
        StreamMasker {
            masker,
            context: Vec::new(),
            pending: Zeroizing::new(Vec::new()),
            max_line: max_line.max(PIECE * 2),
        }
    }

    /// Takes bytes as read; returns the lines that are ready.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let hold = self.masker.hold();
        // Lines followed by enough text to see across them.
        let limit = self.pending.len().saturating_sub(hold);
        let ready = self.pending[..limit]
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|p| p + 1);
        match ready {
            Some(upto) => self.emit(upto),
            None if self.pending.len() > self.max_line + hold => {
                // One very long line: shown in parts, the last `hold` bytes kept back.
                let upto = self.pending.len() - hold;
                self.emit(upto)
            }
            None => Vec::new(),
        }
    }

    /// The stream went quiet: every complete line now.
    pub fn flush_lines(&mut self) -> Vec<String> {
        match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(p) => self.emit(p + 1),
            None => Vec::new(),
        }
    }

    /// The stream ended: everything left, the last line even without its line break.
    pub fn finish(&mut self) -> Vec<String> {
        let n = self.pending.len();
        self.emit(n)
    }

    fn emit(&mut self, upto: usize) -> Vec<String> {
        if upto == 0 {
            return Vec::new();
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(self.context.len() + self.pending.len()));
        buf.extend_from_slice(&self.context);
        buf.extend_from_slice(&self.pending);
        let marks = self.masker.marks(&buf);
        let off = self.context.len();
        let shown = &self.pending[..upto];
        let mut lines = Vec::new();
        let mut start = 0;
        while start < shown.len() {
            let end = shown[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|p| start + p)
                .unwrap_or(shown.len());
            let line = self
                .masker
                .render(&shown[start..end], &marks[off + start..off + end]);
            lines.push(line);
            start = end + 1;
        }
        self.context.extend_from_slice(shown);
        let keep = self.masker.hold();
        if self.context.len() > keep {
            let cut = self.context.len() - keep;
            self.context.zeroize_prefix(cut);
        }
        self.pending.drain(..upto);
        lines
    }
}

impl Drop for StreamMasker {
    fn drop(&mut self) {
        self.context.zeroize();
    }
}

/// Drops the first `n` bytes, wiping them.
trait ZeroizePrefix {
    fn zeroize_prefix(&mut self, n: usize);
}

impl ZeroizePrefix for Vec<u8> {
    fn zeroize_prefix(&mut self, n: usize) {
        let n = n.min(self.len());
        self[..n].zeroize();
        self.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEY: &str = "sk-test-AbC0123456789/xyz+QRSTUVWXyz0123";

    fn masker(values: &[&str]) -> Arc<Masker> {
        let k = Known::default();
        for v in values {
            k.add(v);
        }
        k.masker()
    }

    fn b64(s: &str) -> String {
        String::from_utf8(base64(s.as_bytes()).to_vec()).unwrap()
    }

    fn leaks(text: &str) -> bool {
        let pieces: Vec<&str> = (0..=KEY.len() - PIECE)
            .map(|i| &KEY[i..i + PIECE])
            .collect();
        pieces.iter().any(|p| text.contains(p))
            || text.contains(&b64(KEY))
            || text.to_lowercase().contains(&hex::encode(KEY))
    }

    /// LocalStack names access keys `LKIA…` and mints them in sequence, so two ids share
    /// long runs: were the id remembered as a secret, its pieces would mask other keys' ids
    /// and the journal would lose track of them. An id its issuer named stays, whichever
    /// came first; the secret beside it is still masked.
    #[test]
    fn an_id_the_issuer_named_is_never_masked() {
        let id = "LKIAQAAAAAAAEXAMPLE1";
        let other = "LKIAQAAAAAAAEXAMPLE2";
        let doc = format!(r#"{{"AccessKeyId":"{id}","SecretAccessKey":"{KEY}"}}"#);
        for id_first in [true, false] {
            let k = Known::default();
            if id_first {
                k.add_id(id);
            }
            k.add(&doc);
            if !id_first {
                k.add_id(id);
            }
            let text = format!("old {id}, next {other}, secret {KEY}");
            let out = k.mask(&text);
            assert!(out.contains(id), "{out}");
            assert!(out.contains(other), "{out}");
            assert!(!leaks(&out), "{out}");
        }
    }

    #[test]
    fn every_shape_of_a_key_is_masked() {
        let m = masker(&[KEY]);
        let url: String = KEY
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let full_url: String = KEY.bytes().map(|b| format!("%{b:02x}")).collect();
        let shapes = [
            format!("secret:{KEY}"),
            format!("({KEY})"),
            format!("https://x/?secret={url}&next=1"),
            format!("?s={full_url}&"),
            format!("VAR:{KEY}."),
            format!("b64 {}", b64(KEY)),
            format!("inner {}", b64(&format!("token={KEY}\n"))),
            format!("inner1 {}", b64(&format!("x{KEY}"))),
            format!("inner2 {}", b64(&format!("xy{KEY}"))),
            format!("url-safe {}", b64(KEY).replace('+', "-").replace('/', "_")),
            format!("hex {}", hex::encode(KEY)),
            format!("HEX {}", hex::encode_upper(KEY)),
            format!("json {{\"k\":\"{}\"}}", KEY.replace('/', "\\/")),
            format!("{}\u{1b}[0m{}", &KEY[..20], &KEY[20..]),
            KEY.as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        ];
        for s in &shapes {
            let out = m.mask(s);
            assert!(!leaks(&out), "{s:?} → {out:?}");
            assert!(out.contains("[masked sk-…0123]"), "{s:?} → {out:?}");
        }
        assert_eq!(m.mask("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn a_key_split_over_lines_and_reads_is_masked_in_every_part() {
        let m = masker(&[KEY]);
        let mut s = StreamMasker::new(m, 4096);
        let mut lines = Vec::new();
        let text = format!("a {}\n{}\n{} b\n", &KEY[..7], &KEY[7..15], &KEY[15..]);
        for chunk in text.as_bytes().chunks(3) {
            lines.extend(s.push(chunk));
        }
        lines.extend(s.finish());
        let all = lines.join("\n");
        assert!(!leaks(&all), "{all}");
        assert!(!all.contains(&KEY[7..15]), "{all}");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("a "), "{lines:?}");
        assert!(lines[2].ends_with(" b"), "{lines:?}");
    }

    #[test]
    fn a_quiet_stream_shows_its_lines_and_still_masks_what_straddles() {
        let m = masker(&[KEY]);
        let mut s = StreamMasker::new(m, 4096);
        assert!(s.push(b"starting\n").is_empty(), "held back");
        assert_eq!(s.flush_lines(), ["starting"]);
        let mut lines = s.push(format!("{}\n", &KEY[..5]).as_bytes());
        lines.extend(s.flush_lines());
        lines.extend(s.push(format!("{}\n", &KEY[5..]).as_bytes()));
        lines.extend(s.finish());
        assert!(!leaks(&lines.join("\n")), "{lines:?}");
    }

    #[test]
    fn a_json_key_pair_is_remembered_as_its_secret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let pair =
            format!(r#"{{"AccessKeyId":"AKIAEXAMPLE123456789","SecretAccessKey":"{secret}"}}"#);
        let m = masker(&[&pair]);
        let out = m.mask(&format!("deployed {pair}"));
        assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        assert!(
            out.contains("AKIAEXAMPLE123456789"),
            "ids stay readable: {out}"
        );
    }

    #[test]
    fn a_very_long_line_is_cut_but_masked_across_the_cut() {
        let m = masker(&[KEY]);
        let mut s = StreamMasker::new(m, 64);
        let mut lines = Vec::new();
        let text = format!("{}{KEY}{}", "x".repeat(300), "y".repeat(300));
        for chunk in text.as_bytes().chunks(50) {
            lines.extend(s.push(chunk));
        }
        lines.extend(s.finish());
        assert!(!leaks(&lines.concat()), "{lines:?}");
    }
}
