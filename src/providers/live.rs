//! The live provider set: the real systems behind the engine's traits, put together for one
//! runbook — an inventory that runs every source of the scope at once and merges what they
//! find into one credential per key, and a usage poller that feeds the Usage panel.
//!
//! Merging. A key shows up in several places: one OpenAI key is a field of two Secrets
//! Manager secrets, a Braintrust org AI secret, and a row in OpenAI's own key list. Copies
//! in storage are joined by their keyed fingerprint (same value; a plain-text copy, whose
//! issuer the store cannot tell, takes the issuer of the copy it joins) or, where a store only
//! shows a redacted form, by an unambiguous hint match (`sk-…wxyz`); the issuer's own
//! record then lends the copies its key id, owner and dates. Stored copies stream to the
//! screen as they are found (their id never changes: it comes from the first copy); issuer
//! records that match no stored copy are listed at the end, not exposed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::incident::event::Event;
use crate::incident::model::{Credential, KeyGeneration, hints_match};
use crate::incident::ports::{Inventory, KeyIssuer, ProviderResult, WorldFeed};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

/// Runs every inventory source concurrently and merges their pages.
pub struct MergedInventory {
    sources: Vec<(String, Arc<dyn Inventory>)>,
    /// Every credential sent so far, for the usage poller.
    seen: Arc<Mutex<Vec<Credential>>>,
}

impl MergedInventory {
    /// `sources`: (name for messages, source).
    pub fn new(sources: Vec<(String, Arc<dyn Inventory>)>) -> MergedInventory {
        MergedInventory {
            sources,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The credentials found so far (shared with the usage poller).
    pub fn seen(&self) -> Arc<Mutex<Vec<Credential>>> {
        self.seen.clone()
    }
}

#[async_trait]
impl Inventory for MergedInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Credential>>();
        let mut runs = Vec::new();
        for (name, source) in &self.sources {
            let source = source.clone();
            let tx = tx.clone();
            let scope = scope.clone();
            let exposure = exposure.clone();
            let name = name.clone();
            runs.push(async move { (name, source.discover(&scope, &exposure, tx).await) });
        }
        drop(tx);
        let merging = async {
            let mut merger = Merger::default();
            while let Some(page) = rx.recv().await {
                let out = merger.add(page);
                if !out.is_empty() {
                    self.remember(&out);
                    let _ = pages.send(out);
                }
            }
            let rest = merger.finish();
            if !rest.is_empty() {
                self.remember(&rest);
                let _ = pages.send(rest);
            }
        };
        let (results, ()) = tokio::join!(futures::future::join_all(runs), merging);
        // One failed source does not hide the others' findings; the first error is reported
        // (after every page that did arrive) so the step shows what could not be listed.
        let mut failed = Vec::new();
        for (name, r) in results {
            if let Err(e) = r {
                failed.push((name, e));
            }
        }
        match failed.into_iter().next() {
            None => Ok(()),
            Some((name, e)) => {
                tracing::warn!(source = %name, error = %e, "inventory source failed");
                Err(e)
            }
        }
    }
}

impl MergedInventory {
    fn remember(&self, creds: &[Credential]) {
        if let Ok(mut seen) = self.seen.lock() {
            for c in creds {
                match seen.iter_mut().find(|s| s.id == c.id) {
                    Some(s) => *s = c.clone(),
                    None => seen.push(c.clone()),
                }
            }
        }
    }
}

/// The merge state of one inventory run.
#[derive(Default)]
struct Merger {
    /// Stored copies (one or more locations), merged, in order found.
    stored: Vec<Credential>,
    /// Issuer records that matched no stored copy yet.
    held: Vec<Credential>,
}

impl Merger {
    /// Takes one page; returns the credentials that are new or changed.
    fn add(&mut self, page: Vec<Credential>) -> Vec<Credential> {
        let mut changed: Vec<String> = Vec::new();
        for c in page {
            let id = if c.locations.is_empty() {
                // An issuer's record: lend it to the stored copy it matches, else hold it.
                match self.match_record(&c) {
                    Some(i) => {
                        adopt_record(&mut self.stored[i], &c);
                        Some(self.stored[i].id.clone())
                    }
                    None => {
                        self.held.push(c);
                        None
                    }
                }
            } else {
                Some(self.add_stored(c))
            };
            if let Some(id) = id
                && !changed.contains(&id)
            {
                changed.push(id);
            }
        }
        changed
            .iter()
            .filter_map(|id| self.stored.iter().find(|c| &c.id == id).cloned())
            .collect()
    }

