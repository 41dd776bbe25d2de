//! Hostile-input guards, run before a runbook is deserialized: size, line length, UTF-8,
//! emptiness, and a streaming scan of the YAML events for several documents, deep nesting and
//! alias bombs. Each refusal is one located diagnostic and costs at most one pass over the
//! text, so a hostile file is refused in milliseconds.
//!
//! Depends on `diagnostic` and on the YAML event parser that serde-saphyr re-exports.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{ErrorKind, Event, Marker, Parser, Span};

use super::diagnostic::{Diagnostic, LoadError};

/// Largest runbook accepted.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Longest line accepted.
pub const MAX_LINE: usize = 64 * 1024;
/// Deepest nesting of lists and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Most alias uses (`*name`) in one file.
pub const MAX_ALIASES: usize = 1_000;
/// Most uses of one anchor.
pub const MAX_USES_PER_ANCHOR: usize = 100;
/// Most nodes that aliases may add to the document once expanded (the billion-laughs guard).
pub const MAX_ALIAS_NODES: usize = 10_000;

const ALIAS_HINT: &str = "write the runbook out plainly: anchors and aliases (&name / *name) may be used only a few times";

/// A refusal before any parsing, at the top of the file.
fn at_start(origin: &str, source: &str, message: String, hint: &str) -> LoadError {
    LoadError::one(
        origin,
        source,
        Diagnostic {
            line: 1,
            column: 1,
            offset: 0,
            message,
            hint: Some(hint.to_string()),
        },
    )
}

/// The refusal of a file over [`MAX_BYTES`].
pub fn too_big(origin: &str, len: u64) -> LoadError {
    at_start(
        origin,
        "",
        format!("the file is {len} bytes; runbooks are limited to 1 MiB"),
        "split it, or move long text out of it",
    )
}

/// Checks that `bytes` is UTF-8; the error points at the first bad byte.
pub fn utf8(origin: &str, bytes: &[u8]) -> Result<String, LoadError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let text = String::from_utf8_lossy(good).into_owned();
            let d = Diagnostic::at_offset(
                &text,
                text.len(),
                format!(
                    "the file is not UTF-8 text: invalid byte 0x{:02x}",
                    bytes.get(e.valid_up_to()).copied().unwrap_or(0)
                ),
                Some("save the runbook as UTF-8".into()),
            );
            Err(LoadError::one(origin, &text, d))
        }
    }
}

/// Size, line length and emptiness: checked on the raw text, before any YAML parsing.
pub fn text(origin: &str, src: &str) -> Result<(), LoadError> {
    if src.len() > MAX_BYTES {
        return Err(too_big(origin, src.len() as u64));
    }
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        if line.len() > MAX_LINE {
            let d = Diagnostic::at_offset(
                src,
                offset,
                format!(
                    "line is {} bytes long; lines are limited to 64 KiB",
                    line.len()
                ),
                Some("use a block scalar (`|`) and break long text over several lines".into()),
            );
            // Only the text before the line: the report must not echo 64 KiB back.
            return Err(LoadError::one(origin, src.get(..offset).unwrap_or(""), d));
        }
        offset += line.len();
    }
    let meaningful = src.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
    });
    if !meaningful {
        return Err(at_start(
            origin,
            src,
            "the file is empty".into(),
            "a runbook needs version, name, title, exposure_window, scope and steps; start from one in runbooks/",
        ));
    }
    Ok(())
}

