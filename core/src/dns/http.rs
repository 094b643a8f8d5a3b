//! The http probe's name resolvers for ureq: the configured DNS settings, so the probe keeps the
//! host name (Host header, TLS server name) while the address comes from the configured name
//! servers; and the system's resolver, wrapped so that its failures arrive typed as DNS failures.
//! Either way a failed lookup reaches the probe as a [`DnsFailure`] inside an `io::Error`.

use std::io;
use std::net::{IpAddr, SocketAddr};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::lookup_with;
use super::resolver::DnsSettings;
use crate::{DnsFailure, DnsFailureKind};

/// The host of a URL (IPv6 without its brackets) and its port (the scheme's when none is given).
fn host_and_port(uri: &Uri) -> Option<(&str, u16)> {
    let host = uri.host()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let https = uri.scheme_str() == Some("https");
    Some((host, uri.port_u16().unwrap_or(if https { 443 } else { 80 })))
}

/// A DNS failure carried through ureq as an I/O error.
fn carried(failure: DnsFailure) -> ureq::Error {
    ureq::Error::Io(io::Error::other(failure))
}

/// The system's resolver (`getaddrinfo`), whose failures are DNS failures by where they happen.
#[derive(Debug, Default)]
pub(crate) struct SystemResolver(DefaultResolver);

impl Resolver for SystemResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // An IP literal needs no lookup, and no lookup thread (ureq starts one per timed lookup).
        if let Some((host, port)) = host_and_port(uri)
            && let Ok(ip) = host.parse::<IpAddr>()
        {
            let mut out = self.empty();
            out.push(SocketAddr::new(ip, port));
            return Ok(out);
        }
        self.0.resolve(uri, config, timeout).map_err(|e| {
            let kind = match e {
                ureq::Error::Timeout(_) => DnsFailureKind::TimedOut,
                ureq::Error::HostNotFound => DnsFailureKind::NoRecords,
                _ => DnsFailureKind::Other,
            };
            // The OS error in its own words: ureq's text of its `Io` variant starts with "io: ".
            let detail = match e {
                ureq::Error::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            carried(DnsFailure::new(kind, detail))
        })
    }
}

/// Resolves the host of a URL with the configured DNS settings.
#[derive(Debug)]
pub(crate) struct ConfiguredResolver {
    pub settings: DnsSettings,
}

impl Resolver for ConfiguredResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (host, port) = host_and_port(uri).ok_or(ureq::Error::HostNotFound)?;
        let mut settings = self.settings.clone();
        if !timeout.after.is_not_happening() {
            settings.timeout = settings.timeout.min(*timeout.after);
        }
        let ips = lookup_with(host, &settings).map_err(carried)?;
        log::debug!(target: "scoutlb", "{host} resolved to {ips:?}");
        let mut out = self.empty();
        for ip in ips {
            if out.try_push(SocketAddr::new(ip, port)).is_err() {
                break; // ureq keeps at most 16 addresses
            }
        }
        if out.is_empty() {
            return Err(carried(DnsFailure::new(
                DnsFailureKind::NoRecords,
                "the name has no address",
            )));
        }
        Ok(out)
    }
}