    /// Merges a stored copy into the one holding the same key, or adds it. Returns its id.
    fn add_stored(&mut self, mut c: Credential) -> String {
        let same = self.stored.iter().position(|s| {
            let same_value = s.fingerprint.is_some() && s.fingerprint == c.fingerprint;
            (s.issuer == c.issuer && !s.key_id.is_empty() && s.key_id == c.key_id)
                // A plain-text copy (issuer unknown) joins a key whose issuer another copy names.
                || (same_value && same_issuer_or_unknown(s, &c))
        });
        let same = same.or_else(|| {
            // Only a hint to go on (a store that shows a redacted value): merge only if
            // exactly one copy of this issuer matches, and not two with known, different
            // fingerprints.
            let hits: Vec<usize> = self
                .stored
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    same_issuer_or_unknown(s, &c)
                        && hints_match(&s.hint, &c.hint)
                        && !(s.fingerprint.is_some()
                            && c.fingerprint.is_some()
                            && s.fingerprint != c.fingerprint)
                })
                .map(|(i, _)| i)
                .collect();
            (hits.len() == 1).then(|| hits[0])
        });
        match same {
            Some(i) => {
                let s = &mut self.stored[i];
                if s.issuer == Issuer::Generic && c.issuer != Issuer::Generic {
                    // The same value, now known to be this issuer's key (the id stays).
                    s.issuer = c.issuer;
                }
                for l in c.locations.drain(..) {
                    if !s.locations.contains(&l) {
                        s.locations.push(l);
                    }
                }
                merge_exposure(s, &c);
                if s.fingerprint.is_none() {
                    s.fingerprint = c.fingerprint.take();
                }
                if s.key_id.is_empty() {
                    s.key_id = c.key_id.clone();
                }
                for (k, v) in c.meta {
                    s.meta.entry(k).or_insert(v);
                }
                let id = s.id.clone();
                // A held issuer record may match now that the hint is known.
                if let Some(j) = self.held_match(i) {
                    let rec = self.held.remove(j);
                    adopt_record(&mut self.stored[i], &rec);
                }
                id
            }
            None => {
                if c.key_id.is_empty() {
                    // Unknown at the issuer so far: the hint's visible tail is the word the
                    // operator will type, and what they search for in the console.
                    c.key_id = c.hint.clone();
                }
                self.stored.push(c);
                let i = self.stored.len() - 1;
                if let Some(j) = self.held_match(i) {
                    let rec = self.held.remove(j);
                    adopt_record(&mut self.stored[i], &rec);
                }
                self.stored[i].id.clone()
            }
        }
    }

    /// The stored copy an issuer record belongs to: the same key id, else one unambiguous
    /// hint match among copies not yet tied to a record.
    fn match_record(&self, rec: &Credential) -> Option<usize> {
        if let Some(i) = self
            .stored
            .iter()
            .position(|s| s.issuer == rec.issuer && s.key_id == rec.key_id)
        {
            return Some(i);
        }
        let hits: Vec<usize> = self
            .stored
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.issuer == rec.issuer
                    && !s.meta.contains_key(RECORD)
                    && hints_match(&s.hint, &rec.hint)
            })
            .map(|(i, _)| i)
            .collect();
        (hits.len() == 1).then(|| hits[0])
    }

    /// The held issuer record that belongs to stored copy `i`, if exactly one does.
    fn held_match(&self, i: usize) -> Option<usize> {
        let s = &self.stored[i];
        if s.meta.contains_key(RECORD) {
            return None;
        }
        let hits: Vec<usize> = self
            .held
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.issuer == s.issuer && (r.key_id == s.key_id || hints_match(&s.hint, &r.hint))
            })
            .map(|(j, _)| j)
            .collect();
        (hits.len() == 1).then(|| hits[0])
    }

    /// What is left at the end: issuer records that match no stored copy, as they are.
    fn finish(&mut self) -> Vec<Credential> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        for rec in held {
            match self.match_record(&rec) {
                Some(i) => {
                    adopt_record(&mut self.stored[i], &rec);
                    out.push(self.stored[i].clone());
                }
                None => out.push(rec),
            }
        }
        out
    }
}

