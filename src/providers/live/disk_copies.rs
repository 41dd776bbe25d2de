//! `scope.disk`: copies of the keys found on disk join their keys in the Inventory.
//! [`WithDiskCopies`] passes the other sources' pages on as they come, then searches the
//! runbook's paths (and, when asked, git history) for the keys it read values of, by keyed
//! fingerprint (`providers::disk`, as `breachbook scan` does), and sends each key again with
//! the copies found as locations breachbook never rewrites (`LocationKind::by_hand`). No
//! value or line is kept: a copy is its file and line, or its commit, path and line.
//!
//! May depend on the incident ports and model, the runbook schema and `providers::disk`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::incident::model::{Credential, Location, LocationKind};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult};
use crate::providers::disk::{self, Finding, Fingerprinter, Needle, Needles, WalkOptions, git};
use crate::runbook::schema::{DiskScope, ExposureWindow, Scope};

const DISK: &str = "disk";

/// An inventory whose keys also carry the copies `scope.disk` finds of them.
pub struct WithDiskCopies {
    inner: Arc<dyn Inventory>,
    disk: DiskScope,
    fingerprint_key: Vec<u8>,
}

impl WithDiskCopies {
    /// `fingerprint_key`: the incident's, which the other sources took fingerprints with.
    pub fn new(inner: Arc<dyn Inventory>, disk: DiskScope, fingerprint_key: &[u8]) -> Self {
        WithDiskCopies {
            inner,
            disk,
            fingerprint_key: fingerprint_key.to_vec(),
        }
    }
}

/// The location of a copy found.
fn location(f: &Finding) -> Location {
    let at = format!("{}:{}", f.place.path.display(), f.place.line);
    let (kind, name) = match (&f.place.commit, &f.place.repository) {
        (Some(c), repo) => {
            let short = &c[..c.len().min(12)];
            let name = match repo {
                Some(r) => format!("{}@{short} {at}", r.display()),
                None => format!("{short} {at}"),
            };
            (LocationKind::GitHistory, name)
        }
        (None, _) => (LocationKind::File, at),
    };
    Location {
        kind,
        name,
        field: None,
        region: None,
        account: None,
        changed: None,
    }
}

/// Searches `paths` (and their repositories' history) for `needles`: the copies found.
fn search(disk: &DiskScope, needles: &Needles) -> ProviderResult<Vec<Finding>> {
    let paths: Vec<PathBuf> = disk
        .paths
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    for p in &paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(ProviderError::Validation {
                provider: DISK.into(),
                message: format!(
                    "{} does not exist (scope.disk.paths are read from the folder breachbook runs in): fix the path, then run the step again",
                    p.display()
                ),
            });
        }
    }
    let (mut found, walk) = disk::scan_paths(
        &paths,
        &WalkOptions {
            no_ignore: disk.no_ignore,
            threads: 0,
        },
        needles,
    );
    tracing::info!(
        files = walk.files_read,
        bytes = walk.bytes_read,
        found = found.len(),
        "searched the disk for copies"
    );
    if disk.git_history {
        let mut repos: Vec<PathBuf> = Vec::new();
        for p in &paths {
            let repo = git::repository_of(p).map_err(|e| ProviderError::Validation {
                provider: DISK.into(),
                message: format!(
                    "{e}: set `git_history: false`, or name paths inside a repository"
                ),
            })?;
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
        for repo in repos {
            let (hits, _) =
                git::scan_history(&repo, needles).map_err(|e| ProviderError::Validation {
                    provider: DISK.into(),
                    message: format!("reading the history of {}: {e}", repo.display()),
                })?;
            found.extend(hits);
        }
    }
    Ok(found)
}

#[async_trait]
impl Inventory for WithDiskCopies {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        // The latest form of every key sent, by id: a key is sent again with its copies.
        let mut latest: HashMap<String, Credential> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        super::relay(self.inner.as_ref(), scope, exposure, &pages, |page| {
            for c in page.iter() {
                if !latest.contains_key(&c.id) {
                    order.push(c.id.clone());
                }
                latest.insert(c.id.clone(), c.clone());
            }
        })
        .await?;
        let keys: Vec<(Needle, String)> = order
            .iter()
            .filter_map(|id| latest.get(id))
            .filter_map(|c| {
                let fp = c.fingerprint.clone()?;
                Some((
                    Needle {
                        credential: c.id.clone(),
                        name: c.name.clone(),
                        hint: c.hint.clone(),
                    },
                    fp,
                ))
            })
            .collect();
        if keys.is_empty() {
            tracing::info!("no key's value was read: nothing to search the disk for");
            return Ok(());
        }
        let fp = Fingerprinter::new(&self.fingerprint_key, b"").ok_or_else(|| {
            ProviderError::Validation {
                provider: DISK.into(),
                message: "the incident's fingerprint key cannot be used".into(),
            }
        })?;
        let disk = self.disk.clone();
        let found = tokio::task::spawn_blocking(move || {
            let (needles, _) = Needles::new(fp, keys);
            search(&disk, &needles)
        })
        .await
        .map_err(|e| ProviderError::Validation {
            provider: DISK.into(),
            message: format!("the disk search stopped: {e}"),
        })??;
        let mut changed: Vec<String> = Vec::new();
        for f in &found {
            let Some(c) = latest.get_mut(&f.credential) else {
                continue;
            };
            let loc = location(f);
            if !c.locations.iter().any(|l| l.key() == loc.key()) {
                c.locations.push(loc);
                if !changed.contains(&c.id) {
                    changed.push(c.id.clone());
                }
            }
        }
        let page: Vec<Credential> = changed
            .iter()
            .filter_map(|id| latest.get(id).cloned())
            .collect();
        if !page.is_empty() {
            let _ = pages.send(page);
        }
        Ok(())
    }
}
