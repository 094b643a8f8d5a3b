//! A server endpoint: host (DNS name or IP literal) and port.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

/// The port of a Scout Server when none is given.
pub const DEFAULT_PORT: u16 = 22123;

/// Longest host name accepted, in bytes (RFC 1035).
pub const MAX_HOST_LEN: usize = 253;

/// A server address that was refused: the text as given and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid server address `{}`: {reason}", crate::printable(.input))]
pub struct AddressError {
    /// The text as given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

/// A server endpoint; two servers are equal when host (case-folded, IP canonical) and port are.
///
/// The host is shared: a clone (every event, attempt and outcome names its server) allocates
/// nothing. It compares, hashes and orders as the text it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Server {
    host: Arc<str>,
    port: u16,
}

impl Server {
    /// Build a server from a host (name or IP literal, without brackets) and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, AddressError> {
        let bad = |reason: &str| AddressError {
            input: host.to_string(),
            reason: reason.to_string(),
        };
        if port == 0 {
            return Err(bad("port 0 is not a valid port"));
        }
        let host = normalise_host(host).map_err(|r| bad(&r))?.into();
        Ok(Server { host, port })
    }

    /// Parse `host`, `host:port`, `[v6]:port`, `[v6]` or a bare IP literal; `default_port` fills in.
    pub fn parse(input: &str, default_port: u16) -> Result<Self, AddressError> {
        let bad = |reason: &str| AddressError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(bad("empty address"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("missing `]` after an IPv6 address"))?;
            if inside.parse::<Ipv6Addr>().is_err() {
                return Err(bad("text between `[` and `]` is not an IPv6 address"));
            }
            let port = match after {
                "" => default_port,
                p => parse_port(p.strip_prefix(':').ok_or_else(|| bad("expected `:port` after `]`"))?)
                    .map_err(|r| bad(&r))?,
            };
            (inside, port)
        } else if text.parse::<Ipv6Addr>().is_ok() {
            (text, default_port)
        } else if let Some((h, p)) = text.rsplit_once(':') {
            if h.contains(':') {
                return Err(bad("an IPv6 address with a port must be written [address]:port"));
            }
            (h, parse_port(p).map_err(|r| bad(&r))?)
        } else {
            (text, default_port)
        };
        if port == 0 {
            return Err(bad("port 0 is not a valid port"));
        }
        let host = normalise_host(host).map_err(|r| bad(&r))?.into();
        Ok(Server { host, port })
    }

    /// The host: a lower-case DNS name or a canonical IP literal (no brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The IP address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Server {
    type Err = AddressError;

    /// Parse with [`DEFAULT_PORT`] as the default port.
    fn from_str(s: &str) -> Result<Self, AddressError> {
        Server::parse(s, DEFAULT_PORT)
    }
}

impl From<std::net::SocketAddr> for Server {
    fn from(addr: std::net::SocketAddr) -> Self {
        Server {
            host: addr.ip().to_canonical().to_string().into(),
            port: addr.port(),
        }
    }
}

fn parse_port(text: &str) -> std::result::Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port `{text}` is not a number"));
    }
    match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(format!("port `{text}` is outside 1-65535")),
    }
}

/// Case-fold a host name and check it, or canonicalise an IP literal.
fn normalise_host(host: &str) -> std::result::Result<String, String> {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_canonical().to_string());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if name.len() > MAX_HOST_LEN {
        return Err(format!("host name is {} bytes, longer than {MAX_HOST_LEN}", name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("host name has an empty label (two dots in a row)".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "label `{label}` has a character other than letters, digits, `-` and `_`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("looks like an IPv4 address but is not a valid one".into());
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let s: Server = "Scout1.Corp".parse().unwrap();
        assert_eq!(s.to_string(), "scout1.corp:22123");
        assert_eq!("a:1".parse::<Server>().unwrap().port(), 1);
        assert_eq!("[fd00::0001]:80".parse::<Server>().unwrap().to_string(), "[fd00::1]:80");
        assert_eq!("fd00::1".parse::<Server>().unwrap().to_string(), "[fd00::1]:22123");
        assert_eq!("[::ffff:10.0.0.1]".parse::<Server>().unwrap().host(), "10.0.0.1");
        assert_eq!(
            "10.0.0.1:9".parse::<Server>().unwrap().ip(),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!("host.".parse::<Server>().unwrap(), "HOST".parse::<Server>().unwrap());
    }

    #[test]
    fn rejections_quote_the_input() {
        for bad in [
            "",
            "a:0",
            "a:65536",
            "a:x",
            "a:",
            "fd00::1:99999x",
            "a..b",
            "-a",
            "a_b c",
            "[fd00::1",
            "[zz]:1",
            "999.1.1.1",
            "[::1]x",
        ] {
            let err = bad.parse::<Server>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{}`", bad.trim())), "{bad}: {err}");
        }
        let long = format!("{}.com", "a.".repeat(130));
        assert!(
            long.parse::<Server>()
                .unwrap_err()
                .to_string()
                .contains("longer than 253")
        );
    }
}
