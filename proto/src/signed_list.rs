//! Signed, versioned server lists (behaviour.md, "Signed lists"): the wire form, signing, and
//! the checks a device makes before it takes one (verify, not expired, not older).
//!
//! Ed25519 through `ring`; the bytes signed are DSSE's pre-authentication encoding of the payload
//! bytes as sent, so no canonical JSON is needed. Everything here is computation: the clock and
//! the saved version are passed in.

use std::fmt;
use std::time::SystemTime;

use data_encoding::BASE64;
use ring::signature::{self, KeyPair as _};
use serde_json::{Map, Value, json};

use crate::list_key::short;
pub use crate::list_key::{Proof, PublicKey};
use crate::server_list::{ListError, MAX_BODY_BYTES, ServerList, parse_list_object};

/// The DSSE payload type of a signed server list.
pub const PAYLOAD_TYPE: &str = "application/vnd.scoutlb.server-list+json";

/// Most signatures read from one list (a rotation needs two).
pub const MAX_SIGNATURES: usize = 16;

/// Most keys a list may name in `next_keys`.
pub const MAX_NEXT_KEYS: usize = 16;

/// What a device checks a list against: its trusted keys, the version of its saved list, and the
/// time of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// Configured and adopted keys.
    pub keys: Vec<PublicKey>,
    /// The saved list's version (0 when none was verified).
    pub min_version: u64,
    /// The device's clock at the start of the call.
    pub now: SystemTime,
}

impl Trust {
    /// Check `list` as received (behaviour.md, "Signed lists", steps 1-3); the list of its
    /// payload, with its [`Proof`], when it passes.
    pub fn check(&self, list: &ServerList) -> Result<ServerList, ListError> {
        let bad = |m: String| ListError(m);
        let signed = list
            .signed()
            .ok_or_else(|| bad("it is not signed (no `signed` field), and list_keys is set".into()))?;
        let (payload, signers) = self.verify(signed)?;
        let payload: Value =
            serde_json::from_slice(&payload).map_err(|e| bad(format!("the signed payload is not valid JSON: {e}")))?;
        let obj = payload
            .as_object()
            .ok_or_else(|| bad("the signed payload is not a JSON object".into()))?;
        let version = obj
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("the signed payload has no `version` (a non-negative integer)".into()))?;
        let expires = obj
            .get("expires")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the signed payload has no `expires` (RFC 3339)".into()))?;
        let expires = humantime::parse_rfc3339(expires).map_err(|e| {
            bad(format!(
                "`expires` {} is not an RFC 3339 time in UTC: {e}",
                crate::printable(&short(expires))
            ))
        })?;
        let next_keys = keys_of(obj.get("next_keys")).map_err(|m| bad(format!("`next_keys`: {m}")))?;
        let mut verified = parse_list_object(obj)?;
        if expires < self.now {
            return Err(bad(format!(
                "it expired at {}; the device's clock says {}",
                humantime::format_rfc3339_seconds(expires),
                humantime::format_rfc3339_seconds(self.now)
            )));
        }
        not_older(version, self.min_version)?;
        verified.set_proof(Proof {
            version,
            expires,
            next_keys,
            signers,
        });
        Ok(verified.with_relocate_of(list))
    }

    /// Step 1 alone: the payload bytes of an answer's `signed` field and the trusted keys whose
    /// signatures verified, or why it is refused.
    pub fn verify(&self, signed: &Value) -> Result<(Vec<u8>, Vec<PublicKey>), ListError> {
        let bad = |m: String| ListError(m);
        let envelope = Envelope::from_json(signed).map_err(bad)?;
        let message = pae(&envelope.payload);
        let mut signers = Vec::new();
        let mut unknown = None;
        for (key, sig) in &envelope.signatures {
            if !self.keys.contains(key) {
                unknown.get_or_insert(*key);
            } else if key.verifies(&message, sig) {
                if !signers.contains(key) {
                    signers.push(*key);
                }
            } else {
                return Err(bad(format!(
                    "the signature by {key} does not verify: the list was changed or forged"
                )));
            }
        }
        if signers.is_empty() {
            return Err(bad(match unknown {
                Some(key) => format!("signed by an unknown {key}, not by a trusted key"),
                None => "it carries no signature".into(),
            }));
        }
        Ok((envelope.payload, signers))
    }
}

/// Step 3: a list of `version` is refused when the saved list's version is higher.
pub(crate) fn not_older(version: u64, saved: u64) -> Result<(), ListError> {
    if version < saved {
        return Err(ListError(format!(
            "version {version} is older than the saved list's version {saved}: an old or replayed list"
        )));
    }
    Ok(())
}

/// What a connect reports when the list `from` sent was refused (`Connected::list_problem`).
pub(crate) fn list_problem(from: &crate::server::Server, refused: &ListError) -> String {
    format!("server list from {from} refused: {}", refused.0)
}

/// The `signed` field: the payload bytes and their signatures.
struct Envelope {
    payload: Vec<u8>,
    signatures: Vec<(PublicKey, Vec<u8>)>,
}

