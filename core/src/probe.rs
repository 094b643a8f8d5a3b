//! Probes: what "a server connects" means (behaviour.md, "Probes"): http, tcp, or the agent's own callback.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{ConnectionDetails, Connector, Transport};

use crate::FailReason;
use crate::Result;
use crate::Server;
use crate::dns::ConfiguredLookup;
use crate::https::{BalancerNames, TlsConnector};
use crate::tls::tls_failure;
use crate::{Config, Scheme};
use crate::{DnsFailure, DnsFailureKind};
use crate::{MAX_BODY_BYTES, ServerList};
use crate::{TlsFailure, TlsFailureKind};
use scoutlb_proto::steer::{DEVICE_ID_HEADER, MAX_REFUSAL_BYTES, drain_time, refusal_reason};

/// Path of the server list on a Scout Server.
pub const SERVERS_PATH: &str = "/scout/v1/servers";

/// What a successful probe learned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reached {
    /// The server list the server sent, if the probe fetched one.
    pub list: Option<ServerList>,
}

/// Checks whether one server is alive, within a time limit.
pub trait Probe: Send + Sync {
    /// Try `server` for at most `timeout`.
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason>;

    /// Try `server` as [`Probe::probe`] does, and signal `up` as soon as its transport is up (TCP
    /// connected; with TLS, the handshake done), so the attempt race grants it `answer_delay`.
    ///
    /// The default never signals: the attempt counts as connecting until it ends.
    fn probe_signalling(
        &self,
        server: &Server,
        timeout: Duration,
        up: &TransportUp,
    ) -> std::result::Result<Reached, FailReason> {
        let _ = up;
        self.probe(server, timeout)
    }
}

/// Tells the attempt race that an attempt's transport is up; may be signalled more than once.
#[derive(Clone)]
pub struct TransportUp(Arc<dyn Fn() + Send + Sync>);

impl TransportUp {
    /// A signal that calls `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Self {
        TransportUp(Arc::new(f))
    }

    /// A signal nobody listens to.
    pub fn ignored() -> Self {
        TransportUp::new(|| {})
    }

    /// Signal that the transport is up.
    pub fn signal(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for TransportUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportUp")
    }
}

impl<F> Probe for F
where
    F: Fn(&Server, Duration) -> std::result::Result<(), String> + Send + Sync,
{
    /// A callback probe: the agent's own protocol answers yes, or no with a message.
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason> {
        self(server, timeout)
            .map(|()| Reached::default())
            .map_err(FailReason::Callback)
    }
}

/// A callback probe that answers with the attempt's [`FailReason`], so it can report a drain
/// ([`FailReason::Draining`]) or a refusal ([`FailReason::DeviceRefused`]) of its own protocol
/// (behaviour.md, "Probes").
#[derive(Clone, Copy, Debug, Default)]
pub struct FnProbe<F>(pub F);

impl<F> Probe for FnProbe<F>
where
    F: Fn(&Server, Duration) -> std::result::Result<(), FailReason> + Send + Sync,
{
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason> {
        (self.0)(server, timeout).map(|()| Reached::default())
    }
}

/// The `tcp` probe: a TCP connection is accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpProbe;

impl Probe for TcpProbe {
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason> {
        tcp_connect(server, timeout).map(|_| Reached::default())
    }
}

/// Connect to the first address of `server` that accepts, within `timeout` in all.
pub fn tcp_connect(server: &Server, timeout: Duration) -> std::result::Result<TcpStream, FailReason> {
    let start = Instant::now();
    let addrs: Vec<SocketAddr> = (server.host(), server.port())
        .to_socket_addrs()
        .map_err(|e| FailReason::Dns(DnsFailure::new(DnsFailureKind::Other, e.to_string())))?
        .collect();
    let mut last = FailReason::Dns(DnsFailure::new(DnsFailureKind::NoRecords, "the name has no address"));
    for addr in addrs {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(FailReason::TimedOut(timeout));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = fail_from_io(&e, timeout),
        }
    }
    Err(last)
}

/// The `http` probe: `GET /scout/v1/servers` answers 200 with a valid list.
///
/// Host names resolve with the system resolver, or through the configured `nameservers` and
/// `search_domains` when set; the request and the TLS certificate check keep the name.
#[derive(Clone, Debug)]
pub struct HttpProbe {
    agent: ureq::Agent,
    scheme: Scheme,
    /// Sent as [`DEVICE_ID_HEADER`] so that a server can steer this device.
    device_id: Option<String>,
}

