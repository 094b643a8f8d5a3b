//! Why a TLS connection failed, as a kind to act on and the TLS library's words.

use std::fmt;

/// The kind of a TLS failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailureKind {
    /// The certificate is not signed by a trusted CA (`ca_file`, or the system's roots without one),
    /// including one that names a trusted CA that did not sign it.
    UnknownIssuer,
    /// The certificate does not name the host that was dialled.
    WrongName,
    /// The certificate has expired or is not valid yet (check the clocks of both sides).
    Expired,
    /// Another certificate problem: bad encoding, revoked, the wrong purpose.
    BadCertificate,
    /// The handshake failed: the server does not speak TLS here, sent an alert, or shares no
    /// protocol version or cipher suite with the client.
    Handshake,
    /// Anything else.
    Other,
}

impl TlsFailureKind {
    /// A short stable name: `unknown_issuer`, `wrong_name`, `expired`, `bad_certificate`,
    /// `handshake`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            TlsFailureKind::UnknownIssuer => "unknown_issuer",
            TlsFailureKind::WrongName => "wrong_name",
            TlsFailureKind::Expired => "expired",
            TlsFailureKind::BadCertificate => "bad_certificate",
            TlsFailureKind::Handshake => "handshake",
            TlsFailureKind::Other => "other",
        }
    }
}

/// A failed TLS connection: what kind of failure, and the detail in the TLS library's words.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFailure {
    /// What kind of failure.
    pub kind: TlsFailureKind,
    /// The detail in words, such as `invalid peer certificate: UnknownIssuer`.
    pub detail: String,
}

impl TlsFailure {
    /// A failure of `kind` with its detail.
    pub fn new(kind: TlsFailureKind, detail: impl Into<String>) -> Self {
        TlsFailure {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The detail may quote a certificate's names: server-supplied text (behaviour.md, Surfaces).
        f.write_str(&crate::printable(&self.detail))
    }
}

impl std::error::Error for TlsFailure {}
