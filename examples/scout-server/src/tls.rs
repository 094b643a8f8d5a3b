//! HTTPS: the server's certificate chain and private key (PEM files) made into a rustls
//! configuration, with the `ring` crypto provider.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Loads `cert` (the server's certificate first, then any intermediates) and `key` (PKCS#8,
/// PKCS#1 or SEC1) into a TLS server configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            cert.display()
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| format!("--tls-cert {} with --tls-key {}: {e}", cert.display(), key.display()))?;
    Ok(Arc::new(config))
}

/// The names of `tls-files` when none is given.
const DEFAULT_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// Writes a new CA (`ca.pem`) and a server certificate for `names` signed by it (`server.pem`,
/// `server.key` with mode 0600) into `dir`, never over a file; returns the paths written.
pub fn make_files(dir: &Path, names: &[String]) -> Result<Vec<PathBuf>, String> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let names: Vec<String> = if names.is_empty() {
        DEFAULT_NAMES.iter().map(|n| n.to_string()).collect()
    } else {
        names.to_vec()
    };
    let fail = |e: rcgen::Error| format!("cannot make the certificates: {e}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "scout-server test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(fail)?).map_err(fail)?;
    let key = KeyPair::generate().map_err(fail)?;
    let mut params =
        CertificateParams::new(names.clone()).map_err(|e| format!("{names:?}: not DNS names or IP addresses: {e}"))?;
    params.distinguished_name.push(DnType::CommonName, names[0].clone());
    let cert = params.signed_by(&key, &ca).map_err(fail)?;
    let files = [
        (dir.join("ca.pem"), ca.pem(), 0o644),
        (dir.join("server.pem"), cert.pem(), 0o644),
        (dir.join("server.key"), key.serialize_pem(), 0o600),
    ];
    if let Some((path, ..)) = files.iter().find(|(p, ..)| p.symlink_metadata().is_ok()) {
        return Err(format!(
            "{}: is already there; tls-files never writes over a file",
            path.display()
        ));
    }
    for (path, text, mode) in &files {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(*mode)
            .open(path)
            .map_err(|e| format!("{}: cannot create it: {e}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: cannot write it: {e}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, ..)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = server_config(&missing, &missing).unwrap_err();
        assert!(err.starts_with("--tls-cert ") && err.contains("missing.pem"), "{err}");
        let err = server_config(&empty, &empty).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_file = dir.path().join("cert.pem");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        let err = server_config(&cert_file, &empty).unwrap_err();
        assert!(err.starts_with("--tls-key "), "{err}");
        let other_key = dir.path().join("other.pem");
        std::fs::write(&other_key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        assert!(server_config(&cert_file, &other_key).is_err());
        let key_file = dir.path().join("key.pem");
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        server_config(&cert_file, &key_file).unwrap();
    }

    #[test]
    fn tls_files_make_a_ca_and_a_server_pair_never_over_a_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let written = make_files(dir.path(), &[]).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["ca.pem", "server.pem", "server.key"]);
        let key = dir.path().join("server.key");
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        server_config(&dir.path().join("server.pem"), &key).unwrap();
        let before = fs::read(&key).unwrap();
        let err = make_files(dir.path(), &["a.corp".into()]).unwrap_err();
        assert!(err.contains("never writes over a file"), "{err}");
        assert_eq!(fs::read(&key).unwrap(), before);
        let err = make_files(&dir.path().join("missing"), &[]).unwrap_err();
        assert!(err.contains("cannot create"), "{err}");
    }
}
