//! How a server's certificate is judged.
//!
//! [`OperatorVerifier`]: rustls' WebPKI verifier over the system's roots and the
//! operator's `--ca-cert` certificates; when it refuses the server's certificate, and that
//! certificate is byte for byte one the operator gave with `--ca-cert`, it is trusted as
//! that certificate (curl's `--cacert` does the same; a self-signed certificate, often
//! marked as a CA, is refused by WebPKI as "a CA used as an end entity"). Even then the
//! name it is valid for, its validity period and its purpose (extended key usage) are
//! checked, and the handshake signatures always are, with rustls' own verification: the server must hold the
//! certificate's key. Nothing else is loosened.
//!
//! [`AcceptAny`]: `--insecure-skip-verify`, any certificate accepted (the report says so).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::der;

/// A verifier's handshake-signature methods: always rustls' own checks with the
/// provider's algorithms, whatever the verifier decides about the certificate.
macro_rules! signatures_checked_by {
    ($self:ident => $provider:tt) => {
        fn verify_tls12_signature(
            &$self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &$self.$provider.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &$self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &$self.$provider.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&$self) -> Vec<SignatureScheme> {
            $self.$provider.signature_verification_algorithms.supported_schemes()
        }
    };
}

/// WebPKI, then the operator's own certificates as themselves.
#[derive(Debug)]
pub(crate) struct OperatorVerifier {
    /// None when there is no root at all (no system store, no `--ca-cert`): every chain
    /// is then of an unknown issuer.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The operator's `--ca-cert` certificates, DER.
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl OperatorVerifier {
    pub(crate) fn new(roots: RootCertStore, pinned: Vec<CertificateDer<'static>>, provider: Arc<CryptoProvider>) -> OperatorVerifier {
        // The builder refuses only an empty store.
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().ok();
        OperatorVerifier { webpki, pinned, provider }
    }

    /// The server presented one of the operator's own certificates: valid for `name`,
    /// valid now, and for a TLS server.
    fn verify_pinned(&self, end_entity: &CertificateDer<'_>, name: &ServerName<'_>, now: UnixTime) -> Result<(), rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        verify_server_name(&parsed, name)?;
        let validity = der::validity(end_entity.as_ref()).ok_or(CertificateError::BadEncoding)?;
        let unix = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0).unsigned_abs()));
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now_secs < validity.not_before {
            return Err(CertificateError::NotValidYetContext { time: now, not_before: unix(validity.not_before) }.into());
        }
        if now_secs > validity.not_after {
            return Err(CertificateError::ExpiredContext { time: now, not_after: unix(validity.not_after) }.into());
        }
        if !validity.server_auth {
            return Err(CertificateError::InvalidPurpose.into());
        }
        Ok(())
    }
}

impl ServerCertVerifier for OperatorVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match &self.webpki {
            Some(webpki) => match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Ok(verified) => return Ok(verified),
                Err(e) => e,
            },
            None => CertificateError::UnknownIssuer.into(),
        };
        if !self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return Err(refused);
        }
        self.verify_pinned(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    signatures_checked_by!(self => provider);
}

/// `--insecure-skip-verify`: any certificate is accepted, signatures still checked.
#[derive(Debug)]
pub(crate) struct AcceptAny(pub(crate) Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    signatures_checked_by!(self => 0);
}