impl Envelope {
    fn from_json(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("`signed` is not an object")?;
        let payload = obj
            .get("payload")
            .and_then(Value::as_str)
            .ok_or("`signed.payload` is missing or not a string")?;
        if payload.len() > MAX_BODY_BYTES {
            return Err(format!("`signed.payload` is larger than {MAX_BODY_BYTES} bytes"));
        }
        let payload = BASE64
            .decode(payload.as_bytes())
            .map_err(|e| format!("`signed.payload` is not base64: {e}"))?;
        let sigs = obj
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or("`signed.signatures` is missing or not an array")?;
        if sigs.len() > MAX_SIGNATURES {
            return Err(format!(
                "{} signatures, more than the limit of {MAX_SIGNATURES}",
                sigs.len()
            ));
        }
        let signatures = sigs
            .iter()
            .enumerate()
            .map(|(i, s)| signature_of(s).map_err(|m| format!("signature {i}: {m}")))
            .collect::<Result<_, _>>()?;
        Ok(Envelope { payload, signatures })
    }
}

fn signature_of(v: &Value) -> Result<(PublicKey, Vec<u8>), String> {
    let obj = v.as_object().ok_or("not an object")?;
    let key = obj
        .get("key")
        .and_then(Value::as_str)
        .ok_or("`key` is missing or not a string")?;
    let key = PublicKey::from_base64(key).map_err(|m| format!("`key`: {m}"))?;
    let sig = obj
        .get("sig")
        .and_then(Value::as_str)
        .ok_or("`sig` is missing or not a string")?;
    let sig = BASE64
        .decode(sig.as_bytes())
        .map_err(|e| format!("`sig` is not base64: {e}"))?;
    if sig.len() != 64 {
        return Err(format!("an Ed25519 signature has 64 bytes, not {}", sig.len()));
    }
    Ok((key, sig))
}

fn keys_of(v: Option<&Value>) -> Result<Vec<PublicKey>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let arr = v.as_array().ok_or("not an array")?;
    if arr.len() > MAX_NEXT_KEYS {
        return Err(format!("{} keys, more than the limit of {MAX_NEXT_KEYS}", arr.len()));
    }
    arr.iter()
        .enumerate()
        .map(|(i, k)| {
            k.as_str()
                .ok_or_else(|| format!("key {i} is not a string"))
                .and_then(|k| PublicKey::from_base64(k).map_err(|m| format!("key {i}: {m}")))
        })
        .collect()
}

/// DSSE's pre-authentication encoding of `payload`: the bytes a signature covers.
fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {PAYLOAD_TYPE} {} ", PAYLOAD_TYPE.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A key pair that signs server lists (the cluster's side).
pub struct SigningKey(signature::Ed25519KeyPair);

impl SigningKey {
    /// The key pair from its PKCS#8 v2 document (as `ring` generates it).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        signature::Ed25519KeyPair::from_pkcs8(der)
            .map(SigningKey)
            .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))
    }

    /// The key pair of a 32-byte seed (for fixed test keys).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(signature::Ed25519KeyPair::from_seed_unchecked(seed).expect("any 32 bytes are an Ed25519 seed"))
    }

    /// The public key devices trust.
    pub fn public_key(&self) -> PublicKey {
        let bytes: [u8; 32] = self
            .0
            .public_key()
            .as_ref()
            .try_into()
            .expect("an Ed25519 public key has 32 bytes");
        PublicKey::from_bytes(bytes)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public_key().fingerprint())
    }
}

/// What a cluster signs: its list, version, expiry and next keys.
#[derive(Clone, Debug)]
pub struct Signable<'a> {
    /// The list, with the sending server's `self`.
    pub list: &'a ServerList,
    /// The version (the membership generation).
    pub version: u64,
    /// When devices stop taking it.
    pub expires: SystemTime,
    /// Keys to adopt for a rotation.
    pub next_keys: &'a [PublicKey],
}

impl Signable<'_> {
    /// The payload bytes of behaviour.md, "Signed lists".
    pub fn payload(&self) -> Vec<u8> {
        let mut obj = match self.list.to_json() {
            Value::Object(obj) => obj,
            _ => Map::new(),
        };
        obj.remove("generation");
        obj.remove("signed");
        obj.insert("version".into(), self.version.into());
        obj.insert(
            "expires".into(),
            humantime::format_rfc3339_seconds(self.expires).to_string().into(),
        );
        if !self.next_keys.is_empty() {
            obj.insert(
                "next_keys".into(),
                self.next_keys
                    .iter()
                    .map(PublicKey::to_base64)
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        serde_json::to_vec(&Value::Object(obj)).expect("a JSON value serialises")
    }

    /// The whole answer of `GET /scout/v1/servers`: the plain fields and `signed`, signed by `keys`.
    pub fn answer(&self, keys: &[&SigningKey]) -> Value {
        let payload = self.payload();
        let mut answer = self.list.to_json();
        if let Value::Object(obj) = &mut answer {
            obj.insert("generation".into(), self.version.into());
            obj.insert("signed".into(), envelope(&payload, keys));
        }
        answer
    }
}

/// The `signed` field for `payload` signed by `keys`.
pub fn envelope(payload: &[u8], keys: &[&SigningKey]) -> Value {
    let message = pae(payload);
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": k.public_key().to_base64(), "sig": BASE64.encode(k.0.sign(&message).as_ref())}))
        .collect();
    json!({"payload": BASE64.encode(payload), "signatures": signatures})
}

/// The keys to keep adopted after taking a list with `proof`: its signers and next keys that are
/// not configured (behaviour.md, "Signed lists", key rotation).
pub fn adopted_after(proof: &Proof, configured: &[PublicKey]) -> Vec<PublicKey> {
    let mut keys: Vec<PublicKey> = proof
        .signers
        .iter()
        .chain(&proof.next_keys)
        .filter(|k| !configured.contains(k))
        .copied()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
