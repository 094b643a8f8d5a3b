//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

use crate::attempt::Attempt;
use crate::dns_failure::DnsFailure;
use crate::server::AddressError;
use crate::server_list::ListError;

/// Everything that can go wrong in scoutlb, with the detail a sysadmin needs to act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server address could not be parsed.
    #[error("invalid server address `{}`: {reason}", crate::printable(.input))]
    InvalidServer {
        /// The text as given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A configuration key has a wrong type or value, or is unknown.
    #[error("configuration key `{key}`: {message}")]
    Config {
        /// The key, as written in the configuration.
        key: String,
        /// What was expected.
        message: String,
    },
    /// The configuration text is not a JSON object.
    #[error("configuration is not valid JSON: {0}")]
    ConfigJson(String),
    /// A server list was refused; the cached list is kept.
    #[error("server list refused: {}", crate::printable(.0))]
    InvalidServerList(String),
    /// The state file or its folder could not be read or written.
    #[error("state file {path}: cannot {action}: {source}")]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// What was being done ("write", "lock", ...).
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The state file has a `format` this scoutlb does not know (a newer one's), and is left untouched.
    #[error(
        "state file {path} has format {found}, not format {known} that this scoutlb knows (a newer scoutlb may have written it); it is left untouched (upgrade scoutlb or remove the file)"
    )]
    StateFormat {
        /// The state file.
        path: PathBuf,
        /// The `format` value found in the file, as (shortened, printable) JSON text.
        found: String,
        /// The newest format this version knows.
        known: u64,
    },
    /// The ManagerLoadBalancer name could not be resolved.
    #[error("DNS lookup of `{name}` failed: {failure}")]
    Dns {
        /// The name looked up.
        name: String,
        /// What failed: its kind (no such name, server failure, ...) and the resolver's detail.
        #[source]
        failure: DnsFailure,
    },
    /// No candidate server could be reached.
    #[error("{}", crate::attempt::describe_failures(.0))]
    AllFailed(Vec<Attempt>),
    /// The named server is not known to this client.
    #[error("server {0} is not a candidate of this client")]
    UnknownServer(String),
    /// The agent cancelled a retrying connect.
    #[error("connect cancelled by the agent")]
    Cancelled,
    /// A server refused this device (behaviour.md, "Servers that steer devices"): the cluster
    /// shares one database, so no other server was tried.
    #[error("server {server} refuses this device: {}", crate::printable(.reason))]
    DeviceRefused {
        /// The server that refused.
        server: crate::server::Server,
        /// Its reason, as it sent it.
        reason: String,
    },
    /// The call is not possible with this client's configuration.
    #[error("{0}")]
    Unsupported(String),
}

/// The kind of an [`Error`]: the one taxonomy that C status codes, Python exceptions and the
/// command-line agent's exit codes map from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A server address could not be parsed.
    InvalidServer,
    /// The configuration is not valid (a key, or the JSON text itself).
    Config,
    /// A server list was refused.
    InvalidServerList,
    /// The state file or its folder could not be read or written.
    StateFile,
    /// The state file was written by a newer scoutlb.
    StateFormat,
    /// A DNS lookup failed.
    Dns,
    /// No candidate server could be reached.
    AllFailed,
    /// The named server is not known to this client.
    UnknownServer,
    /// The agent cancelled a retrying connect.
    Cancelled,
    /// A server refused this device.
    DeviceRefused,
    /// The call is not possible with this client's configuration.
    Unsupported,
}

impl From<AddressError> for Error {
    fn from(e: AddressError) -> Self {
        Error::InvalidServer {
            input: e.input,
            reason: e.reason,
        }
    }
}

impl From<ListError> for Error {
    fn from(e: ListError) -> Self {
        Error::InvalidServerList(e.0)
    }
}

/// Result type of scoutlb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A configuration error for `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidServer { .. } => ErrorKind::InvalidServer,
            Error::Config { .. } | Error::ConfigJson(_) => ErrorKind::Config,
            Error::InvalidServerList(_) => ErrorKind::InvalidServerList,
            Error::StateFile { .. } => ErrorKind::StateFile,
            Error::StateFormat { .. } => ErrorKind::StateFormat,
            Error::Dns { .. } => ErrorKind::Dns,
            Error::AllFailed(_) => ErrorKind::AllFailed,
            Error::UnknownServer(_) => ErrorKind::UnknownServer,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::DeviceRefused { .. } => ErrorKind::DeviceRefused,
            Error::Unsupported(_) => ErrorKind::Unsupported,
        }
    }

    /// Whether the failure is DNS's: a failed lookup, or no server reached and every attempt (at
    /// least one) failed on DNS.
    pub fn is_all_dns(&self) -> bool {
        matches!(self, Error::AllFailed(a) if !a.is_empty() && a.iter().all(|a| matches!(a.reason, crate::attempt::FailReason::Dns(_))))
            || matches!(self, Error::Dns { .. })
    }

    /// The attempts of an [`Error::AllFailed`], empty for other errors.
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Error::AllFailed(a) => a,
            _ => &[],
        }
    }
}