/// Byte offset of a parser marker in `src`.
fn offset(src: &str, m: &Marker) -> usize {
    if let Some(b) = m.byte_offset() {
        return b;
    }
    // Markers count lines from 1 and columns (in characters) from 0.
    let start: usize = src
        .split_inclusive('\n')
        .take(m.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let col = src
        .get(start..)
        .and_then(|rest| rest.char_indices().nth(m.col()).map(|(i, _)| i))
        .unwrap_or(0);
    start + col
}

/// One open list or mapping during the scan.
struct Open {
    /// Anchor id on the collection, 0 when none.
    anchor: usize,
    /// Nodes inside it so far, aliases expanded, the collection itself included.
    nodes: usize,
}

/// Streams the YAML events once and refuses several documents, nesting deeper than
/// [`MAX_DEPTH`] and alias bombs, each located where it starts.
///
/// A syntax error ends the scan without a refusal: the parser proper reports it with its own
/// words and location.
pub fn structure(origin: &str, src: &str) -> Result<(), LoadError> {
    let mut options = serde_saphyr::granit_parser::Options::default();
    options.emit_anchor_events = true;
    // The scanner reads flow collections ahead of the events, so it must refuse deep nesting
    // itself; the event count below catches flow and block nesting mixed.
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    let refuse_at = |at: &Marker, message: String, hint: String| {
        let d = Diagnostic::at_offset(src, offset(src, at), message, Some(hint));
        Err(LoadError::one(origin, src, d))
    };
    let refuse = |span: &Span, message: String, hint: String| refuse_at(&span.start, message, hint);
    let too_deep = || {
        (
            format!("the YAML nests deeper than {MAX_DEPTH} levels here"),
            format!("runbooks nest at most {MAX_DEPTH} levels; write it out plainly"),
        )
    };

    let mut documents = 0usize;
    let mut open: Vec<Open> = Vec::new();
    // Expanded size of each anchored node, and how often each anchor was used.
    let mut size: HashMap<usize, usize> = HashMap::new();
    let mut uses: HashMap<usize, usize> = HashMap::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut aliases = 0usize;
    let mut alias_nodes = 0usize;

    for item in Parser::new_from_str_with_options(src, options) {
        let (event, span) = match item {
            Ok(ok) => ok,
            Err(e) if matches!(e.kind(), ErrorKind::RecursionLimitExceeded) => {
                let (message, hint) = too_deep();
                return refuse_at(e.marker(), message, hint);
            }
            Err(_) => return Ok(()),
        };
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return refuse(
                        &span,
                        "several YAML documents in one file".into(),
                        "a runbook file holds exactly one document: remove the `---` separators or split the file".into(),
                    );
                }
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    let (message, hint) = too_deep();
                    return refuse(&span, message, hint);
                }
                open.push(Open { anchor, nodes: 1 });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = open.pop() {
                    if done.anchor != 0 {
                        size.insert(done.anchor, done.nodes);
                    }
                    if let Some(parent) = open.last_mut() {
                        parent.nodes = parent.nodes.saturating_add(done.nodes);
                    }
                }
            }
            Event::Scalar(_, _, anchor, _) => {
                if anchor != 0 {
                    size.insert(anchor, 1);
                }
                if let Some(parent) = open.last_mut() {
                    parent.nodes = parent.nodes.saturating_add(1);
                }
            }
            Event::Anchor(id, name) => {
                names.insert(id, name.into_owned());
            }
            Event::Alias(id) => {
                aliases += 1;
                let used = uses.entry(id).or_insert(0);
                *used += 1;
                let name = names.get(&id).map(String::as_str).unwrap_or("?");
                if aliases > MAX_ALIASES {
                    return refuse(
                        &span,
                        format!("more than {MAX_ALIASES} aliases (a YAML alias bomb?)"),
                        ALIAS_HINT.into(),
                    );
                }
                if *used > MAX_USES_PER_ANCHOR {
                    return refuse(
                        &span,
                        format!(
                            "anchor `&{name}` is used more than {MAX_USES_PER_ANCHOR} times (a YAML alias bomb?)"
                        ),
                        ALIAS_HINT.into(),
                    );
                }
                // An alias to an anchor still open (a recursive alias) counts as one node.
                let adds = size.get(&id).copied().unwrap_or(1);
                alias_nodes = alias_nodes.saturating_add(adds);
                if alias_nodes > MAX_ALIAS_NODES {
                    return refuse(
                        &span,
                        format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes here (a YAML alias bomb)"
                        ),
                        ALIAS_HINT.into(),
                    );
                }
                if let Some(parent) = open.last_mut() {
                    parent.nodes = parent.nodes.saturating_add(adds);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn refusal(src: &str) -> Diagnostic {
        structure("t.yaml", src).unwrap_err().diagnostics()[0].clone()
    }

    #[test]
    fn plain_yaml_passes() {
        assert!(structure("t.yaml", "a: [1, {b: c}]\nd: &x 1\ne: *x\n").is_ok());
    }

    #[test]
    fn syntax_errors_are_left_to_the_parser() {
        assert!(structure("t.yaml", "a: [1, 2\nb: ]]").is_ok());
    }

    #[test]
    fn nesting_is_refused_at_the_first_level_too_deep() {
        let src = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
        let d = refusal(&src);
        // The scanner refuses the 65th bracket while reading ahead.
        assert_eq!((d.line, d.column), (1, 4 + MAX_DEPTH));
        assert!(d.message.contains("deeper than 64"), "{}", d.message);
        // Block nesting, and block and flow mixed.
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        assert_eq!(
            refusal(&block).line,
            65,
            "the 65th mapping starts on line 65"
        );
        let mixed = format!("{block}{}[[]]\n", "  ".repeat(100));
        assert!(refusal(&mixed).message.contains("deeper than 64"));
        // 64 brackets under the top mapping are 65 levels: refused at the 64th.
        let d = refusal(&format!("a: {}{}\n", "[".repeat(64), "]".repeat(64)));
        assert_eq!((d.line, d.column), (1, 4 + MAX_DEPTH - 1));
        // 64 levels in all (the top mapping is one) are fine.
        let ok = format!("a: {}{}\n", "[".repeat(63), "]".repeat(63));
        assert!(structure("t.yaml", &ok).is_ok());
    }

    #[test]
    fn a_second_document_is_refused_where_it_starts() {
        let d = refusal("a: 1\n---\nb: 2\n");
        assert_eq!(d.line, 2);
        assert!(d.message.contains("several YAML documents"));
    }

    #[test]
    fn billion_laughs_is_refused_by_expanded_size() {
        let mut src = String::from("l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            src.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        let d = refusal(&src);
        assert!(d.message.contains("expand to more than"), "{}", d.message);
        assert_eq!(
            d.line, 4,
            "refused on the line where the total passes the limit"
        );
    }

    #[test]
    fn one_anchor_used_too_often_is_refused_by_name() {
        let refs = vec!["*w"; 101].join(", ");
        let d = refusal(&format!("a: &w x\nb: [{refs}]\n"));
        assert!(d.message.contains("anchor `&w`"), "{}", d.message);
    }

    #[test]
    fn empty_and_comment_only_text_is_refused() {
        for src in ["", "\n\n", "# only\n---\n...\n"] {
            assert!(text("t.yaml", src).is_err(), "{src:?}");
        }
    }

    #[test]
    fn non_utf8_points_at_the_first_bad_byte() {
        let e = utf8("t.yaml", b"a: 1\nbb: \xff\n").unwrap_err();
        let d = &e.diagnostics()[0];
        assert_eq!((d.line, d.column), (2, 5));
    }
}
