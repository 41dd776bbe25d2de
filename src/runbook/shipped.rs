//! The runbooks shipped in runbooks/, compiled into the binary so drills work from any
//! folder, and how a runbook argument (a path or a built-in name) is found.
//!
//! Depends on `load` (to read files with the same limits) and `diagnostic`.

use std::path::Path;

use super::diagnostic::{Diagnostic, LoadError};
use super::load;

const SHIPPED: &[(&str, &str)] = &[
    (
        "ai-provider-keys-vendor-breach.yaml",
        include_str!("../../runbooks/ai-provider-keys-vendor-breach.yaml"),
    ),
    (
        "aws-iam-access-key-leak.yaml",
        include_str!("../../runbooks/aws-iam-access-key-leak.yaml"),
    ),
    (
        "onboarding-walkthrough.yaml",
        include_str!("../../runbooks/onboarding-walkthrough.yaml"),
    ),
];

/// The default runbook of `breachbook drill`.
pub const DEFAULT: &str = "ai-provider-keys-vendor-breach.yaml";

/// Every shipped runbook: (file name, source).
pub fn all() -> &'static [(&'static str, &'static str)] {
    SHIPPED
}

/// A shipped runbook (file name, source) by name, with or without `.yaml` / `.yml`.
pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
    let base = name.trim_end_matches(".yaml").trim_end_matches(".yml");
    SHIPPED
        .iter()
        .find(|(file, _)| file.trim_end_matches(".yaml") == base)
        .copied()
}

/// Finds a runbook: a path that exists, or a shipped name with or without `.yaml`
/// (None = the default). Returns (origin, source); the caller loads it.
pub fn resolve(arg: Option<&str>) -> Result<(String, String), LoadError> {
    let name = arg.unwrap_or(DEFAULT);
    let path = Path::new(name);
    if path.exists() {
        return Ok((name.to_string(), load::read_source(path)?));
    }
    // `runbooks/x.yaml` from another folder still finds the built-in copy.
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    if let Some((file, src)) = get(base) {
        return Ok((format!("runbooks/{file} (built in)"), src.to_string()));
    }
    let names: Vec<&str> = SHIPPED
        .iter()
        .map(|(f, _)| f.trim_end_matches(".yaml"))
        .collect();
    Err(LoadError::one(
        name,
        "",
        Diagnostic {
            // Not a place in a file: the name is neither a file nor a built-in runbook.
            line: 0,
            column: 0,
            offset: 0,
            message: format!("no runbook file `{name}` and no built-in runbook of that name"),
            hint: Some(format!(
                "give a path to a runbook file, or one of the built-in runbooks: {}",
                names.join(", ")
            )),
        },
    ))
}
