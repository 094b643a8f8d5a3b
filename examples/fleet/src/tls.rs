//! A self-signed certificate for the cluster's HTTPS, made at start.

use std::path::{Path, PathBuf};

/// The certificate and key files of the cluster; the certificate is also the devices' `ca_file`.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate for 127.0.0.1 and localhost.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Makes a self-signed certificate for 127.0.0.1 and localhost and writes it into `dir`.
pub fn self_signed(dir: &Path) -> Result<TlsFiles, String> {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, made.cert.pem()).map_err(|e| format!("{}: {e}", files.cert.display()))?;
    std::fs::write(&files.key, made.signing_key.serialize_pem())
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    Ok(files)
}
