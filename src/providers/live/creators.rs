//! The live incident's audit logs, one per issuer that keeps one: each key created during
//! the window goes to its issuer's log; an issuer without one answers why.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::incident::model::Credential;
use crate::incident::ports::{CreatorFindings, CreatorLog, ProviderResult};
use crate::incident::provenance::Provenance;
use crate::runbook::schema::{ExposureWindow, Issuer};

/// Every configured issuer's audit log.
#[derive(Default, Clone)]
pub struct IssuerLogs {
    logs: HashMap<Issuer, Arc<dyn CreatorLog>>,
}

impl IssuerLogs {
    pub fn insert(&mut self, issuer: Issuer, log: Arc<dyn CreatorLog>) {
        self.logs.insert(issuer, log);
    }
}

/// Why nothing tells who made `c`, its issuer reading no log here.
fn no_log(c: &Credential) -> String {
    match c.issuer {
        Issuer::AwsIam => "CloudTrail is not read in this incident (no IAM scope)".into(),
        Issuer::Openai => "OpenAI's organization audit log is not read in this incident".into(),
        Issuer::Anthropic => {
            "Anthropic's Admin API is not read in this incident (no anthropic scope)".into()
        }
        // BT `ApiKey`: `user_id`/`user_email` are the key's user; nothing says who made it,
        // and the API publishes no audit log.
        Issuer::Braintrust => format!(
            "creator unknown — Braintrust records no creator (its API names a key's user{}, not who made it, and publishes no audit log)",
            c.meta
                .get("owner")
                .map(|o| format!(", here {o}"))
                .unwrap_or_default()
        ),
        // The API Keys API's `Key` has no creator; Cloud Audit Logs record one, and
        // breachbook does not read them.
        Issuer::Gemini => "creator unknown — Google's API Keys API records no creator (Cloud Audit Logs do: check `CreateKey` in the project's Admin Activity log)".into(),
        other => format!("creator unknown — {} records no creator", other.label()),
    }
}

#[async_trait]
impl CreatorLog for IssuerLogs {
    async fn look_up(
        &self,
        window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings> {
        let mut out = CreatorFindings::default();
        let mut issuers: Vec<Issuer> = self.logs.keys().copied().collect();
        issuers.sort_by_key(|i| i.label());
        for issuer in issuers {
            let Some(log) = self.logs.get(&issuer) else {
                continue;
            };
            let mine: Vec<Credential> = created
                .iter()
                .filter(|c| c.issuer == issuer)
                .cloned()
                .collect();
            match log.look_up(window, &mine).await {
                Ok(found) => {
                    out.creators.extend(found.creators);
                    out.persistence.extend(found.persistence);
                }
                Err(e) => out.creators.extend(mine.iter().map(|c| {
                    (
                        c.id.clone(),
                        Provenance::Unknown {
                            why: format!("{}'s audit log could not be read: {e}", issuer.label()),
                        },
                    )
                })),
            }
        }
        for c in created {
            if !out.creators.iter().any(|(id, _)| *id == c.id) {
                out.creators
                    .push((c.id.clone(), Provenance::Unknown { why: no_log(c) }));
            }
        }
        Ok(out)
    }
}
