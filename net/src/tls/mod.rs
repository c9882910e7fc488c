//! TLS for targets and probes, with rustls (no OpenSSL): the system's trust store read
//! locally (nothing fetched), extra CAs (`--ca-cert`), a client certificate for mutual
//! TLS, and an explicit `--insecure-skip-verify` that the report records as a warning.
//!
//! A certificate given with `--ca-cert` is also trusted as the server's own certificate
//! when the server presents exactly it (a self-signed certificate, as curl's `--cacert`
//! trusts it), still checked for the name and validity period ([`verify`]).
//! Handshake failures become one line naming the host, the reason in words and the
//! next step ([`messages`]).

mod der;
mod messages;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::NetError;
use messages::Hints;
use verify::{AcceptAny, OperatorVerifier};

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
    /// What the operator gave, for the next step a failed handshake's message names.
    hints: Hints,
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
            let mut operator_cas = Vec::new();
            for path in &o.ca_certs {
                operator_cas.extend(read_certs(path)?.into_iter().map(|cert| (path.as_path(), cert)));
            }
            let roots = roots(&operator_cas)?;
            let verifier = OperatorVerifier::new(roots, operator_cas.into_iter().map(|(_, cert)| cert).collect(), provider);
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        };
        let mut config = match (&o.client_cert, &o.client_key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert)?;
                // Through the one reader for foreign files (a FIFO or a device is refused without blocking).
                let pem = volley_core::foreign_file::read(key, volley_core::foreign_file::Kind::CERTIFICATE)
                    .map_err(|e| tls_error(e.to_string()))?;
                let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| tls_error(format!("--client-key {}: {e}", key.display())))?;
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
        let hints = Hints {
            ca_certs: !o.ca_certs.is_empty(),
            client_cert: o.client_cert.is_some(),
            h2_only: o.alpn.len() == 1 && o.alpn[0] == b"h2",
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            h1: TlsConnector::from(Arc::new(h1)),
            insecure: o.insecure_skip_verify,
            hints,
        })
    }

    /// Whether the server chose HTTP/2 by ALPN on this connection.
    pub fn negotiated_h2(stream: &TlsStream<TcpStream>) -> bool {
        stream.get_ref().1.alpn_protocol() == Some(b"h2")
    }

    /// The TLS handshake with `host` over `tcp`, offering the operator's protocols; a
    /// failure is one line naming the host.
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        self.handshake(&self.connector, host, tcp).await
    }

    /// [`Tls::connect`] offering HTTP/1.1 only (one-shot requests).
    pub async fn connect_h1(&self, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        self.handshake(&self.h1, host, tcp).await
    }

    async fn handshake(&self, c: &TlsConnector, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| tls_error(format!("'{host}' is not a TLS server name: {e}")))?;
        c.connect(name, tcp).await.map_err(|e| tls_error(messages::describe(host, &e, self.hints)))
    }
}

/// The system's trust store (read from local files) and the operator's CAs.
fn roots(operator_cas: &[(&Path, CertificateDer<'static>)]) -> Result<RootCertStore, NetError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: the operator's CAs may be all it needs.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for (path, cert) in operator_cas {
        roots.add(cert.clone()).map_err(|e| {
            tls_error(format!("--ca-cert {}: a certificate in it cannot be used ({})", path.display(), messages::in_words(&e)))
        })?;
    }
    Ok(roots)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    // Through the one reader for foreign files (a FIFO or a device is refused without blocking).
    let pem = volley_core::foreign_file::read(path, volley_core::foreign_file::Kind::CERTIFICATE).map_err(|e| tls_error(e.to_string()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("{}: not PEM certificates ({e})", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}
