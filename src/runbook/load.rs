//! Loading a runbook: the hostile-input guards of `guard`, YAML parsing with serde-saphyr
//! (duplicate keys rejected, alias and nesting budgets as a second line of defence), then the
//! checks of `validate`. Every problem comes back located, all of them at once.
//!
//! Depends on `schema`, `guard`, `validate` and `diagnostic`.

use std::path::Path;

use super::diagnostic::{Diagnostic, LoadError, did_you_mean};
use super::guard;
pub use super::guard::{MAX_BYTES, MAX_DEPTH, MAX_LINE, utf8};
use super::schema::Runbook;
use super::validate;

/// Reads and loads a runbook file; returns it with its source text.
pub fn load_file(path: &Path) -> Result<(Runbook, String), LoadError> {
    let src = read_source(path)?;
    let rb = load_str(&path.display().to_string(), &src)?;
    Ok((rb, src))
}

/// Reads a runbook file as text: refused when it is not a readable regular file (a FIFO or a
/// device is refused at once, without blocking or reading), is over [`MAX_BYTES`] (checked
/// before reading, and no more is ever read) or is not UTF-8.
pub fn read_source(path: &Path) -> Result<String, LoadError> {
    let origin = path.display().to_string();
    let cannot_read = |why: String| {
        LoadError::one(
            &origin,
            "",
            Diagnostic {
                line: 1,
                column: 1,
                offset: 0,
                message: format!("cannot read {origin}: {why}"),
                hint: Some(
                    "check the path; built-in runbooks are listed by `breachbook runbooks`".into(),
                ),
            },
        )
    };
    let bytes = match crate::fsutil::read_user_file(path, MAX_BYTES as u64) {
        Ok(b) => b,
        // Refused before reading: a huge file is never loaded into memory.
        Err(crate::fsutil::FsError::TooBig { len, .. }) => {
            return Err(guard::too_big(&origin, len.unwrap_or(MAX_BYTES as u64 + 1)));
        }
        Err(crate::fsutil::FsError::NotRegular { kind, .. }) => {
            return Err(cannot_read(format!("it is {kind}, not a file")));
        }
        Err(crate::fsutil::FsError::Io { source, .. }) => {
            return Err(cannot_read(source.to_string()));
        }
        Err(e) => return Err(cannot_read(e.to_string())),
    };
    utf8(&origin, &bytes)
}

/// Parses and validates runbook text; `origin` names it in diagnostics.
///
/// Every problem in one pass: the parser stops at its first error, so an unknown field
/// (or a wrong scalar) is reported, blanked out of a copy of the text — kept byte for byte
/// the same length, so every place still points into the file as written — and the copy
/// parsed again, until it parses; then the rules are checked on it. A problem that only
/// echoes an earlier one (a required field missing because its bad value was blanked) is
/// not reported.
pub fn load_str(origin: &str, src: &str) -> Result<Runbook, LoadError> {
    guard::text(origin, src)?;
    guard::structure(origin, src)?;
    let mut text = src.to_string();
    let mut found: Vec<Diagnostic> = Vec::new();
    let mut blanked: Vec<String> = Vec::new();
    let mut parsed = None;
    for _ in 0..MAX_PASSES {
        match parse(origin, &text) {
            Ok(rb) => {
                found.extend(validate::validate(&text, &rb));
                parsed = Some(rb);
                break;
            }
            Err(e) => {
                let Some(d) = e.diagnostics.into_iter().next() else {
                    break;
                };
                let echo = blanked
                    .iter()
                    .any(|k| d.message == format!("missing field `{k}`"));
                if echo {
                    break;
                }
                let next = blank_key_at(&text, d.offset, &d.message);
                found.push(d);
                match next {
                    Some((t, keys)) => {
                        text = t;
                        blanked.extend(keys);
                    }
                    None => break,
                }
            }
        }
    }
    found.sort_by_key(|d| (d.line, d.column));
    found.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
    match parsed {
        Some(rb) if found.is_empty() => Ok(rb),
        _ => Err(LoadError {
            origin: origin.to_string(),
            source: src.to_string(),
            diagnostics: found,
        }),
    }
}

