//! The Vault policy (HCL) a runbook's `vault` scope needs: `breachbook vault-policy`.
//!
//! Capabilities as Vault's and OpenBao's KV v2 documentation names them
//! (openbao/openbao `website/content/api-docs/secret/kv/kv-v2.mdx`): `list` on
//! `metadata/` folders, `read` on `metadata/` (versions, `custom_metadata`) and `data/`
//! (values), `update` on `data/` (a new version of a secret that exists), `patch` on
//! `metadata/` (breachbook's record in `custom_metadata`). `create` is not asked for:
//! breachbook writes only secrets that exist; `delete` and `destroy` neither: it never
//! removes a version.

use crate::runbook::schema::Runbook;

/// The policy, or `None` when the runbook's scope has no `vault`.
pub fn vault_policy_hcl(rb: &Runbook) -> Option<String> {
    let vs = rb.scope.vault.as_ref()?;
    let mount = vs.mount.trim_matches('/');
    let prefixes: Vec<&str> = if vs.path_prefixes.is_empty() {
        vec![""]
    } else {
        vs.path_prefixes.iter().map(String::as_str).collect()
    };
    let mut out = format!(
        "# Vault policy for breachbook runbook `{}` (KV version 2 at `{mount}/`).\n\
         # Write it with: vault policy write breachbook-{} <this file>\n",
        rb.name, rb.name
    );
    for p in prefixes {
        let start = p.rfind('/').map_or("", |i| p.get(..=i).unwrap_or(""));
        out.push_str(&format!(
            "\n# Secrets under `{p}`: listed, read, staged as new versions (check-and-set),\n\
             # with breachbook's record in their custom_metadata.\n"
        ));
        if start != p {
            // The folder the prefix is in is listed, to find the names that start with it.
            out.push_str(&format!(
                "path \"{mount}/metadata/{start}\" {{\n  capabilities = [\"list\"]\n}}\n"
            ));
        }
        out.push_str(&format!(
            "path \"{mount}/metadata/{p}*\" {{\n  capabilities = [\"list\", \"read\", \"patch\"]\n}}\n\
             path \"{mount}/data/{p}*\" {{\n  capabilities = [\"read\", \"update\"]\n}}\n"
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::schema::VaultScope;

    fn runbook(prefixes: &[&str]) -> Runbook {
        let (_, src) = crate::runbook::shipped::get(crate::runbook::shipped::DEFAULT)
            .unwrap_or_else(|| std::process::exit(1));
        let mut rb =
            crate::runbook::load::load_str("t", src).unwrap_or_else(|_| std::process::exit(1));
        rb.scope.vault = Some(VaultScope {
            path_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            ..VaultScope::default()
        });
        rb
    }

    #[test]
    fn each_prefix_gets_its_folders_and_values() {
        let hcl = vault_policy_hcl(&runbook(&["prod/ai/", "legacy/openai"])).unwrap_or_default();
        assert!(hcl.contains("path \"secret/metadata/prod/ai/*\""), "{hcl}");
        assert!(hcl.contains("path \"secret/data/prod/ai/*\""), "{hcl}");
        assert!(
            hcl.contains("path \"secret/metadata/legacy/\" {\n  capabilities = [\"list\"]"),
            "{hcl}"
        );
        assert!(hcl.contains("path \"secret/data/legacy/openai*\""), "{hcl}");
        assert!(!hcl.contains("create") && !hcl.contains("delete"), "{hcl}");
    }

    #[test]
    fn no_vault_scope_no_policy() {
        let mut rb = runbook(&[]);
        rb.scope.vault = None;
        assert!(vault_policy_hcl(&rb).is_none());
    }
}