/// Whether two copies may hold the same key as far as their issuers tell: the same issuer,
/// or one of them a value read whose issuer is unknown (a plain-text secret says nothing
/// about whose key it holds). A copy only shown redacted and typed as another vendor's (a
/// Braintrust secret of type `mistral`) is not unknown.
fn same_issuer_or_unknown(a: &Credential, b: &Credential) -> bool {
    let unknown = |x: &Credential| x.issuer == Issuer::Generic && x.fingerprint.is_some();
    a.issuer == b.issuer || unknown(a) || unknown(b)
}

/// Marks a stored copy tied to its issuer's record (meta key).
const RECORD: &str = "issuer_record";

/// A stored copy takes over what the issuer knows about the key: its id, owner, dates.
fn adopt_record(s: &mut Credential, rec: &Credential) {
    s.key_id = rec.key_id.clone();
    if s.created.is_none() {
        s.created = rec.created;
    }
    if rec.last_used.is_some() {
        s.last_used = rec.last_used;
    }
    for (k, v) in &rec.meta {
        s.meta.insert(k.clone(), v.clone());
    }
    s.meta.insert(RECORD.into(), rec.id.clone());
    if !rec.name.is_empty() && rec.name != rec.key_id {
        s.meta.insert("issuer_name".into(), rec.name.clone());
    }
}

/// Exposed if any copy is; the reasons of every copy, once each.
fn merge_exposure(s: &mut Credential, c: &Credential) {
    s.exposed |= c.exposed;
    if !c.exposure_reason.is_empty() && !s.exposure_reason.contains(&c.exposure_reason) {
        if s.exposure_reason.is_empty() {
            s.exposure_reason = c.exposure_reason.clone();
        } else {
            s.exposure_reason = format!("{}; {}", s.exposure_reason, c.exposure_reason);
        }
    }
}

/// Polls the issuers' usage data for every key found and reports new calls as
/// `UsageObserved` events (deltas: the state adds them up).
pub struct UsagePoller {
    pub issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>,
    /// Credentials to watch (the inventory adds to it as it finds keys).
    pub credentials: Arc<Mutex<Vec<Credential>>>,
    /// Their new keys, watched too once minted.
    pub new_keys: NewKeys,
    /// Time between polls.
    pub every: Duration,
    /// How far back the first poll looks.
    pub lookback: chrono::Duration,
}

impl UsagePoller {
    /// Starts polling; the feed ends when the receiver is dropped.
    pub fn spawn(self) -> WorldFeed {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut seen: BTreeMap<(String, KeyGeneration, DateTime<Utc>), (u32, u32)> =
                BTreeMap::new();
            let mut since: HashMap<(String, KeyGeneration), DateTime<Utc>> = HashMap::new();
            // Each issuer whose usage data cannot be read is said once per run, not every poll.
            let mut failing: HashSet<Issuer> = HashSet::new();
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() {
                    return;
                }
                let creds: Vec<Credential> = self
                    .credentials
                    .lock()
                    .map(|c| c.clone())
                    .unwrap_or_default();
                let new_keys = self.new_keys.lock().map(|m| m.clone()).unwrap_or_default();
                for cred in creds.iter().filter(|c| c.exposed) {
                    let Some(issuer) = self.issuers.get(&cred.issuer) else {
                        continue;
                    };
                    let mut watch = vec![(KeyGeneration::Old, None)];
                    if let Some(id) = new_keys.get(&cred.id) {
                        watch.push((KeyGeneration::New, Some(id.as_str())));
                    }
                    for (generation, new_id) in watch {
                        let at = (cred.id.clone(), generation);
                        let from = *since
                            .entry(at.clone())
                            .or_insert_with(|| Utc::now() - self.lookback);
                        let samples = match issuer.usage(cred, generation, new_id, from).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::debug!(credential = %cred.id, error = %e, "usage poll failed");
                                if failing.insert(cred.issuer) {
                                    let text = format!(
                                        "usage of {} keys cannot be read ({e}): the Usage panel shows none of their calls, which is not the same as none made",
                                        cred.issuer.label()
                                    );
                                    if tx.send(Event::Note { text }).is_err() {
                                        return;
                                    }
                                }
                                continue;
                            }
                        };
                        let mut newest = from;
                        for mut s in samples {
                            s.credential = cred.id.clone();
                            s.generation = generation;
                            newest = newest.max(s.minute);
                            let key = (cred.id.clone(), s.generation, s.minute);
                            let before = seen.get(&key).copied().unwrap_or((0, 0));
                            let ok = s.ok.saturating_sub(before.0);
                            let denied = s.denied.saturating_sub(before.1);
                            if ok == 0 && denied == 0 {
                                continue;
                            }
                            seen.insert(key, (before.0.max(s.ok), before.1.max(s.denied)));
                            s.ok = ok;
                            s.denied = denied;
                            if tx.send(Event::UsageObserved { sample: s }).is_err() {
                                return;
                            }
                        }
                        // Look again at the newest minute next time: it may still be filling.
                        since.insert(at, newest);
                    }
                }
            }
        });
        rx
    }
}

