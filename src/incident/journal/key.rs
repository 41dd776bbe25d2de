//! The incident's fingerprint key: the HMAC key that correlates copies of one secret value
//! across stores (`model::fingerprint`) without keeping the value.
//!
//! It is 32 random bytes made when the incident opens, kept in the incident folder as
//! `fingerprint.key` (64 hex characters, 0600, through `fsutil` like every state file): a
//! resume needs the same key to match what it finds again to what it found before. Whoever
//! reads this file can test a guessed value against a fingerprint in the journal, so it is
//! as private as the folder; a shared incident will have to share it too (SECURITY.md).
//!
//! Incidents opened before the key file existed have none: their key is derived from the
//! incident id, as it was then ([`FingerprintKey::legacy`]). An id is not secret, so such a
//! key is not either; they keep working as they did.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use super::JournalError;
use crate::fsutil;

/// The key file's name inside the incident folder.
pub const KEY_FILE: &str = "fingerprint.key";

const KEY_BYTES: usize = 32;

/// An incident's fingerprint key (wiped from memory when dropped).
pub struct FingerprintKey {
    bytes: Zeroizing<Vec<u8>>,
    legacy: bool,
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintKey")
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

impl FingerprintKey {
    /// A new random key, from the operating system's random source.
    pub fn random() -> Result<FingerprintKey, JournalError> {
        let mut bytes = Zeroizing::new(vec![0u8; KEY_BYTES]);
        getrandom::getrandom(&mut bytes).map_err(|e| JournalError::Io {
            path: KEY_FILE.into(),
            source: std::io::Error::other(format!(
                "the operating system gave no random bytes for the fingerprint key: {e}"
            )),
        })?;
        Ok(FingerprintKey {
            bytes,
            legacy: false,
        })
    }

    /// The key of an incident opened before key files existed: SHA-256 of
    /// `"breachbook fingerprint\0"` and the incident id. Public, since the id is.
    pub fn legacy(incident: &str) -> FingerprintKey {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"breachbook fingerprint\0");
        h.update(incident.as_bytes());
        FingerprintKey {
            bytes: Zeroizing::new(h.finalize().to_vec()),
            legacy: true,
        }
    }

    /// Writes the key into the incident folder `dir` (a new 0600 file; never over one).
    pub fn write(&self, dir: &Path) -> Result<(), JournalError> {
        let path = dir.join(KEY_FILE);
        let mut f = fsutil::create_new(&path)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(&*self.bytes)));
        if let Err(source) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
            // A part of a key is no key (a full disk): nothing is left that a resume would
            // read as this incident's key. The journal holds no record yet to need it.
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(JournalError::Io {
                path: path.clone(),
                source,
            });
        }
        fsutil::sync_dir(dir);
        Ok(())
    }

    /// The key of the incident in `dir`: its key file, or (none there) the legacy key of
    /// `incident`.
    pub fn load(dir: &Path, incident: &str) -> Result<FingerprintKey, JournalError> {
        let path = dir.join(KEY_FILE);
        let text = match fsutil::read_state_file(&path, 1024) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.is_not_found() => return Ok(FingerprintKey::legacy(incident)),
            Err(e) => return Err(e.into()),
        };
        let corrupt = || JournalError::Corrupt {
            path: path.clone(),
            line: 1,
            why: "a fingerprint key is 64 hex characters".into(),
        };
        let hex_text = std::str::from_utf8(&text).map_err(|_| corrupt())?.trim();
        let bytes = Zeroizing::new(hex::decode(hex_text).map_err(|_| corrupt())?);
        if bytes.len() != KEY_BYTES {
            return Err(corrupt());
        }
        Ok(FingerprintKey {
            bytes,
            legacy: false,
        })
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether this is the legacy key derived from the incident id.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_random_private_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let a = FingerprintKey::random().unwrap();
        let b = FingerprintKey::random().unwrap();
        assert_ne!(a.bytes(), b.bytes());
        a.write(tmp.path()).unwrap();
        let mode = std::fs::metadata(tmp.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = FingerprintKey::load(tmp.path(), "inc").unwrap();
        assert_eq!(back.bytes(), a.bytes());
        assert!(!back.is_legacy());
        assert!(b.write(tmp.path()).is_err(), "never over an existing key");
    }

    #[test]
    fn an_incident_without_a_key_file_keeps_its_old_key() {
        let tmp = tempfile::tempdir().unwrap();
        let k = FingerprintKey::load(tmp.path(), "inc-1").unwrap();
        assert!(k.is_legacy());
        assert_eq!(k.bytes(), FingerprintKey::legacy("inc-1").bytes());
        assert_ne!(k.bytes(), FingerprintKey::legacy("inc-2").bytes());
    }
}