impl HttpProbe {
    /// Build the probe of a configuration: its scheme, its roots and `tls_verify` (read now),
    /// redirects off.
    pub fn new(config: &Config) -> Result<Self> {
        Self::with_names(
            config,
            Arc::new(BalancerNames::of(config.manager_load_balancer.as_ref())),
        )
    }

    /// [`HttpProbe::new`] that checks the certificates of the balancer's addresses, as `names`
    /// learns them, against the balancer's name (behaviour.md, "TLS").
    pub(crate) fn with_names(config: &Config, names: Arc<BalancerNames>) -> Result<Self> {
        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // A probe is a one-time check: keep no connection open on the server after it.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(config.connect_timeout))
            .user_agent(concat!("scoutlb/", env!("CARGO_PKG_VERSION")));
        // The connector chain signals "transport up" once TCP (and TLS) is established.
        let tls = TlsConnector::new(config, names)?;
        let connector = ureq::unversioned::transport::TcpConnector::default()
            .chain(tls)
            .chain(SignalUp);
        let agent = match crate::dns::configured_resolver(config) {
            Some(resolver) => ureq::Agent::with_parts(builder.build(), connector, resolver),
            None => ureq::Agent::with_parts(builder.build(), connector, crate::dns::SystemResolver::default()),
        };
        Ok(HttpProbe {
            agent,
            scheme: config.scheme,
            device_id: config.device_id.clone(),
        })
    }

    /// The URL of the server list on `server`.
    pub fn url(&self, server: &Server) -> String {
        format!("{}://{server}{SERVERS_PATH}", self.scheme.name())
    }
}

thread_local! {
    /// The "transport up" signal of the http probe running on this thread, if any.
    static SIGNAL: RefCell<Option<TransportUp>> = const { RefCell::new(None) };
}

/// The last link of the http probe's connector chain: the transport is up (TCP connected, TLS
/// done), so it signals the attempt running on this thread. ureq connects on the calling thread.
#[derive(Debug)]
struct SignalUp;

impl<In: Transport> Connector<In> for SignalUp {
    type Out = In;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> std::result::Result<Option<In>, ureq::Error> {
        if chained.is_some() {
            SIGNAL.with_borrow(|signal| signal.as_ref().map(TransportUp::signal));
        }
        Ok(chained)
    }
}

/// Clears the thread's signal when the probe ends, however it ends.
struct SignalGuard;

impl SignalGuard {
    fn set(up: &TransportUp) -> Self {
        SIGNAL.set(Some(up.clone()));
        SignalGuard
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        SIGNAL.set(None);
    }
}

impl Probe for HttpProbe {
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason> {
        self.probe_signalling(server, timeout, &TransportUp::ignored())
    }

