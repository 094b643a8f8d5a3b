//! The TLS side of the http probe with `scheme` `"https"` (behaviour.md, "TLS"): the roots
//! (`ca_file`, `ca_dir` or the system's), what each `tls_verify` level checks, and the name each
//! candidate's certificate must hold. TLS 1.2 and 1.3 only.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

use crate::{Config, Error, ManagerLoadBalancer, Result, Scheme, Server, TlsVerify};

/// File names in `ca_dir` that hold certificates.
const CA_DIR_SUFFIXES: [&str; 3] = [".pem", ".crt", ".cer"];

/// The name a certificate must hold for the addresses the ManagerLoadBalancer's name resolved to.
#[derive(Debug, Default)]
pub(crate) struct BalancerNames {
    /// The balancer's name (its host name, or the domain of its SRV name); none for an IP literal.
    name: Option<String>,
    /// Every address that name resolved to in this client.
    addresses: RwLock<HashSet<Server>>,
}

impl BalancerNames {
    /// The names of `entry`, with no address yet.
    pub(crate) fn of(entry: Option<&ManagerLoadBalancer>) -> Self {
        BalancerNames {
            name: entry.and_then(ManagerLoadBalancer::tls_name).map(str::to_string),
            addresses: RwLock::default(),
        }
    }

    /// The balancer's name resolved to `servers`.
    pub(crate) fn resolved(&self, servers: &[Server]) {
        if self.name.is_some() {
            let mut addresses = self.addresses.write().unwrap_or_else(|e| e.into_inner());
            addresses.extend(servers.iter().cloned());
        }
    }

    /// The name the certificate of `server` must hold: the balancer's for its addresses, else its host.
    pub(crate) fn for_server<'a>(&'a self, server: &'a Server) -> &'a str {
        match &self.name {
            Some(name)
                if self
                    .addresses
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(server) =>
            {
                name
            }
            _ => server.host(),
        }
    }
}

/// The roots of a configuration: `ca_file` and `ca_dir`, read now; `None` = the system's.
fn given_roots(config: &Config) -> Result<Option<Arc<RootCertStore>>> {
    if config.ca_file.is_none() && config.ca_dir.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(file) = &config.ca_file {
        add_roots(&mut roots, "ca_file", file)?;
    }
    if let Some(dir) = &config.ca_dir {
        add_dir(&mut roots, dir, config)?;
    }
    Ok(Some(Arc::new(roots)))
}

/// The TLS client configuration of a level over `roots` (`None` = the system's, loaded now).
fn client_config(
    level: TlsVerify,
    roots: Option<&Arc<RootCertStore>>,
) -> std::result::Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match level {
        TlsVerify::None => Arc::new(NoCheck(provider.signature_verification_algorithms)),
        level => {
            let inner: Arc<dyn ServerCertVerifier> = match roots {
                None => Arc::new(rustls_platform_verifier::Verifier::new(Arc::clone(&provider))?),
                Some(roots) => WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| rustls::Error::General(format!("the configured roots cannot be used: {e}")))?,
            };
            match level {
                TlsVerify::Chain => Arc::new(ChainOnly(inner)),
                _ => inner,
            }
        }
    };
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

/// Add every certificate file of `dir`; a folder without one is refused while https checks.
fn add_dir(roots: &mut RootCertStore, dir: &Path, config: &Config) -> Result<()> {
    let bad = |m: String| Error::config("ca_dir", format!("{}: {m}", dir.display()));
    let entries = std::fs::read_dir(dir).map_err(|e| bad(e.to_string()))?;
    let mut files = Vec::new();
    let mut other = 0usize;
    for entry in entries {
        let path = entry.map_err(|e| bad(e.to_string()))?.path();
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| CA_DIR_SUFFIXES.iter().any(|s| n.to_ascii_lowercase().ends_with(s)));
        if named && path.is_file() {
            files.push(path);
        } else {
            other += 1;
        }
    }
    // Read in name order, so the same folder always gives the same roots and the same errors.
    files.sort();
    for file in &files {
        add_roots(roots, "ca_dir", file)?;
    }
    log::debug!(target: "scoutlb", "ca_dir {}: {} certificate files, {other} other entries ignored", dir.display(), files.len());
    if files.is_empty() && config.scheme == Scheme::Https && config.tls_verify != TlsVerify::None {
        return Err(bad(format!(
            "holds no certificate (*.pem, *.crt or *.cer): with tls_verify \"{}\" no server could be trusted, so the device could reach none",
            config.tls_verify.name()
        )));
    }
    Ok(())
}

