//! The configured DNS settings as ureq's name resolver, so the http probe keeps the host name
//! (Host header, TLS server name) while the address comes from the configured name servers.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::lookup_with;
use super::resolver::DnsSettings;

/// A DNS failure carried through ureq, so that the probe reports it as DNS and keeps its detail.
#[derive(Debug)]
pub(crate) struct LookupFailed(pub String);

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LookupFailed {}

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
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut settings = self.settings.clone();
        if !timeout.after.is_not_happening() {
            settings.timeout = settings.timeout.min(*timeout.after);
        }
        let ips = lookup_with(host, &settings).map_err(|m| ureq::Error::Io(io::Error::other(LookupFailed(m))))?;
        log::debug!(target: "scoutlb", "{host} resolved to {ips:?}");
        let mut out = self.empty();
        for ip in ips {
            if out.try_push(SocketAddr::new(ip, port)).is_err() {
                break; // ureq keeps at most 16 addresses
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}