/// Whether every endpoint this scope calls is on this machine (emulators, test servers).
/// `Err` names the first one that is not.
pub fn only_local_endpoints(scope: &Scope, aws: &crate::cli::AwsArgs) -> Result<(), String> {
    let uses_aws = scope.secrets_manager.is_some() || scope.iam.is_some();
    if uses_aws {
        match aws.endpoint_url.as_deref() {
            Some(u) if is_local(u) => {}
            Some(u) => return Err(format!("AWS goes to {u}")),
            None => return Err("AWS goes to the real AWS (no --endpoint-url)".into()),
        }
    }
    let ep = super::http::Endpoints::from_env();
    let http = [
        (scope.openai.is_some(), "OpenAI", &ep.openai),
        (scope.anthropic.is_some(), "Anthropic", &ep.anthropic),
        (scope.gemini.is_some(), "Gemini", &ep.gemini),
        (scope.braintrust.is_some(), "Braintrust", &ep.braintrust),
    ];
    for (used, name, url) in http {
        if used && !is_local(url) {
            return Err(format!("{name} goes to {url}"));
        }
    }
    Ok(())
}

fn is_local(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]" || h == "::1")
}

/// The header of `breachbook inventory`'s table.
pub fn table_header() -> String {
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} LOCATIONS",
        "STATUS", "ISSUER", "NAME", "HINT", "KEY ID", "LAST USED"
    )
}

/// One row of `breachbook inventory`'s table (no secret: ids, hints, places).
pub fn table_row(c: &Credential) -> String {
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() <= n {
            s.to_string()
        } else {
            let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
            t.push('…');
            t
        }
    };
    let locations: Vec<String> = c.locations.iter().map(|l| l.label()).collect();
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} {}",
        if c.exposed { "EXPOSED" } else { "ok" },
        c.issuer.label(),
        cut(&c.name, 28),
        cut(&c.hint, 12),
        cut(&c.key_id, 22),
        c.last_used
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never/unknown".into()),
        if locations.is_empty() {
            "(issuer only)".to_string()
        } else {
            locations.join(", ")
        }
    )
}

/// The live provider set of one runbook, its usage feed, and who we are at AWS.
pub struct LiveSet {
    pub providers: crate::incident::ports::ProviderSet,
    pub feed: WorldFeed,
    /// Credential id → the id of its new key, for usage polling. Filled as keys are minted;
    /// a resumed incident adds the ones its journal knows.
    pub new_keys: NewKeys,
}

/// Credential id → the id of its new key.
pub type NewKeys = Arc<Mutex<HashMap<String, String>>>;

/// An issuer that notes the id of every key it mints, so the usage poller can watch the
/// new keys too. Everything else goes straight through.
struct Watched {
    inner: Arc<dyn KeyIssuer>,
    new_keys: NewKeys,
}

