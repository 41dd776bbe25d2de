//! The drill world's audit log: who made each key and what persistence, recorded as
//! CloudTrail (or an AI provider's audit log) would, and read back like them.

use async_trait::async_trait;
use std::sync::Arc;

use super::SimWorld;
use crate::incident::model::Credential;
use crate::incident::ports::{CreatorFindings, CreatorLog, ProviderResult};
use crate::incident::provenance::Provenance;
use crate::runbook::schema::{ExposureWindow, FaultTarget};

/// The simulated audit logs.
pub(crate) struct SimCreators {
    pub(crate) world: Arc<SimWorld>,
}

#[async_trait]
impl CreatorLog for SimCreators {
    async fn look_up(
        &self,
        window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings> {
        // One audit-log read's latency and faults, as the IAM API's.
        self.world.call(FaultTarget::Iam).await?;
        let w = self.world.lock();
        let creators = created
            .iter()
            .map(|c| {
                let p = match w.creators.get(&c.id) {
                    Some(creator) => Provenance::Creator {
                        creator: creator.clone(),
                    },
                    None => Provenance::Unknown {
                        why: format!(
                            "the simulated audit log has no record of who created {}",
                            c.hint
                        ),
                    },
                };
                (c.id.clone(), p)
            })
            .collect();
        let persistence = w
            .persistence
            .iter()
            .filter(|f| f.creator.at.is_none_or(|t| t >= window.start))
            .cloned()
            .collect();
        Ok(CreatorFindings {
            creators,
            persistence,
        })
    }
}