    fn probe_signalling(
        &self,
        server: &Server,
        timeout: Duration,
        up: &TransportUp,
    ) -> std::result::Result<Reached, FailReason> {
        let _signal = SignalGuard::set(up);
        let url = self.url(server);
        let mut request = self.agent.get(&url);
        if let Some(id) = &self.device_id {
            request = request.header(DEVICE_ID_HEADER, id);
        }
        let mut response = request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()
            .map_err(|e| fail_from_ureq(e, timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = match status {
            200 => response
                .body_mut()
                .with_config()
                .limit(MAX_BODY_BYTES as u64)
                .read_to_vec()
                .map_err(|e| fail_from_ureq(e, timeout))?,
            403 => response
                .body_mut()
                .with_config()
                .limit(MAX_REFUSAL_BYTES as u64 + 1)
                .read_to_vec()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        judge(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// An HTTP answer to the list request: its status, `Retry-After` and body.
pub(crate) struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body (of a 200 or a 403; others need none).
    pub body: Vec<u8>,
}

/// What an answer means (behaviour.md, "Wire format" and "Servers that steer devices").
pub(crate) fn judge(answer: Answer) -> std::result::Result<Reached, FailReason> {
    match answer.status {
        200 => {
            let list = ServerList::from_json(&answer.body).map_err(|e| FailReason::InvalidList(e.0))?;
            Ok(Reached { list: Some(list) })
        }
        503 => Err(FailReason::Draining(drain_time(answer.retry_after.as_deref()))),
        403 => {
            let body = &answer.body[..answer.body.len().min(MAX_REFUSAL_BYTES + 1)];
            Err(refusal_reason(body).map_or(FailReason::HttpStatus(403), FailReason::DeviceRefused))
        }
        status => Err(FailReason::HttpStatus(status)),
    }
}

/// The DNS failure an I/O error carries, if the probe's resolver put one there.
fn carried_dns(io: &io::Error) -> Option<&DnsFailure> {
    io.get_ref().and_then(|e| e.downcast_ref::<DnsFailure>())
}

/// The TLS library's error an I/O error carries, if the failure was TLS.
fn carried_tls(io: &io::Error) -> Option<&rustls::Error> {
    io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
}

/// Classify an OS error of a connection.
pub(crate) fn fail_from_io(e: &io::Error, timeout: Duration) -> FailReason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FailReason::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FailReason::TimedOut(timeout),
        kind => FailReason::Io {
            kind,
            message: e.to_string(),
        },
    }
}

/// Classify a failure of the http probe.
fn fail_from_ureq(e: ureq::Error, timeout: Duration) -> FailReason {
    match e {
        // rustls reports certificate and handshake failures as io errors that carry its error;
        // the resolvers of the probe (crate::dns) carry every lookup failure as a DnsFailure.
        ureq::Error::Io(io) => match (carried_tls(&io), carried_dns(&io)) {
            (Some(tls), _) => FailReason::Tls(tls_failure(tls)),
            (None, Some(dns)) => FailReason::Dns(dns.clone()),
            (None, None) => fail_from_io(&io, timeout),
        },
        ureq::Error::Timeout(_) => FailReason::TimedOut(timeout),
        ureq::Error::HostNotFound => FailReason::Dns(DnsFailure::new(DnsFailureKind::NoRecords, "host not found")),
        ureq::Error::StatusCode(s) => FailReason::HttpStatus(s),
        ureq::Error::BodyExceedsLimit(_) => {
            FailReason::InvalidList(format!("body exceeds the limit of {MAX_BODY_BYTES} bytes"))
        }
        ureq::Error::Tls(m) => FailReason::Tls(TlsFailure::new(TlsFailureKind::Other, m)),
        ureq::Error::Rustls(e) => FailReason::Tls(tls_failure(&e)),
        ureq::Error::Pem(e) => FailReason::Tls(TlsFailure::new(TlsFailureKind::Other, e.to_string())),
        other => FailReason::Io {
            kind: io::ErrorKind::Other,
            message: other.to_string(),
        },
    }
}

/// Wrap a probe that connects to addresses so that host names resolve through the configured DNS.
///
/// Returns `probe` unchanged when neither `nameservers` nor `search_domains` is configured.
pub(crate) fn with_configured_dns(probe: Arc<dyn Probe>, config: &Config) -> Arc<dyn Probe> {
    match ConfiguredLookup::of(config) {
        Some(lookup) => Arc::new(ResolvingProbe { inner: probe, lookup }),
        None => probe,
    }
}

/// A probe that resolves a host name with the configured DNS and tries each address with `inner`.
struct ResolvingProbe {
    inner: Arc<dyn Probe>,
    lookup: ConfiguredLookup,
}

impl Probe for ResolvingProbe {
    fn probe(&self, server: &Server, timeout: Duration) -> std::result::Result<Reached, FailReason> {
        if server.ip().is_some() {
            return self.inner.probe(server, timeout);
        }
        let start = Instant::now();
        let ips = self.lookup.addresses(server.host(), timeout).map_err(FailReason::Dns)?;
        log::debug!(target: "scoutlb", "{} resolved to {ips:?}", server.host());
        let mut last = FailReason::Dns(DnsFailure::new(DnsFailureKind::NoRecords, "the name has no address"));
        for ip in ips {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(FailReason::TimedOut(timeout));
            }
            match self
                .inner
                .probe(&Server::from(SocketAddr::new(ip, server.port())), left)
            {
                Ok(reached) => return Ok(reached),
                Err(reason) => last = reason,
            }
        }
        Err(last)
    }
}
