//! Signed server lists on the server's side (behaviour.md, "Signed lists"): the cluster's key
//! files, `scout-server keygen`, and the signer that `Listing` uses.
//!
//! A key file holds the key pair's PKCS#8 v2 document (as `ring` generates it) in standard
//! base64 on one line; every server of a cluster reads the same file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use data_encoding::BASE64;
use scoutlb::{PublicKey, ServerList, Signable, SigningKey};

/// How long a signed list is taken by devices after it was signed, unless told otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Signs the lists this server serves.
#[derive(Debug)]
pub struct ListSigner {
    keys: Vec<SigningKey>,
    next_keys: Vec<PublicKey>,
    lifetime: Duration,
}

impl ListSigner {
    /// A signer with the keys of `files` (each signs), naming `next_keys` for a rotation.
    pub fn load(files: &[impl AsRef<Path>], next_keys: Vec<PublicKey>, lifetime: Duration) -> Result<Self, String> {
        let keys = files.iter().map(|f| read_key(f.as_ref())).collect::<Result<_, _>>()?;
        Ok(ListSigner {
            keys,
            next_keys,
            lifetime,
        })
    }

    /// How long a signed list stays valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The whole answer for `list` at `version`, signed at `now`.
    pub fn answer(&self, list: &ServerList, version: u64, now: SystemTime) -> serde_json::Value {
        let keys: Vec<&SigningKey> = self.keys.iter().collect();
        Signable {
            list,
            version,
            expires: now + self.lifetime,
            next_keys: &self.next_keys,
        }
        .answer(&keys)
    }
}

/// The key pair of the key file `path`.
pub fn read_key(path: &Path) -> Result<SigningKey, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("list key {}: cannot read it: {e}", path.display()))?;
    let der = BASE64.decode(text.trim().as_bytes()).map_err(|e| {
        format!(
            "list key {}: not a key file of `scout-server keygen` (base64 of a PKCS#8 key): {e}",
            path.display()
        )
    })?;
    SigningKey::from_pkcs8(&der).map_err(|e| format!("list key {}: {e}", path.display()))
}

/// Write a new key pair to `path` (mode 0600, never over an existing file); its public key.
pub fn keygen(path: &Path) -> Result<PublicKey, String> {
    let rng = ring::rand::SystemRandom::new();
    let der =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| format!("cannot generate a key: {e}"))?;
    let key = SigningKey::from_pkcs8(der.as_ref())?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: cannot create it: {e}", path.display()))?;
    writeln!(file, "{}", BASE64.encode(der.as_ref()))
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
    Ok(key.public_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoutlb::{Server, Trust};

    #[test]
    fn a_generated_key_signs_lists_that_its_public_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.key");
        let public = keygen(&path).unwrap();
        assert!(keygen(&path).unwrap_err().contains("cannot create"), "never over a key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let signer = ListSigner::load(&[&path], Vec::new(), DEFAULT_LIFETIME).unwrap();
        let list = ServerList::from_servers([Server::new("10.0.0.1", 22123).unwrap()]).unwrap();
        let now = SystemTime::now();
        let body = signer.answer(&list, 3, now).to_string();
        let got = ServerList::from_json(body.as_bytes()).unwrap();
        let trust = Trust {
            keys: vec![public],
            min_version: 3,
            now,
        };
        let verified = trust.check(&got).unwrap();
        assert_eq!(verified.servers(), list.servers());
        assert_eq!(verified.proof().unwrap().version, 3);
        let later = Trust {
            now: now + DEFAULT_LIFETIME + Duration::from_secs(1),
            ..trust
        };
        assert!(later.check(&got).unwrap_err().0.contains("expired"));
    }

    #[test]
    fn a_bad_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.key");
        assert!(read_key(&path).unwrap_err().contains("cannot read"));
        fs::write(&path, "not base64!").unwrap();
        assert!(read_key(&path).unwrap_err().contains("not a key file"));
        fs::write(&path, BASE64.encode(b"short")).unwrap();
        assert!(read_key(&path).unwrap_err().contains("PKCS#8"));
    }
}
