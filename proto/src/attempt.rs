//! One attempt on a server and why it failed (behaviour.md, "All fail").

use std::fmt;
use std::io;
use std::time::Duration;

use crate::dns_failure::DnsFailure;
use crate::race::Stage;
use crate::server::Server;
use crate::tls_failure::TlsFailure;

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The connection was refused.
    Refused,
    /// No answer within the time limit.
    TimedOut(Duration),
    /// The host name did not resolve.
    Dns(DnsFailure),
    /// The TLS handshake or certificate check failed.
    Tls(TlsFailure),
    /// The server answered with an HTTP status other than 200.
    HttpStatus(u16),
    /// The server's answer was not a valid server list.
    InvalidList(String),
    /// The server's list was refused by the signed-list checks (behaviour.md, "Signed lists").
    UntrustedList(String),
    /// The server drains: use another server for now, and try it again after this long
    /// (behaviour.md, "Servers that steer devices").
    Draining(Duration),
    /// The server refuses this device, with its reason; the call ends (behaviour.md, "Servers
    /// that steer devices").
    DeviceRefused(String),
    /// Another network or operating-system error.
    Io {
        /// The operating system's kind of error.
        kind: io::ErrorKind,
        /// The error in words.
        message: String,
    },
    /// The agent's callback probe said no, with its message.
    Callback(String),
    /// The agent reported the failure itself.
    Reported(String),
    /// The call's overall deadline passed before this candidate was tried or answered.
    Deadline,
    /// Still running when another candidate won: its patience had run out at this stage.
    OutOfPatience {
        /// How far it got.
        stage: Stage,
        /// The patience it had at that stage.
        patience: Duration,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::Refused => f.write_str("connection refused"),
            FailReason::TimedOut(d) => write!(f, "timed out after {} ms", d.as_millis()),
            FailReason::Dns(m) => write!(f, "DNS lookup failed: {m}"),
            FailReason::Tls(m) => write!(f, "TLS failed: {m}"),
            FailReason::HttpStatus(s) => write!(f, "HTTP status {s}"),
            FailReason::InvalidList(m) => write!(f, "bad response: {}", crate::printable(m)),
            FailReason::UntrustedList(m) => write!(f, "server list not trusted: {}", crate::printable(m)),
            FailReason::Draining(d) => write!(
                f,
                "the server drains: another server for now, this one again in {} s",
                d.as_secs()
            ),
            FailReason::DeviceRefused(m) => write!(f, "the server refuses this device: {}", crate::printable(m)),
            FailReason::Io { message, .. } => f.write_str(message),
            FailReason::Callback(m) => write!(f, "probe callback said no: {m}"),
            FailReason::Reported(m) => write!(f, "reported by the agent: {m}"),
            FailReason::Deadline => f.write_str("overall deadline passed first"),
            FailReason::OutOfPatience { stage, patience } => {
                let ms = patience.as_millis();
                match stage {
                    Stage::Resolving => write!(f, "no DNS answer within {ms} ms; another server answered first"),
                    Stage::Connecting => write!(f, "still connecting after {ms} ms; another server answered first"),
                    Stage::Answering => {
                        write!(
                            f,
                            "connected, but no answer within {ms} ms; another server answered first"
                        )
                    }
                }
            }
        }
    }
}

impl FailReason {
    /// A short stable name of the reason, such as `refused` or `timed_out`.
    pub fn kind(&self) -> &'static str {
        match self {
            FailReason::Refused => "refused",
            FailReason::TimedOut(_) => "timed_out",
            FailReason::Dns(_) => "dns",
            FailReason::Tls(_) => "tls",
            FailReason::HttpStatus(_) => "http_status",
            FailReason::InvalidList(_) => "invalid_list",
            FailReason::UntrustedList(_) => "untrusted_list",
            FailReason::Draining(_) => "draining",
            FailReason::DeviceRefused(_) => "device_refused",
            FailReason::Io { .. } => "io",
            FailReason::Callback(_) => "callback",
            FailReason::Reported(_) => "reported",
            FailReason::Deadline => "deadline",
            FailReason::OutOfPatience { .. } => "out_of_patience",
        }
    }
}

/// One failed attempt: the server and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The server tried.
    pub server: Server,
    /// Why it failed.
    pub reason: FailReason,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.reason)
    }
}

/// The message of an all-failed error: every attempt and its reason.
pub fn describe_failures(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no server could be reached: there was no server to try".into();
    }
    let list: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    format!(
        "no server could be reached ({} tried): {}",
        attempts.len(),
        list.join("; ")
    )
}