/// How often an unknown field or a bad value is blanked out to look further.
const MAX_PASSES: usize = 25;

/// `text` with the `key: …` entry at `offset` (and the block under it) turned into spaces
/// and a `#`, so the rest parses on: for an unknown field (the offset is the key) or a bad
/// scalar (the offset is its value, on the key's line). None where that cannot be done
/// safely (a list item's first key, a flow mapping): the parse stops there.
fn blank_key_at(text: &str, offset: usize, message: &str) -> Option<(String, Vec<String>)> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[start..end];
    let indent = line.len() - line.trim_start().len();
    let body = &line[indent..];
    if body.starts_with('-') || body.starts_with('{') || body.starts_with('[') {
        return None;
    }
    let (key, _) = body.split_once(':')?;
    let key = key.trim();
    if key.is_empty() || key.contains([' ', '{', '[', '"', '\'']) {
        return None;
    }
    let unknown = message.starts_with("unknown field");
    if unknown && start + indent != offset {
        return None;
    }
    if !unknown && offset <= start + indent + key.len() {
        return None;
    }
    // The block under the key: the lines after it indented deeper (or blank).
    let mut block_end = end;
    let mut rest = end;
    while rest < text.len() {
        let next_end = text[rest + 1..]
            .find('\n')
            .map_or(text.len(), |i| rest + 1 + i);
        let next = &text[rest + 1..next_end.min(text.len())];
        let deeper = next.trim().is_empty() || next.len() - next.trim_start().len() > indent;
        if !deeper {
            break;
        }
        if !next.trim().is_empty() {
            block_end = next_end;
        }
        rest = next_end;
    }
    let mut out = text.as_bytes().to_vec();
    blank(&mut out, start, block_end, indent);
    // A parent left with nothing under it would now be empty (null): it goes too.
    let mut keys = vec![key.to_string()];
    let (mut child_start, mut child_indent) = (start, indent);
    while let Some((p_start, p_end, p_indent)) = empty_parent(&out, child_start, child_indent) {
        if let Some(k) = std::str::from_utf8(&out[p_start..p_end])
            .ok()
            .and_then(|l| l.trim().strip_suffix(':'))
        {
            keys.push(k.trim().to_string());
        }
        blank(&mut out, p_start, p_end, p_indent);
        (child_start, child_indent) = (p_start, p_indent);
    }
    // Spaces and `#` in place of whole lines: still UTF-8.
    let text = String::from_utf8(out).ok()?;
    Some((text, keys))
}

/// Turns `[start, end)` into spaces (line breaks kept) with a `#` at `start + indent`.
fn blank(out: &mut [u8], start: usize, end: usize, indent: usize) {
    for b in &mut out[start..end] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
    if let Some(b) = out.get_mut(start + indent) {
        *b = b'#';
    }
}

/// The `key:` line above the line at `start` (indented `indent`) when it holds a block
/// whose every line is now blank or a comment: (its start, its end, its indent).
fn empty_parent(out: &[u8], start: usize, indent: usize) -> Option<(usize, usize, usize)> {
    let text = std::str::from_utf8(out).ok()?;
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .scan(0, |at, l| {
            let s = *at;
            *at += l.len();
            Some((s, l.trim_end_matches('\n')))
        })
        .collect();
    let me = lines.iter().position(|(s, _)| *s == start)?;
    let ind = |l: &str| l.len() - l.trim_start().len();
    let quiet = |l: &str| l.trim().is_empty() || l.trim_start().starts_with('#');
    let parent = lines[..me]
        .iter()
        .rposition(|(_, l)| !quiet(l) && ind(l) < indent)?;
    let (p_start, p_line) = lines[parent];
    let p_indent = ind(p_line);
    let body = p_line.trim();
    if body.starts_with('-') || !body.ends_with(':') {
        return None;
    }
    let children_quiet = lines[parent + 1..]
        .iter()
        .take_while(|(_, l)| quiet(l) || ind(l) > p_indent)
        .all(|(_, l)| quiet(l));
    children_quiet.then_some((p_start, p_start + p_line.len(), p_indent))
}

