//! The keys that sign server lists, and what a verified list proves (behaviour.md, "Signed
//! lists"): the types both the list and its checks (`signed_list`) name.

use std::fmt;
use std::time::SystemTime;

use data_encoding::BASE64;
use ring::signature;

/// An Ed25519 public key that may sign server lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The key from standard base64 of its 32 bytes, as configured in `list_keys`.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = BASE64
            .decode(text.trim().as_bytes())
            .map_err(|e| format!("`{}` is not base64: {e}", crate::printable(&short(text))))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("an Ed25519 public key has 32 bytes, not {}", b.len()))?;
        Ok(PublicKey(bytes))
    }

    /// The key as standard base64, the form of `list_keys`.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.0)
    }

    /// The first 8 bytes of the key's SHA-256, in hex: how messages name a key.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, sig)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.fingerprint())
    }
}

/// What a verified list says beyond its servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The list's version; a device never takes an older one.
    pub version: u64,
    /// When the list stops being taken.
    pub expires: SystemTime,
    /// Keys the cluster will sign with next.
    pub next_keys: Vec<PublicKey>,
    /// The trusted keys whose signatures verified.
    pub signers: Vec<PublicKey>,
}

/// At most 60 characters of `text`, for messages.
pub(crate) fn short(text: &str) -> String {
    text.chars().take(60).collect()
}
