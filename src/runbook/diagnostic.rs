//! Located problems in a runbook file, rendered with miette (file, line, column, the source
//! line with a caret, and a hint that says how to fix it).

use std::fmt;
use std::io::IsTerminal;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Byte offset into the source, for the caret.
    #[serde(skip)]
    pub offset: usize,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at a byte offset of `src` (line and column computed).
    pub fn at_offset(
        src: &str,
        offset: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        Lines::new(src).diagnostic(offset, message, hint)
    }
}

/// Where each line of a text starts: turns many byte offsets into lines and columns without
/// rescanning the text for each one.
pub struct Lines<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(src: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { src, starts }
    }

    /// A diagnostic at a byte offset (clamped into the text, onto a character boundary).
    pub fn diagnostic(
        &self,
        offset: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        let mut off = offset.min(self.src.len());
        while off > 0 && !self.src.is_char_boundary(off) {
            off -= 1;
        }
        let index = self.starts.partition_point(|s| *s <= off).saturating_sub(1);
        let line_start = self.starts.get(index).copied().unwrap_or(0);
        let column = self
            .src
            .get(line_start..off)
            .map(|t| t.chars().count())
            .unwrap_or(0)
            + 1;
        Diagnostic {
            line: index + 1,
            column,
            offset: off,
            message: message.into(),
            hint,
        }
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file's name as the user gave it.
    pub origin: String,
    /// The source text (possibly lossy for non-UTF-8 input; empty for oversized files).
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub(crate) fn one(origin: &str, source: &str, d: Diagnostic) -> LoadError {
        LoadError {
            origin: origin.to_string(),
            source: source.to_string(),
            diagnostics: vec![d],
        }
    }
}

/// The source text under the file's name, borrowed: rendering many diagnostics of a large
/// file copies nothing.
struct Named<'s> {
    name: &'s str,
    text: &'s str,
}

impl SourceCode for Named<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// One diagnostic as miette sees it.
struct Report<'a> {
    d: &'a Diagnostic,
    src: Named<'a>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.d, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.d
            .hint
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        // The caret covers one character.
        let len = self
            .src
            .text
            .get(self.d.offset..)
            .and_then(|rest| rest.chars().next())
            .map(char::len_utf8)
            .unwrap_or(0);
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".into()),
            self.d.offset,
            len,
        ))))
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Colour only for a person at a terminal: piped or redirected output stays plain,
        // so it is the same bytes every time.
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        for d in &self.diagnostics {
            if d.line == 0 {
                // Not a place in a file (a runbook name that is not one): no location.
                writeln!(f, "error: {}", d.message)?;
                if let Some(h) = &d.hint {
                    writeln!(f, "  help: {h}")?;
                }
                continue;
            }
            writeln!(
                f,
                "{}:{}:{}: error: {}",
                self.origin, d.line, d.column, d.message
            )?;
            let has_source = !self.source.is_empty() && self.source.is_char_boundary(d.offset);
            let mut out = String::new();
            let rendered = has_source
                && handler
                    .render_report(
                        &mut out,
                        &Report {
                            d,
                            src: Named {
                                name: &self.origin,
                                text: &self.source,
                            },
                        },
                    )
                    .is_ok();
            if rendered {
                // The message is on the line above already: the snippet starts at its frame.
                let snippet = out
                    .find("╭─")
                    .and_then(|i| out[..i].rfind('\n').map(|n| &out[n + 1..]));
                f.write_str(snippet.unwrap_or(&out))?;
            } else if let Some(h) = &d.hint {
                writeln!(f, "  help: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Edit distance, for "did you mean".
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
