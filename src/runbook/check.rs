//! `breachbook check`: validate runbook files, one summary line per valid file, every
//! diagnostic for invalid ones, and warnings (a region the AWS SDK does not know) for both;
//! exit 0 when all are valid (warnings or not), 2 otherwise.

use std::path::PathBuf;

use serde_json::json;

use super::load;
use super::schema::Runbook;

/// Number of inventory sources a runbook's scope names.
pub fn source_count(rb: &Runbook) -> usize {
    let s = &rb.scope;
    [
        s.secrets_manager.is_some(),
        s.iam.is_some(),
        s.openai.is_some(),
        s.anthropic.is_some(),
        s.gemini.is_some(),
        s.braintrust.is_some(),
        s.vault.is_some(),
        s.ssm.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count()
}

/// One warning, for a person: `warn  FILE:LINE:COL: message (hint)`.
pub fn warning_line(origin: &str, w: &super::diagnostic::Diagnostic) -> String {
    let hint = w
        .hint
        .as_deref()
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    format!(
        "warn  {origin}:{}:{}: {}{hint}",
        w.line, w.column, w.message
    )
}

/// Checks every file; prints results to stdout; returns the exit code.
pub fn run(paths: &[PathBuf], json: bool) -> i32 {
    let mut all_ok = true;
    let mut docs = Vec::new();
    for p in paths {
        let origin = p.display().to_string();
        match load::load_file(p) {
            Ok((rb, src)) => {
                let (steps, sources, drill) =
                    (rb.steps.len(), source_count(&rb), rb.drill.is_some());
                let warnings = super::validate::region_warnings(&src, &rb);
                if json {
                    docs.push(json!({"file": origin, "ok": true, "name": rb.name, "steps": steps, "sources": sources, "drill": drill, "diagnostics": [], "warnings": warnings}));
                } else {
                    println!(
                        "ok    {origin} — {steps} steps, {sources} source{}, drill: {}",
                        if sources == 1 { "" } else { "s" },
                        if drill { "yes" } else { "no" }
                    );
                    for w in &warnings {
                        println!("{}", warning_line(&origin, w));
                    }
                }
            }
            Err(e) => {
                all_ok = false;
                if json {
                    docs.push(json!({"file": origin, "ok": false, "diagnostics": e.diagnostics()}));
                } else {
                    println!("FAIL  {origin} — {} problem(s)", e.diagnostics().len());
                    print!("{e}");
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&docs).unwrap_or_default()
        );
    }
    if all_ok { 0 } else { 2 }
}