#[async_trait::async_trait]
impl KeyIssuer for Watched {
    async fn issue(
        &self,
        old: &Credential,
        token: &str,
    ) -> ProviderResult<crate::incident::ports::NewKey> {
        let key = self.inner.issue(old, token).await?;
        if let Ok(mut m) = self.new_keys.lock() {
            m.insert(old.id.clone(), key.key_id.clone());
        }
        Ok(key)
    }
    async fn verify(
        &self,
        cred: &Credential,
        key: &secrecy::SecretString,
    ) -> ProviderResult<crate::incident::ports::Liveness> {
        self.inner.verify(cred, key).await
    }
    async fn old_key_liveness(
        &self,
        old: &Credential,
    ) -> ProviderResult<crate::incident::ports::Liveness> {
        self.inner.old_key_liveness(old).await
    }
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.revoke(old).await
    }
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.delete(old).await
    }
    async fn make_room(&self, old: &Credential, key_id: &str) -> ProviderResult<()> {
        self.inner.make_room(old, key_id).await
    }
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<crate::incident::model::UsageSample>> {
        self.inner.usage(cred, generation, new_key_id, since).await
    }
}

/// Connects to everything the runbook's scope names. `known`: credentials found before
/// (a resumed incident), watched for usage from the start.
pub async fn connect(
    rb: &crate::runbook::schema::Runbook,
    aws_args: &crate::cli::AwsArgs,
    incident: &str,
    known: Vec<Credential>,
) -> anyhow::Result<LiveSet> {
    use super::aws::{Aws, AwsOptions};
    use super::http::HttpConfig;
    use crate::incident::model::LocationKind;

    let scope = &rb.scope;
    let fp_key = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"breachbook fingerprint\0");
        h.update(incident.as_bytes());
        h.finalize().to_vec()
    };
    let mut sources: Vec<(String, Arc<dyn Inventory>)> = Vec::new();
    let mut issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = HashMap::new();
    let mut stores: HashMap<LocationKind, Arc<dyn crate::incident::ports::SecretStore>> =
        HashMap::new();
    let mut identity = None;

    let uses_aws = scope.secrets_manager.is_some() || scope.iam.is_some();
    if uses_aws {
        let regions: Vec<String> = scope
            .secrets_manager
            .as_ref()
            .map(|s| s.regions.clone())
            .unwrap_or_default();
        let opts = AwsOptions {
            profile: aws_args.profile.clone(),
            region: aws_args.region.clone(),
            endpoint_url: aws_args.endpoint_url.clone(),
            static_credentials: None,
        };
        let aws = Aws::load(&opts, &regions).await.map_err(|e| {
            anyhow::anyhow!("{e} — set up AWS access (AWS_PROFILE / --profile, SSO login, or environment keys) and try again")
        })?;
        // Who we are, before anything else: shown in the header, on every journal record.
        let arn = aws.identity().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot tell who you are at AWS: {e}. Log in (e.g. `aws sso login`) or pass --profile, then try again"
            )
        })?;
        identity = Some(arn);
        if scope.secrets_manager.is_some() {
            sources.push((
                "Secrets Manager".into(),
                Arc::new(super::aws::secrets::SecretsManagerInventory::new(
                    &aws, &fp_key,
                )),
            ));
        }
        if scope.iam.is_some() {
            sources.push((
                "IAM".into(),
                Arc::new(super::aws::iam::IamInventory::new(&aws)),
            ));
            issuers.insert(
                Issuer::AwsIam,
                Arc::new(super::aws::iam::IamIssuer::new(&aws)),
            );
        }
        stores.insert(
            LocationKind::SecretsManager,
            Arc::new(super::aws::secrets::SecretsManagerStore::new(&aws)),
        );
    }

    let http = HttpConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    if scope.openai.is_some() || mapped(scope, Issuer::Openai) {
        if scope.openai.is_some() {
            sources.push((
                "OpenAI".into(),
                Arc::new(super::openai::OpenAiInventory::from_config(&http)),
            ));
        }
        issuers.insert(
            Issuer::Openai,
            Arc::new(super::openai::OpenAiIssuer::from_config(&http)),
        );
    }
    if scope.anthropic.is_some() || mapped(scope, Issuer::Anthropic) {
        if scope.anthropic.is_some() {
            sources.push((
                "Anthropic".into(),
                Arc::new(super::anthropic::AnthropicInventory::from_config(&http)),
            ));
        }
        issuers.insert(
            Issuer::Anthropic,
            Arc::new(super::anthropic::AnthropicIssuer::from_config(&http)),
        );
    }
    if scope.gemini.is_some() || mapped(scope, Issuer::Gemini) {
        issuers.insert(
            Issuer::Gemini,
            Arc::new(super::gemini::GeminiIssuer::from_config(&http)),
        );
    }
    if let Some(bt) = &scope.braintrust {
        sources.push((
            "Braintrust".into(),
            Arc::new(super::braintrust::BraintrustInventory::from_config(&http)),
        ));
        stores.insert(
            LocationKind::Braintrust,
            Arc::new(super::braintrust::BraintrustStore::from_config(
                &http,
                bt.organization.clone(),
            )),
        );
    }

    let new_keys: NewKeys = Arc::default();
    let issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = issuers
        .into_iter()
        .map(|(k, inner)| {
            let watched: Arc<dyn KeyIssuer> = Arc::new(Watched {
                inner,
                new_keys: new_keys.clone(),
            });
            (k, watched)
        })
        .collect();
    let merged = MergedInventory::new(sources);
    let seen = merged.seen();
    if let Ok(mut s) = seen.lock() {
        s.extend(known);
    }
    let every = std::env::var("BREACHBOOK_USAGE_POLL_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60));
    let feed = UsagePoller {
        issuers: issuers.clone(),
        credentials: seen,
        new_keys: new_keys.clone(),
        every,
        lookback: chrono::Duration::minutes(60),
    }
    .spawn();
    let providers = crate::incident::ports::ProviderSet {
        inventory: Arc::new(merged),
        issuers,
        stores,
        clock: Arc::new(crate::incident::ports::WallClock),
        identity,
        drill: None,
    };
    Ok(LiveSet {
        providers,
        feed,
        new_keys,
    })
}