/// serde-saphyr options shared by the typed parse and the shadow parse of `validate`.
pub(crate) fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1;
    budget.max_depth = MAX_DEPTH;
    budget.max_aliases = guard::MAX_ALIASES;
    budget.max_anchors = 1_000;
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    let mut aliases = serde_saphyr::options::AliasLimits::default();
    // A backstop behind `guard::structure`, which counts nodes (a list is two events).
    aliases.max_total_replayed_events = guard::MAX_ALIAS_NODES * 4;
    aliases.max_replay_stack_depth = 16;
    aliases.max_alias_expansions_per_anchor = guard::MAX_USES_PER_ANCHOR;
    serde_saphyr::options! {
        budget: Some(budget),
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::Error,
        alias_limits: aliases,
    }
}

/// Field names each struct accepts, for "did you mean" hints on unknown fields.
const FIELDS: &[&str] = &[
    "version",
    "name",
    "title",
    "description",
    "severity",
    "exposure_window",
    "scope",
    "settings",
    "steps",
    "drill",
    "start",
    "end",
    "secrets_manager",
    "iam",
    "openai",
    "anthropic",
    "gemini",
    "braintrust",
    "vault",
    "ssm",
    "github_actions",
    "disk",
    "git_history",
    "no_ignore",
    "copies",
    "repo",
    "environment",
    "mirrors",
    "paths",
    "mount",
    "path_prefixes",
    "regions",
    "name_prefixes",
    "tags",
    "fields",
    "fingerprint",
    "field",
    "issuer",
    "users",
    "path_prefix",
    "stored_in",
    "organization",
    "projects",
    "workspaces",
    "secrets",
    "concurrency",
    "max_attempts",
    "quiet_period",
    "id",
    "instructions",
    "why",
    "action",
    "checklist",
    "command",
    "needs",
    "confirm",
    "on_failure",
    "is_critical",
    "timeout",
    "run",
    "new_key_via",
    "per_credential",
    "drill_effect",
    "seed",
    "speed",
    "duration",
    "starts_after_exposure",
    "credentials",
    "actors",
    "injects",
    "faults",
    "age",
    "locations",
    "secret",
    "region",
    "kind",
    "uses",
    "rate",
    "every",
    "source",
    "reads",
    "at",
    "message",
    "provider",
    "from",
    "until",
    "consumer",
];

fn parse(origin: &str, src: &str) -> Result<Runbook, LoadError> {
    serde_saphyr::from_str_with_options::<Runbook>(src, options()).map_err(|e| {
        let offset = e
            .location()
            .and_then(|l| {
                l.span()
                    .byte_offset()
                    .map(|o| o as usize)
                    .or_else(|| offset_of(src, l.line() as usize, l.column() as usize))
            })
            .unwrap_or(0);
        let raw = e.without_snippet().to_string();
        let msg = raw
            .rfind(" at line ")
            .map(|i| raw[..i].to_string())
            .unwrap_or(raw);
        let (message, hint) = explain(&msg);
        LoadError::one(
            origin,
            src,
            Diagnostic::at_offset(src, offset, message, hint),
        )
    })
}

/// Byte offset of a 1-based line and character column.
fn offset_of(src: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let start: usize = src.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let text = src.get(start..)?;
    let col = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    Some(start + col)
}

