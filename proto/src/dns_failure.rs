//! Why a DNS lookup failed, as a kind to act on and the resolver's words.

use std::fmt;

/// The kind of a DNS failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DnsFailureKind {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// SERVFAIL, REFUSED or another error answer of a name server.
    ServerFailure,
    /// No answer from the name servers within the DNS timeout.
    TimedOut,
    /// The name exists but has no record of the type asked for.
    NoRecords,
    /// Anything else: no name server reachable, the system resolver's failures, a resolver that
    /// cannot start.
    Other,
}

impl DnsFailureKind {
    /// A short stable name: `no_such_name`, `server_failure`, `timed_out`, `no_records`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            DnsFailureKind::NoSuchName => "no_such_name",
            DnsFailureKind::ServerFailure => "server_failure",
            DnsFailureKind::TimedOut => "timed_out",
            DnsFailureKind::NoRecords => "no_records",
            DnsFailureKind::Other => "other",
        }
    }
}

/// A failed DNS lookup: what kind of failure, and the detail (the response code, the timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsFailure {
    /// What kind of failure.
    pub kind: DnsFailureKind,
    /// The detail in words, such as `NXDOMAIN: the name does not exist`.
    pub detail: String,
}

impl DnsFailure {
    /// A failure of `kind` with its detail.
    pub fn new(kind: DnsFailureKind, detail: impl Into<String>) -> Self {
        DnsFailure {
            kind,
            detail: detail.into(),
        }
    }

    /// The same failure with `context` in front of its detail.
    pub fn context(self, context: impl fmt::Display) -> Self {
        DnsFailure {
            kind: self.kind,
            detail: format!("{context}: {}", self.detail),
        }
    }
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for DnsFailure {}
