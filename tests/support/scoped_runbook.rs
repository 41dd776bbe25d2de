//! The shipped vendor-breach runbook with another `scope:` in place of its own, for tests
//! of one store: the exposure window moved after the seeding (every key is exposed), its
//! kubectl command an echo, no drill section.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Writes the runbook with `scope` (a whole `scope:` block, YAML) into `dir`.
pub fn with_scope(dir: &Path, scope: &str) -> PathBuf {
    let src = std::fs::read_to_string("runbooks/ai-provider-keys-vendor-breach.yaml").unwrap();
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = (false, false, false);
    for line in src.lines() {
        if line.starts_with("scope:") {
            out.push_str(scope.trim_end());
            out.push_str("\n\n");
            skipping = true;
            replaced.0 = true;
            continue;
        }
        if line.starts_with("drill:") {
            break;
        }
        if skipping && !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
            skipping = false;
        }
        if skipping {
            continue;
        }
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
            replaced.1 = true;
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: echo restarted\n"));
            replaced.2 = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        replaced,
        (true, true, true),
        "the runbook changed shape: fix with_scope"
    );
    let path = dir.join("scoped-vendor-breach.yaml");
    std::fs::write(&path, out).unwrap();
    path
}