/// Turns a parser message into the operator's words and a hint.
fn explain(msg: &str) -> (String, Option<String>) {
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = &rest[..end];
        let expected = rest[end..]
            .split_once("expected one of ")
            .map(|(_, e)| e.to_string());
        let candidates: Vec<&str> = expected
            .as_deref()
            .map(|e| e.split(", ").map(|s| s.trim_matches('`')).collect())
            .unwrap_or_else(|| FIELDS.to_vec());
        let hint = match did_you_mean(field, candidates.iter().copied()) {
            Some(s) => Some(format!("did you mean `{s}`?")),
            None => expected.map(|e| format!("known fields here: {e}")),
        };
        return (format!("unknown field `{field}`"), hint);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `")
        && let Some(end) = rest.find('`')
    {
        let word = &rest[..end];
        let expected = rest[end..]
            .split_once("expected one of ")
            .map(|(_, e)| e.to_string())
            .unwrap_or_default();
        let hint = match did_you_mean(word, expected.split(", ").map(|s| s.trim_matches('`'))) {
            Some(s) => format!("did you mean `{s}`? (one of {expected})"),
            None => format!("use one of {expected}"),
        };
        return (format!("unknown value `{word}`"), Some(hint));
    }
    if msg.starts_with("duplicate mapping key") {
        let key = msg
            .split_once(": ")
            .map(|(_, k)| k.split(',').next().unwrap_or(k).trim().to_string())
            .unwrap_or_default();
        return (
            format!("duplicate key `{key}`"),
            Some("each key may appear once in a mapping; remove or merge the duplicate".into()),
        );
    }
    if msg.starts_with("missing field") {
        return (
            msg.to_string(),
            Some("add the field; docs/runbook-format.md lists every field".into()),
        );
    }
    let lower = msg.to_lowercase();
    if lower.contains("provide a yaml document") {
        return (
            "the file holds no runbook".into(),
            Some("a runbook needs version, name, title, exposure_window, scope and steps; start from one in runbooks/".into()),
        );
    }
    if lower.contains("multiple documents")
        || lower.contains("multiple yaml documents")
        || lower.contains("but multiple found")
    {
        return (
            "several YAML documents in one file".into(),
            Some("a runbook file holds exactly one document: remove the `---` separators or split the file".into()),
        );
    }
    if lower.contains("alias")
        || lower.contains("anchor")
        || lower.contains("replayed")
        || lower.contains("merge key")
    {
        return (
            "too many aliases or alias expansions (a YAML alias bomb?)".into(),
            Some("write the runbook out plainly: anchors and aliases (&name / *name) may be used only a few times".into()),
        );
    }
    if lower.contains("depth") || lower.contains("nesting") {
        return (
            "the YAML nests too deep".into(),
            Some(format!(
                "runbooks nest at most {MAX_DEPTH} levels; write it out plainly"
            )),
        );
    }
    if lower.contains("budget") || lower.contains("too large or too complex") {
        return (
            "the YAML is too large or too complex".into(),
            Some("a runbook needs a few hundred values, not tens of thousands; split it".into()),
        );
    }
    // chrono's words for a time it cannot read.
    if [
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "no possible date and time matching input",
        "input is not enough for unique date and time",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        return (
            format!("not an RFC 3339 time ({msg})"),
            Some("write a UTC time like `2026-05-12T00:00:00Z`".into()),
        );
    }
    if lower.contains("invalid boolean") {
        return (
            "expected `true` or `false` here".into(),
            Some("write `true` or `false` without quotes".into()),
        );
    }
    if lower.contains("invalid floating point") || lower.contains("invalid f64") {
        return (
            "expected a number here".into(),
            Some("write a number such as 10, without quotes".into()),
        );
    }
    if lower.contains("invalid u32")
        || lower.contains("invalid u64")
        || lower.contains("invalid usize")
    {
        return (
            "expected a whole number here".into(),
            Some("write a number without quotes, e.g. `version: 1` or `concurrency: 8`".into()),
        );
    }
    if lower.starts_with("expected mapping") {
        return (
            "expected a mapping here (`key: value` lines), not a list or a single value".into(),
            Some("a runbook is a mapping at the top (version, name, title, …); docs/runbook-format.md shows each field's shape".into()),
        );
    }
    if lower.starts_with("expected string scalar") {
        return (
            "expected text here, not a list or a mapping".into(),
            Some("check the value's type against docs/runbook-format.md".into()),
        );
    }
    if lower.contains("expected sequence") {
        return (
            "expected a list here".into(),
            Some("write one `- item` per line, or `[a, b]`".into()),
        );
    }
    if lower.contains("invalid type") || lower.starts_with("expected") {
        return (
            msg.to_string(),
            Some("check the value's type against docs/runbook-format.md".into()),
        );
    }
    (
        msg.to_string(),
        Some("check the YAML syntax around this place".into()),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BASE: &str = "version: 1
name: t
title: T
exposure_window:
  start: 2026-10-01T00:00:00Z
scope:
  openai:
    organization: org-test
steps:
  - id: look
    title: Look
    action: manual
    instructions: Tick.
";

    #[test]
    fn too_many_values_are_refused_by_the_budget_quickly() {
        // 150 000 checklist items in a flow list over lines of 60 KB: no line, size, depth
        // or alias limit applies; the node budget does.
        let mut src = format!("{BASE}    checklist: [");
        for line in 0..5 {
            src.push_str(&"a,".repeat(30_000));
            src.push_str(if line < 4 { "\n      " } else { "a]\n" });
        }
        assert!(src.len() < MAX_BYTES);
        let start = std::time::Instant::now();
        let e = load_str("t.yaml", &src).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let d = &e.diagnostics()[0];
        assert_eq!(d.message, "the YAML is too large or too complex", "{e}");
        assert!(d.hint.is_some());
    }

    #[test]
    fn every_problem_in_one_pass_each_once() {
        // An unknown field no longer hides a typo in `needs`, nor a bad number.
        let src = format!(
            "{BASE}    checklist: [a]\n  - id: two\n    title: Two\n    action: manual\n    instructions: Tick.\n    checklist: [a]\n    needs: [lok]\n    colour: blue\n"
        )
        .replacen("  openai:\n", "  openai:\n    colour: red\n", 1);
        let e = load_str("t.yaml", &src).unwrap_err();
        let msgs: Vec<&str> = e.diagnostics().iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "unknown field `colour`",
                "step `two` needs `lok`, which is not a step",
                "unknown field `colour`"
            ],
            "{e}"
        );
        assert_eq!(e.diagnostics()[0].line, 8);
        let lines: Vec<usize> = e.diagnostics().iter().map(|d| d.line).collect();
        assert_eq!(lines, [8, 21, 22]);
        // A wrong type gets a hint of its own.
        let src = format!("{BASE}    checklist: [a]\nsettings:\n  concurrency: ten\n");
        let e = load_str("t.yaml", &src).unwrap_err();
        let msgs: Vec<&str> = e.diagnostics().iter().map(|d| d.message.as_str()).collect();
        assert_eq!(msgs, ["expected a whole number here"], "{e}");
        // A bad required value is one problem, not two.
        let src = BASE.replace("title: T", "title: [T]");
        let e = load_str("t.yaml", &src).unwrap_err();
        assert_eq!(e.diagnostics().len(), 1, "{e}");
    }

    #[test]
    fn parser_words_become_the_operators_words() {
        let (m, h) = explain("only single YAML document expected but multiple found");
        assert_eq!(m, "several YAML documents in one file");
        assert!(h.is_some());
        let (m, _) =
            explain("YAML document too large or too complex: total_replayed_events=40001 > 40000");
        assert!(m.contains("alias"), "{m}");
        let (m, _) = explain("YAML document too large or too complex: depth=65 > 64");
        assert_eq!(m, "the YAML nests too deep");
        let (m, h) = explain("unknown field `neds`, expected one of `id`, `needs`, `title`");
        assert_eq!(m, "unknown field `neds`");
        assert_eq!(h.as_deref(), Some("did you mean `needs`?"));
        let (m, h) = explain("invalid floating point");
        assert_eq!(m, "expected a number here");
        assert_eq!(
            h.as_deref(),
            Some("write a number such as 10, without quotes")
        );
    }
}
