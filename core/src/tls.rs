//! The kind of a TLS failure, read from the TLS library's error (behaviour.md, "All fail").

use rustls::CertificateError;

use crate::{TlsFailure, TlsFailureKind};

/// The failure a rustls error describes: its kind and its words.
pub(crate) fn tls_failure(e: &rustls::Error) -> TlsFailure {
    TlsFailure::new(kind_of(e), e.to_string())
}

/// The kind of a rustls error.
fn kind_of(e: &rustls::Error) -> TlsFailureKind {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => TlsFailureKind::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailureKind::WrongName
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailureKind::Expired,
            _ => TlsFailureKind::BadCertificate,
        },
        E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::InvalidMessage(_)
        | E::NoCertificatesPresented
        | E::DecryptError
        | E::PeerIncompatible(_)
        | E::PeerMisbehaved(_)
        | E::AlertReceived(_)
        | E::HandshakeNotComplete
        | E::PeerSentOversizedRecord
        | E::NoApplicationProtocol => TlsFailureKind::Handshake,
        _ => TlsFailureKind::Other,
    }
}