/// Add the certificates of one file (PEM, or a single DER certificate) under `key`'s name.
fn add_roots(roots: &mut RootCertStore, key: &str, file: &Path) -> Result<()> {
    let bad = |m: String| Error::config(key, format!("{}: {m}", file.display()));
    let bytes = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("not a PEM file: {e}")))?
    } else {
        vec![CertificateDer::from(bytes)]
    };
    if certs.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| bad(format!("not a CA certificate: {e}")))?;
    }
    Ok(())
}

/// `tls_verify` `"chain"`: the inner verifier's checks except the name.
#[derive(Debug)]
struct ChainOnly(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The name is checked last, once the chain and the dates passed: a name error means the
        // rest held.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `tls_verify` `"none"`: any certificate; the handshake's signatures are still checked against it.
#[derive(Debug)]
struct NoCheck(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The TLS link of the http probe's connector chain: wraps the TCP transport of an `https` URL,
/// with the name of the candidate (behaviour.md, "TLS").
pub(crate) struct TlsConnector {
    level: TlsVerify,
    /// `ca_file` and `ca_dir`; `None` = the system's roots.
    roots: Option<Arc<RootCertStore>>,
    /// Built at the first https attempt: the system's roots are read then, not for every client.
    tls: OnceLock<Arc<ClientConfig>>,
    names: Arc<BalancerNames>,
}

impl TlsConnector {
    /// The connector of a configuration (its roots read now) and the balancer's names.
    pub(crate) fn new(config: &Config, names: Arc<BalancerNames>) -> Result<Self> {
        Ok(TlsConnector {
            level: config.tls_verify,
            roots: given_roots(config)?,
            tls: OnceLock::new(),
            names,
        })
    }

    /// The TLS configuration and the name to check for an attempt on `server`.
    pub(crate) fn session(
        &self,
        server: &Server,
    ) -> std::result::Result<(Arc<ClientConfig>, ServerName<'static>), crate::FailReason> {
        let tls = self
            .tls()
            .map_err(|e| crate::FailReason::Tls(crate::tls::tls_failure(&e)))?;
        let name = ServerName::try_from(self.names.for_server(server).to_string()).map_err(|_| {
            crate::FailReason::Tls(crate::TlsFailure::new(
                crate::TlsFailureKind::Other,
                "the server's name is not valid for TLS",
            ))
        })?;
        Ok((tls, name))
    }

    fn tls(&self) -> std::result::Result<Arc<ClientConfig>, rustls::Error> {
        if let Some(tls) = self.tls.get() {
            return Ok(Arc::clone(tls));
        }
        let tls = client_config(self.level, self.roots.as_ref())?;
        Ok(Arc::clone(self.tls.get_or_init(|| tls)))
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let authority = details
            .uri
            .authority()
            .ok_or(ureq::Error::Tls("the URL names no server"))?;
        let port = authority.port_u16().unwrap_or(443);
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let server = Server::new(host, port).map_err(|_| ureq::Error::Tls("the URL's host is not a server address"))?;
        let name = ServerName::try_from(self.names.for_server(&server).to_string())
            .map_err(|_| ureq::Error::Tls("the server's name is not valid for TLS"))?;
        let tls = self.tls().map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        let mut conn = ClientConnection::new(tls, name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A transport inside a TLS session.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
