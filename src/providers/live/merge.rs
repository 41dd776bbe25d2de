//! One credential per key out of every inventory source: [`MergedInventory`] runs the
//! scope's sources at once and merges their pages as they arrive.
//!
//! A key shows up in several places: one OpenAI key is a field of two Secrets Manager
//! secrets, a Braintrust org AI secret, and a row in OpenAI's own key list. Copies in storage
//! are joined by their keyed fingerprint (same value; a plain-text copy, whose issuer the
//! store cannot tell, takes the issuer of the copy it joins) or, where a store only shows a
//! redacted form, by an unambiguous hint match (`sk-…wxyz`); the issuer's own record then
//! lends the copies its key id, owner and dates. Stored copies stream to the screen as they
//! are found (their id never changes: it comes from the first copy); issuer records that
//! match no stored copy are listed at the end, not exposed.
//!
//! May depend on the incident ports and model and the runbook schema only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::incident::model::{Credential, hints_match};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

/// Runs every inventory source concurrently and merges their pages.
pub struct MergedInventory {
    sources: Vec<(String, Arc<dyn Inventory>)>,
    /// Every credential sent so far, for the usage poller.
    seen: Arc<Mutex<Vec<Credential>>>,
    /// Where each id is in `seen` (rebuilt when `seen` was changed elsewhere).
    seen_at: Mutex<HashMap<String, usize>>,
}