/// Whether the Secrets Manager scope maps a field to this issuer's keys.
fn mapped(scope: &Scope, issuer: Issuer) -> bool {
    scope
        .secrets_manager
        .as_ref()
        .is_some_and(|s| s.fields.iter().any(|f| f.issuer == issuer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::{Location, LocationKind, mask};

    fn stored(id: &str, issuer: Issuer, value: &str, secret: &str, fp: &str) -> Credential {
        Credential {
            id: id.into(),
            issuer,
            key_id: String::new(),
            name: secret.into(),
            hint: mask(value),
            created: None,
            last_used: None,
            locations: vec![Location {
                kind: LocationKind::SecretsManager,
                name: secret.into(),
                field: Some("OPENAI_API_KEY".into()),
                region: Some("us-east-1".into()),
                changed: None,
            }],
            exposed: true,
            exposure_reason: format!("readable in {secret}"),
            fingerprint: Some(fp.into()),
            meta: Default::default(),
        }
    }

    fn record(key_id: &str, redacted: &str) -> Credential {
        Credential {
            id: format!("openai/{key_id}"),
            issuer: Issuer::Openai,
            key_id: key_id.into(),
            name: "prod".into(),
            hint: crate::incident::model::hint_from_redacted(redacted),
            created: None,
            last_used: None,
            locations: Vec::new(),
            exposed: false,
            exposure_reason: "listed at OpenAI".into(),
            fingerprint: None,
            meta: [("project_id".to_string(), "proj_1".to_string())].into(),
        }
    }

    #[test]
    fn copies_merge_by_fingerprint_and_records_lend_their_id() {
        let mut m = Merger::default();
        let v = "sk-test-aaaaaaaaaaaaWXYZ";
        let out = m.add(vec![stored("openai/a", Issuer::Openai, v, "prod/a", "f1")]);
        assert_eq!(out.len(), 1);
        // The record arrives before the second copy: it is lent at once (one hint match).
        let out = m.add(vec![record("key_1", "sk-abc****WXYZ")]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key_id, "key_1");
        assert_eq!(out[0].confirmation_word(), "ey_1");
        let out = m.add(vec![stored(
            "openai/b",
            Issuer::Openai,
            v,
            "legacy/b",
            "f1",
        )]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "openai/a");
        assert_eq!(out[0].locations.len(), 2);
        assert_eq!(
            out[0].meta.get("project_id").map(String::as_str),
            Some("proj_1")
        );
        assert!(m.finish().is_empty());
    }

    #[test]
    fn a_plain_text_copy_joins_the_key_whose_issuer_another_copy_names() {
        let v = "sk-test-legacy0000000WXYZ";
        for generic_first in [true, false] {
            let mut m = Merger::default();
            let generic = stored("generic/legacy/b", Issuer::Generic, v, "legacy/b", "f1");
            let openai = stored("openai/a", Issuer::Openai, v, "prod/a", "f1");
            let (first, second) = if generic_first {
                (generic, openai)
            } else {
                (openai, generic)
            };
            m.add(vec![first.clone()]);
            m.add(vec![record("key_1", "sk-abc****WXYZ")]);
            let out = m.add(vec![second]);
            assert_eq!(out.len(), 1, "generic first: {generic_first}");
            assert_eq!(out[0].id, first.id, "the first copy's id stays");
            assert_eq!(out[0].issuer, Issuer::Openai);
            assert_eq!(out[0].locations.len(), 2);
            assert_eq!(out[0].key_id, "key_1", "the issuer's record is adopted");
            assert!(m.finish().is_empty());
        }
        // Whatever the order, a redacted copy (hint only), the plain-text copy and a
        // mapped copy of one value end up as one key of the issuer.
        let braintrust = || {
            let mut b = stored("braintrust/K", Issuer::Openai, v, "K", "");
            b.fingerprint = None;
            b.locations[0].kind = LocationKind::Braintrust;
            b.locations[0].field = None;
            b
        };
        let copies = || {
            [
                braintrust(),
                stored("generic/legacy/b", Issuer::Generic, v, "legacy/b", "f1"),
                stored("openai/a", Issuer::Openai, v, "prod/a", "f1"),
            ]
        };
        for order in [
            [0, 1, 2],
            [1, 0, 2],
            [1, 2, 0],
            [0, 2, 1],
            [2, 1, 0],
            [2, 0, 1],
        ] {
            let mut m = Merger::default();
            let all = copies();
            for i in order {
                m.add(vec![all[i].clone()]);
            }
            assert_eq!(m.stored.len(), 1, "order {order:?}: {:#?}", m.stored);
            assert_eq!(m.stored[0].issuer, Issuer::Openai, "order {order:?}");
            assert_eq!(m.stored[0].locations.len(), 3, "order {order:?}");
        }
        // A redacted copy typed as another vendor's does not join on its hint alone.
        let mut m = Merger::default();
        m.add(vec![stored("openai/a", Issuer::Openai, v, "prod/a", "f1")]);
        let mut mistral = braintrust();
        mistral.id = "braintrust/MISTRAL".into();
        mistral.issuer = Issuer::Generic;
        m.add(vec![mistral]);
        assert_eq!(m.stored.len(), 2);
        // A plain-text copy of another value stays a generic key of its own.
        let mut m = Merger::default();
        m.add(vec![stored(
            "openai/a",
            Issuer::Openai,
            "sk-test-aaaaaaaaaaaaWXYZ",
            "a",
            "f1",
        )]);
        let out = m.add(vec![stored(
            "generic/b",
            Issuer::Generic,
            "sk-test-bbbbbbbbbbbbQQQQ",
            "b",
            "f2",
        )]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].id.as_str(), out[0].issuer),
            ("generic/b", Issuer::Generic)
        );
    }

    #[test]
    fn unmatched_records_come_last_and_ambiguous_hints_do_not_merge() {
        let mut m = Merger::default();
        // Two different keys with the same tail: a record cannot tell them apart.
        m.add(vec![
            stored(
                "openai/a",
                Issuer::Openai,
                "sk-test-1111111111WXYZ",
                "a",
                "f1",
            ),
            stored(
                "openai/b",
                Issuer::Openai,
                "sk-test-2222222222WXYZ",
                "b",
                "f2",
            ),
        ]);
        assert!(m.add(vec![record("key_1", "sk-abc****WXYZ")]).is_empty());
        assert!(m.add(vec![record("key_2", "sk-abc****QQQQ")]).is_empty());
        let rest = m.finish();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|c| !c.exposed && c.locations.is_empty()));
        // Keys not known at the issuer keep their hint as the id to type.
        assert!(m.stored.iter().all(|s| s.key_id == s.hint));
    }
}
