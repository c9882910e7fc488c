//! TLS for targets and probes, with rustls (no OpenSSL): the system's trust store read
//! locally (nothing fetched), extra CAs (`--ca-cert`), a client certificate for mutual
//! TLS, and an explicit `--insecure-skip-verify` that the report records as a warning.
//! Handshake failures become one line naming the host and the reason.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::NetError;

/// What the operator said about TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM files of CAs to trust besides the system's.
    pub ca_certs: Vec<PathBuf>,
    /// A client certificate chain and its key (PEM), for servers that require one.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (the report says so).
    pub insecure_skip_verify: bool,
    /// Protocols offered by ALPN, most preferred first (`h2`, `http/1.1`); none: the
    /// server's default (HTTP/1.1).
    pub alpn: Vec<Vec<u8>>,
}

/// A client TLS configuration, ready to connect.
#[derive(Clone)]
pub struct Tls {
    /// For the send path: offers the operator's ALPN protocols.
    connector: TlsConnector,
    /// For one-shot requests (probes, registries): HTTP/1.1 only.
    h1: TlsConnector,
    /// Certificates are not verified.
    pub insecure: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("insecure", &self.insecure).finish()
    }
}

fn tls_error(message: String) -> NetError {
    NetError::Tls(message)
}

/// The process's TLS settings: what the operator installed, else the system's roots.
static OPERATOR: std::sync::OnceLock<Tls> = std::sync::OnceLock::new();

impl Tls {
    /// Makes `tls` what every https connection of this process uses (targets, probes,
    /// registries); the first call wins. `false` if settings were already in use.
    pub fn install(tls: Tls) -> bool {
        OPERATOR.set(tls).is_ok()
    }

    /// The installed settings, else (and from then on) the system's trust store.
    pub fn operator() -> Result<Tls, NetError> {
        if let Some(t) = OPERATOR.get() {
            return Ok(t.clone());
        }
        let t = Tls::new(&TlsOptions::default())?;
        Ok(OPERATOR.get_or_init(|| t).clone())
    }

    pub fn new(o: &TlsOptions) -> Result<Tls, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("TLS set-up: {e}")))?;
        let builder = if o.insecure_skip_verify {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        } else {
            builder.with_root_certificates(roots(&o.ca_certs)?)
        };
        let mut config = match (&o.client_cert, &o.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(format!("--client-key {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_error(format!("--client-cert and --client-key do not go together: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(tls_error("--client-cert and --client-key go together".into())),
        };
        let mut h1 = config.clone();
        h1.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.alpn_protocols = o.alpn.clone();
        Ok(Tls { connector: TlsConnector::from(Arc::new(config)), h1: TlsConnector::from(Arc::new(h1)), insecure: o.insecure_skip_verify })
    }

    /// Whether the server chose HTTP/2 by ALPN on this connection.
    pub fn negotiated_h2(stream: &TlsStream<TcpStream>) -> bool {
        stream.get_ref().1.alpn_protocol() == Some(b"h2")
    }

    /// The TLS handshake with `host` over `tcp`, offering the operator's protocols; a
    /// failure is one line naming the host.
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        Self::handshake(&self.connector, host, tcp).await
    }

    /// [`Tls::connect`] offering HTTP/1.1 only (one-shot requests).
    pub async fn connect_h1(&self, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        Self::handshake(&self.h1, host, tcp).await
    }

    async fn handshake(c: &TlsConnector, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| tls_error(format!("'{host}' is not a TLS server name: {e}")))?;
        c.connect(name, tcp).await.map_err(|e| tls_error(describe(host, &e)))
    }
}

/// The system's trust store (read from local files) and the operator's CAs.
fn roots(extra: &[PathBuf]) -> Result<RootCertStore, NetError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: the operator's CAs may be all it needs.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for path in extra {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| tls_error(format!("--ca-cert {}: {e}", path.display())))?;
        }
    }
    Ok(roots)
}

fn read_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(format!("cannot read {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("{}: not PEM certificates ({e})", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

/// A handshake error in words, for the operator.
fn describe(host: &str, e: &std::io::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error};
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) else {
        return format!("TLS handshake with {host} failed: {e}");
    };
    match tls {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("certificate for {host} is not trusted: unknown issuer (give its CA with --ca-cert)")
        }
        Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            format!("certificate for {host} is not valid for that name")
        }
        Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            format!("certificate for {host} has expired")
        }
        Error::InvalidCertificate(other) => format!("certificate for {host} is not trusted: {other:?}"),
        Error::AlertReceived(AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure)
        | Error::AlertReceived(AlertDescription::BadCertificate) => {
            format!("{host} refused the TLS handshake ({tls}); does it require a client certificate (--client-cert, --client-key)?")
        }
        Error::AlertReceived(AlertDescription::NoApplicationProtocol) => {
            format!("{host} speaks none of the protocols offered by ALPN (--http2 on offers only h2; try --http2 auto)")
        }
        other => format!("TLS handshake with {host} failed: {other}"),
    }
}

/// `--insecure-skip-verify`: any certificate is accepted, signatures still checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

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

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