impl MergedInventory {
    /// `sources`: (name for messages, source).
    pub fn new(sources: Vec<(String, Arc<dyn Inventory>)>) -> MergedInventory {
        MergedInventory {
            sources,
            seen: Arc::new(Mutex::new(Vec::new())),
            seen_at: Mutex::new(HashMap::new()),
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
            // Keys an earlier listing found keep their ids: listed again (a retry, a step run
            // again, a resume), a copy whose first-found copy came second this time must not
            // become a second credential for one key.
            let known = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
            let mut merger = Merger::knowing(known);
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
        // One failed source does not hide the others' findings, and none hides another's
        // failure: every source that could not be listed is named, in one error, after every
        // page that did arrive, so the step says what the inventory is missing.
        let mut failed = Vec::new();
        for (name, r) in results {
            if let Err(e) = r {
                tracing::warn!(source = %name, error = %e, "inventory source failed");
                failed.push((name, e));
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        let words: Vec<String> = failed
            .iter()
            .map(|(name, e)| format!("{name} ({e})"))
            .collect();
        Err(ProviderError::Incomplete {
            sources: words.join("; "),
            transient: failed.iter().all(|(_, e)| e.is_retryable()),
        })
    }
}

impl MergedInventory {
    /// Keeps the latest form of each credential sent, found by id (an index, not a scan:
    /// every page would otherwise walk every key found so far).
    fn remember(&self, creds: &[Credential]) {
        let (Ok(mut seen), Ok(mut at)) = (self.seen.lock(), self.seen_at.lock()) else {
            return;
        };
        if at.len() != seen.len() {
            // `seen` was filled before the listing (keys already known): index it once.
            *at = seen
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect();
        }
        for c in creds {
            match at.get(&c.id).copied() {
                Some(i) if seen.get(i).is_some_and(|s| s.id == c.id) => seen[i] = c.clone(),
                _ => {
                    at.insert(c.id.clone(), seen.len());
                    seen.push(c.clone());
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
    /// Where to look in `stored` instead of scanning it.
    index: Index,
    /// Keys an earlier listing found (this process's, or the journal's on a resume).
    known: Vec<Credential>,
    /// Where to look in `known`.
    known_index: Index,
}

/// Candidates in `Merger::stored` by what copies are matched on. An entry may be stale
/// (a key id replaced since): every lookup checks the real condition on each candidate,
/// and every stored copy is indexed under its current values, so a lookup finds exactly
/// what a scan would, in the same order.
#[derive(Default)]
struct Index {
    by_id: HashMap<String, usize>,
    by_key_id: HashMap<String, Vec<usize>>,
    by_fingerprint: HashMap<String, Vec<usize>>,
    /// By the hint's head and the last three characters of its tail: two hints that
    /// [`hints_match`] share both.
    by_hint: HashMap<(String, String), Vec<usize>>,
}

/// The [`Index::by_hint`] key of a hint (none when its tail is too short to match).
fn hint_key(hint: &str) -> Option<(String, String)> {
    let (head, tail) = hint.split_once('…')?;
    let n = tail.chars().count();
    if n < 3 {
        return None;
    }
    Some((head.to_string(), tail.chars().skip(n - 3).collect()))
}

fn add_to(map: &mut HashMap<String, Vec<usize>>, key: &str, i: usize) {
    let v = map.entry(key.to_string()).or_default();
    if !v.contains(&i) {
        v.push(i);
    }
}

impl Index {
    /// Indexes stored copy `i` under its current values.
    fn add(&mut self, i: usize, c: &Credential) {
        self.by_id.entry(c.id.clone()).or_insert(i);
        if !c.key_id.is_empty() {
            add_to(&mut self.by_key_id, &c.key_id, i);
        }
        if let Some(fp) = &c.fingerprint {
            add_to(&mut self.by_fingerprint, fp, i);
        }
        if let Some(k) = hint_key(&c.hint) {
            let v = self.by_hint.entry(k).or_default();
            if !v.contains(&i) {
                v.push(i);
            }
        }
    }

    fn key_id(&self, key_id: &str) -> &[usize] {
        self.by_key_id.get(key_id).map_or(&[], Vec::as_slice)
    }

    fn fingerprint(&self, fp: Option<&String>) -> &[usize] {
        fp.and_then(|f| self.by_fingerprint.get(f))
            .map_or(&[], Vec::as_slice)
    }

    /// Candidates for a hint match, in the order found.
    fn hint(&self, hint: &str) -> Vec<usize> {
        let mut v = hint_key(hint)
            .and_then(|k| self.by_hint.get(&k).cloned())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }
}

impl Merger {
    /// A merger that gives a key an earlier listing found the id it had then.
    fn knowing(known: Vec<Credential>) -> Merger {
        let mut m = Merger::default();
        for (i, c) in known.iter().enumerate() {
            m.known_index.add(i, c);
        }
        m.known = known;
        m
    }

    /// The id an earlier listing gave the key the copy `c` holds: the same issuer's key id,
    /// the same value (fingerprint), else exactly one hint match, on the rules copies are
    /// merged by.
    fn known_id(&self, c: &Credential) -> Option<String> {
        let is_same = |s: &Credential| {
            let same_value = s.fingerprint.is_some() && s.fingerprint == c.fingerprint;
            (s.issuer == c.issuer && !c.key_id.is_empty() && s.key_id == c.key_id)
                || (same_value && same_issuer_or_unknown(s, c))
        };
        let exact = self
            .known_index
            .key_id(&c.key_id)
            .iter()
            .chain(self.known_index.fingerprint(c.fingerprint.as_ref()))
            .copied()
            .filter(|&i| is_same(&self.known[i]))
            .min();
        let i = exact.or_else(|| {
            let hits: Vec<usize> = self
                .known_index
                .hint(&c.hint)
                .into_iter()
                .filter(|&i| {
                    let s = &self.known[i];
                    same_issuer_or_unknown(s, c)
                        && hints_match(&s.hint, &c.hint)
                        && !(s.fingerprint.is_some()
                            && c.fingerprint.is_some()
                            && s.fingerprint != c.fingerprint)
                })
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })?;
        Some(self.known[i].id.clone())
    }

    /// Takes one page; returns the credentials that are new or changed.
    fn add(&mut self, page: Vec<Credential>) -> Vec<Credential> {
        let mut changed: Vec<String> = Vec::new();
        for c in page {
            let id = if c.locations.is_empty() {
                // An issuer's record: lend it to the stored copy it matches, else hold it.
                match self.match_record(&c) {
                    Some(i) => {
                        adopt_record(&mut self.stored[i], &c);
                        self.index.add(i, &self.stored[i]);
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
            .filter_map(|id| self.index.by_id.get(id).map(|&i| self.stored[i].clone()))
            .collect()
    }

    /// Merges a stored copy into the one holding the same key, or adds it. Returns its id.
    fn add_stored(&mut self, mut c: Credential) -> String {
        let is_same = |s: &Credential| {
            let same_value = s.fingerprint.is_some() && s.fingerprint == c.fingerprint;
            (s.issuer == c.issuer && !s.key_id.is_empty() && s.key_id == c.key_id)
                // A plain-text copy (issuer unknown) joins a key whose issuer another copy names.
                || (same_value && same_issuer_or_unknown(s, &c))
        };
        let same = self
            .index
            .key_id(&c.key_id)
            .iter()
            .chain(self.index.fingerprint(c.fingerprint.as_ref()))
            .copied()
            .filter(|&i| is_same(&self.stored[i]))
            .min();
        let same = same.or_else(|| {
            // Only a hint to go on (a store that shows a redacted value): merge only if
            // exactly one copy of this issuer matches, and not two with known, different
            // fingerprints.
            let hits: Vec<usize> = self
                .index
                .hint(&c.hint)
                .into_iter()
                .filter(|&i| {
                    let s = &self.stored[i];
                    same_issuer_or_unknown(s, &c)
                        && hints_match(&s.hint, &c.hint)
                        && !(s.fingerprint.is_some()
                            && c.fingerprint.is_some()
                            && s.fingerprint != c.fingerprint)
                })
                .collect();
            (hits.len() == 1).then(|| hits[0])
        });
        // A key an earlier listing found: the copy found first this time takes its id, and
        // a later copy the rules above did not join (a hint matching two copies now) joins
        // it still.
        let known = self.known_id(&c);
        let same = same.or_else(|| {
            let id = known.as_ref()?;
            let i = *self.index.by_id.get(id)?;
            (self.stored[i].id == *id).then_some(i)
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
                self.index.add(i, &self.stored[i]);
                id
            }
            None => {
                if let Some(id) = known {
                    c.id = id;
                }
                if c.key_id.is_empty() {
                    // Unknown at the issuer so far: the hint's visible tail is the word the
                    // operator will type, and what they search for in the console.
                    c.key_id = c.hint.clone();
                }
                self.stored.push(c);
                let i = self.stored.len() - 1;
                self.index.add(i, &self.stored[i]);
                if let Some(j) = self.held_match(i) {
                    let rec = self.held.remove(j);
                    adopt_record(&mut self.stored[i], &rec);
                    self.index.add(i, &self.stored[i]);
                }
                self.stored[i].id.clone()
            }
        }
    }

    /// The stored copy an issuer record belongs to: the same key id, else one unambiguous
    /// hint match among copies not yet tied to a record.
    fn match_record(&self, rec: &Credential) -> Option<usize> {
        if let Some(i) = self
            .index
            .key_id(&rec.key_id)
            .iter()
            .copied()
            .filter(|&i| {
                let s = &self.stored[i];
                s.issuer == rec.issuer && s.key_id == rec.key_id
            })
            .min()
        {
            return Some(i);
        }
        let hits: Vec<usize> = self
            .index
            .hint(&rec.hint)
            .into_iter()
            .filter(|&i| {
                let s = &self.stored[i];
                s.issuer == rec.issuer
                    && !s.meta.contains_key(RECORD)
                    && hints_match(&s.hint, &rec.hint)
            })
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
                    self.index.add(i, &self.stored[i]);
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
                account: None,
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
        // Listed again, in any order, the key keeps the id the first listing gave it (the
        // id of the copy found first then), and two keys stay two.
        let other = "sk-test-bbbbbbbbbbbbQRST";
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [0, 3, 1, 2], [2, 0, 3, 1]] {
            let mut first = Merger::default();
            first.add(vec![copies()[2].clone()]);
            first.add(vec![copies()[0].clone(), copies()[1].clone()]);
            first.add(vec![stored(
                "openai/o",
                Issuer::Openai,
                other,
                "prod/o",
                "f2",
            )]);
            assert_eq!(first.stored.len(), 2);
            let again_copies = {
                let mut c = copies().to_vec();
                c.push(stored(
                    "generic/o",
                    Issuer::Generic,
                    other,
                    "legacy/o",
                    "f2",
                ));
                c
            };
            let mut m = Merger::knowing(first.stored.clone());
            let mut ids = Vec::new();
            for i in order {
                ids.extend(
                    m.add(vec![again_copies[i].clone()])
                        .into_iter()
                        .map(|c| c.id),
                );
            }
            ids.sort();
            ids.dedup();
            assert_eq!(
                ids,
                ["openai/a", "openai/o"],
                "order {order:?}: {:#?}",
                m.stored
            );
            assert_eq!(m.stored.len(), 2, "order {order:?}");
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
