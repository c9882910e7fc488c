//! A failed TLS handshake in words a person understands, with the next step: which
//! certificate problem (unknown issuer, self-signed, expired or not yet valid, for other
//! names — and which —, revoked, badly signed, not for servers), what the server refused
//! (a client certificate it wants, no common TLS version or cipher, ALPN), and a server
//! that does not speak TLS at all. Never a Debug form: a variant without a message of its
//! own is turned into words. Names taken from the certificate are the server's choice
//! and go through [`printable`].

use rustls::{AlertDescription, CertificateError, Error, PeerIncompatible};
use volley_core::text::printable;

use super::der;

/// What the operator gave, so a message can name the next step that applies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hints {
    /// `--ca-cert` was given.
    pub(crate) ca_certs: bool,
    /// `--client-cert` was given.
    pub(crate) client_cert: bool,
    /// Only `h2` is offered by ALPN (`--http2 on`).
    pub(crate) h2_only: bool,
}

/// Most certificate names listed in a message.
const MAX_NAMES_SHOWN: usize = 6;

/// A handshake error with `host`, as returned by tokio-rustls.
pub(crate) fn describe(host: &str, e: &std::io::Error, hints: Hints) -> String {
    let host = printable(host, 256);
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        return message(&host, tls, hints);
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => format!(
            "{host} closed the connection during the TLS handshake: is it a plain-HTTP server (then use http:// in --target), \
             or a TLS server that accepts none of what Volley offers (TLS 1.2 or 1.3)?"
        ),
        _ => format!("TLS handshake with {host} failed: {e}"),
    }
}

/// `e` in words, without a host (e.g. a `--ca-cert` file rustls cannot use).
pub(crate) fn in_words(e: &Error) -> String {
    match e {
        Error::InvalidCertificate(c) => certificate_words(c),
        other => words_of(other),
    }
}

/// The message for a rustls error in the handshake with `host` (already printable).
fn message(host: &str, e: &Error, hints: Hints) -> String {
    match e {
        Error::InvalidCertificate(c) => certificate_message(host, c, hints),
        Error::AlertReceived(alert) => alert_message(host, *alert, hints),
        Error::PeerIncompatible(why) => incompatible_message(host, why),
        Error::NoApplicationProtocol => alpn_message(host, hints),
        Error::InvalidMessage(_) => format!(
            "{host} did not answer in TLS (its first bytes are not a TLS record): is it a plain-HTTP server? Then use http:// in --target"
        ),
        Error::NoCertificatesPresented => format!("{host} presented no certificate in the TLS handshake; check the server's TLS settings"),
        Error::UnsupportedNameType => format!("'{host}' cannot be sent as a TLS server name; use a DNS name or an IP address in --target"),
        other => format!("TLS handshake with {host} failed: {}", words_of(other)),
    }
}

fn certificate_message(host: &str, c: &CertificateError, hints: Hints) -> String {
    let untrusted = format!("certificate for {host} is not trusted");
    match c {
        CertificateError::UnknownIssuer => {
            let step = match hints.ca_certs {
                true => {
                    "none of the --ca-cert certificates nor the system's CAs signed it; give the CA that did, or the server's own certificate, with --ca-cert FILE"
                }
                false => "give the CA's certificate, or the server's own certificate, with --ca-cert FILE",
            };
            format!("{untrusted}: unknown issuer (a private CA, or a self-signed certificate); {step}")
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                let step = match hints.ca_certs {
                    true => "it is none of the --ca-cert certificates; give the server's own certificate with --ca-cert FILE",
                    false => "give that same certificate with --ca-cert FILE to trust it as it is (as curl's --cacert does)",
                };
                format!("{untrusted}: it is self-signed (a CA certificate used as the server's own); {step}")
            }
            Some(w) => format!("{untrusted}: {}; the server needs a certificate that a standard check accepts", webpki_words(w)),
            None => format!("{untrusted}: {}", words_of(&other.to_string())),
        },
        CertificateError::Expired => format!("certificate for {host} has expired; renew it on the server (or fix this machine's clock)"),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "certificate for {host} expired on {} ({} ago); renew it on the server (or fix this machine's clock)",
            der::utc(not_after.as_secs()),
            span(time.as_secs().saturating_sub(not_after.as_secs()))
        ),
        CertificateError::NotValidYet => {
            format!("certificate for {host} is not valid yet; check this machine's clock and the server's")
        }
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "certificate for {host} is not valid until {} ({} from now); check this machine's clock and the server's",
            der::utc(not_before.as_secs()),
            span(not_before.as_secs().saturating_sub(time.as_secs()))
        ),
        CertificateError::NotValidForName => format!(
            "certificate for {host} is for other names, not {host}; use a name it is for in --target, or give the server a certificate for {host}"
        ),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names = names(presented);
            format!(
                "certificate for {host} is not valid for that name: it is for {names}; use one of those in --target (same address), \
                 or give the server a certificate for {host}"
            )
        }
        CertificateError::Revoked => format!("certificate for {host} has been revoked by its CA; the server needs a new certificate"),
        CertificateError::BadSignature => format!(
            "{untrusted}: a signature in its chain does not verify (a corrupt or forged chain); check the certificate chain the server sends"
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => format!(
            "{untrusted}: it is not for TLS servers (its extended key usage lacks serverAuth); reissue it with extendedKeyUsage=serverAuth"
        ),
        CertificateError::BadEncoding => {
            format!("certificate for {host} is malformed (not valid DER); check the server's certificate file")
        }
        _ => match unsupported_algorithm(c) {
            true => format!(
                "{untrusted}: it is signed with an algorithm Volley does not support; reissue it with RSA (2048+), ECDSA P-256/P-384 or Ed25519"
            ),
            false => format!("{untrusted}: {}", certificate_words(c)),
        },
    }
}

#[allow(deprecated)] // UnsupportedSignatureAlgorithm is still what some paths return
fn unsupported_algorithm(c: &CertificateError) -> bool {
    matches!(
        c,
        CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
    )
}

fn alert_message(host: &str, alert: AlertDescription, hints: Hints) -> String {
    use AlertDescription as A;
    match alert {
        A::CertificateRequired => match hints.client_cert {
            true => {
                format!("{host} asked for a client certificate and did not accept --client-cert; check that it is one the server trusts")
            }
            false => format!("{host} requires a client certificate (mutual TLS): give one with --client-cert FILE --client-key FILE"),
        },
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateRevoked
        | A::CertificateExpired
        | A::CertificateUnknown
        | A::UnknownCA
        | A::AccessDenied => match hints.client_cert {
            true => format!(
                "{host} refused Volley's client certificate ({}): check that --client-cert is valid and signed by a CA the server trusts",
                words_of(&alert)
            ),
            false => format!(
                "{host} refused the TLS handshake ({}); does it require a client certificate (--client-cert, --client-key)?",
                words_of(&alert)
            ),
        },
        A::HandshakeFailure => {
            let client = match hints.client_cert {
                true => "it may not accept --client-cert, ",
                false => "it may require a client certificate (--client-cert, --client-key), ",
            };
            format!(
                "{host} refused the TLS handshake (handshake failure): {client}or share no TLS version or cipher suite with Volley \
                 (TLS 1.2 or 1.3, modern ciphers)"
            )
        }
        A::ProtocolVersion | A::InsufficientSecurity => format!(
            "{host} shares no TLS version or cipher suite with Volley ({}): Volley speaks TLS 1.2 and 1.3 with modern ciphers; \
             enable those on the server",
            words_of(&alert)
        ),
        A::NoApplicationProtocol => alpn_message(host, hints),
        A::UnrecognisedName => {
            format!("{host} does not serve the name {host} (unrecognised name); use the name the server is configured for in --target")
        }
        A::Unknown(code) => format!("TLS handshake with {host} failed: the server sent an alert of unknown code {code}"),
        other => format!("TLS handshake with {host} failed: the server sent the alert '{}'", words_of(&other)),
    }
}

fn incompatible_message(host: &str, why: &PeerIncompatible) -> String {
    use PeerIncompatible as P;
    match why {
        P::ServerDoesNotSupportTls12Or13 | P::ServerTlsVersionIsDisabledByOurConfig | P::SupportedVersionsExtensionRequired => {
            format!("{host} speaks no TLS version Volley does (1.2 or 1.3; older versions are insecure): upgrade the server's TLS settings")
        }
        P::NoCipherSuitesInCommon | P::NoKxGroupsInCommon | P::NoSignatureSchemesInCommon => format!(
            "{host} shares no cipher suite, key exchange or signature scheme with Volley ({}): enable modern ones on the server",
            words_of(why)
        ),
        other => format!("TLS handshake with {host} failed: the server is incompatible ({})", words_of(other)),
    }
}

fn alpn_message(host: &str, hints: Hints) -> String {
    match hints.h2_only {
        true => format!("{host} speaks none of the protocols offered by ALPN (--http2 on offers only h2; try --http2 auto)"),
        false => format!("{host} speaks none of the protocols offered by ALPN (h2, http/1.1); try --http2 off"),
    }
}

/// A certificate problem in words, without a host.
fn certificate_words(c: &CertificateError) -> String {
    match c {
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(w) => webpki_words(w),
            None => words_of(&other.to_string()),
        },
        other => words_of(other),
    }
}

/// What WebPKI refused, in words.
fn webpki_words(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => "it is a CA certificate used as the server's own (self-signed)".into(),
        W::EndEntityUsedAsCa => "a server certificate was used to sign another".into(),
        W::UnsupportedCertVersion => "it is an X.509 v1 certificate; reissue it as v3 (with extensions)".into(),
        W::PathLenConstraintViolated | W::NameConstraintViolation => "its chain breaks a constraint of one of its CAs".into(),
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded | W::MaximumSignatureChecksExceeded => {
            "its chain is too long or too tangled to check".into()
        }
        W::UnsupportedCriticalExtension => "it has a critical extension that cannot be checked".into(),
        other => words_of(other),
    }
}

/// The names a certificate is for (the server's choice), a few of them, printable.
/// WebPKI lists them as `DnsName("a.example")`, `IpAddress(10.0.0.7)`: only the name
/// is shown.
fn names(presented: &[String]) -> String {
    let all: Vec<&str> = presented.iter().filter_map(|n| presented_name(n)).collect();
    if all.is_empty() {
        return "no DNS name or IP address".to_string();
    }
    let mut shown: Vec<String> = all.iter().take(MAX_NAMES_SHOWN).map(|n| printable(n, 100)).collect();
    if all.len() > MAX_NAMES_SHOWN {
        shown.push(format!("{} more", all.len() - MAX_NAMES_SHOWN));
    }
    shown.join(", ")
}

/// The name in one of WebPKI's presented names; None for a kind that is no host name
/// (a directory name, an unsupported kind).
fn presented_name(listed: &str) -> Option<&str> {
    let (kind, rest) = listed.split_once('(')?;
    let inner = rest.strip_suffix(')')?;
    match kind {
        "DnsName" | "UniformResourceIdentifier" => Some(inner.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(inner)),
        "IpAddress" => Some(inner),
        _ => None,
    }
}

/// A duration as a person says it: seconds, minutes, hours or days.
fn span(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} minutes", secs / 60),
        7200..172_800 => format!("{} hours", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// A variant's Debug name as words: `NoCipherSuitesInCommon` → "no cipher suites in
/// common". Only the leading name is kept (no payload), so no Debug form reaches the
/// operator.
fn words_of(value: &dyn std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let debug = debug.trim_matches('"');
    let name: String = debug.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == ' ').collect();
    let mut out = String::with_capacity(name.len() + 8);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    match out.trim() {
        "" => "an unexpected error".to_string(),
        words => words.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::OtherError;
    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    const HOST: &str = "127.0.0.1";

    fn no_hints() -> Hints {
        Hints::default()
    }

    fn webpki_other(e: webpki::Error) -> Error {
        Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    /// Every message: one line, no Debug form, the host, no raw control character.
    fn check(m: &str) {
        assert!(!m.contains('\n') && !m.contains('\r') && !m.contains('\u{1b}'), "{m:?}");
        for debug_mark in ["Other(", "OtherError", "Context {", "{ ", "Some(", "AlertReceived", "InvalidCertificate"] {
            assert!(!m.contains(debug_mark), "a Debug form in {m:?}");
        }
    }

    fn says(e: &Error, hints: Hints, parts: &[&str]) -> String {
        let m = message(HOST, e, hints);
        check(&m);
        for part in parts {
            assert!(m.contains(part), "{m:?} lacks {part:?}");
        }
        m
    }

    #[test]
    fn a_self_signed_certificate_points_at_ca_cert() {
        let e = webpki_other(webpki::Error::CaUsedAsEndEntity);
        says(&e, no_hints(), &["certificate for 127.0.0.1 is not trusted", "self-signed", "with --ca-cert FILE", "as it is"]);
        let given = Hints { ca_certs: true, ..no_hints() };
        says(&e, given, &["none of the --ca-cert certificates", "server's own certificate"]);
        says(&Error::InvalidCertificate(CertificateError::UnknownIssuer), no_hints(), &["not trusted: unknown issuer", "--ca-cert FILE"]);
        says(&Error::InvalidCertificate(CertificateError::UnknownIssuer), given, &["none of the --ca-cert certificates"]);
    }

    #[test]
    fn dates_names_and_purposes_in_words() {
        let expired = CertificateError::ExpiredContext { time: at(1_704_164_645 + 3 * 86_400), not_after: at(1_704_164_645) };
        says(&expired.into(), no_hints(), &["expired on 2024-01-02 03:04 UTC (3 days ago)", "renew it"]);
        let early = CertificateError::NotValidYetContext { time: at(1_000), not_before: at(1_000 + 7_200) };
        says(&early.into(), no_hints(), &["not valid until 1970-01-01 02:16 UTC (2 hours from now)", "clock"]);
        let other_names = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.1").unwrap(),
            presented: vec![
                "DnsName(\"a.example\")".into(),
                "IpAddress(10.0.0.7)".into(),
                "DirectoryName".into(),
                "DnsName(\"evil\x1b]52;c;aGk=\x07\nname\")".into(),
            ],
        };
        let m = says(&other_names.into(), no_hints(), &["it is for a.example, 10.0.0.7, evil", "use one of those in --target"]);
        assert!(m.contains("evil\\u{1b}]52") && m.contains("\\n"), "the certificate's names are made printable: {m}");
        let many = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.1").unwrap(),
            presented: (0..50).map(|i| format!("DnsName(\"n{i}.example\")")).collect(),
        };
        says(&many.into(), no_hints(), &["n5.example, 44 more"]);
        says(&CertificateError::Revoked.into(), no_hints(), &["revoked"]);
        says(&CertificateError::BadSignature.into(), no_hints(), &["does not verify"]);
        says(&CertificateError::InvalidPurpose.into(), no_hints(), &["serverAuth"]);
        says(&CertificateError::BadEncoding.into(), no_hints(), &["malformed"]);
        #[allow(deprecated)]
        let algorithm = CertificateError::UnsupportedSignatureAlgorithm;
        says(&algorithm.into(), no_hints(), &["algorithm Volley does not support"]);
        says(&webpki_other(webpki::Error::UnsupportedCertVersion), no_hints(), &["v1 certificate"]);
        says(&webpki_other(webpki::Error::InvalidSerialNumber), no_hints(), &["not trusted: invalid serial number"]);
    }

    #[test]
    fn what_the_server_refused() {
        let alert = |a| Error::AlertReceived(a);
        says(&alert(AlertDescription::CertificateRequired), no_hints(), &["requires a client certificate", "--client-cert FILE"]);
        let with_client = Hints { client_cert: true, ..no_hints() };
        says(&alert(AlertDescription::UnknownCA), with_client, &["refused Volley's client certificate (unknown ca)"]);
        says(&alert(AlertDescription::BadCertificate), no_hints(), &["(bad certificate)", "--client-cert"]);
        says(&alert(AlertDescription::HandshakeFailure), no_hints(), &["client certificate", "TLS version or cipher suite"]);
        says(&alert(AlertDescription::ProtocolVersion), no_hints(), &["no TLS version", "TLS 1.2 and 1.3"]);
        says(&Error::PeerIncompatible(PeerIncompatible::ServerDoesNotSupportTls12Or13), no_hints(), &["1.2 or 1.3"]);
        says(&Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon), no_hints(), &["(no cipher suites in common)"]);
        let h2 = Hints { h2_only: true, ..no_hints() };
        says(&alert(AlertDescription::NoApplicationProtocol), h2, &["speaks none of the protocols offered by ALPN", "--http2 auto"]);
        says(&Error::NoApplicationProtocol, no_hints(), &["--http2 off"]);
        says(&alert(AlertDescription::UnrecognisedName), no_hints(), &["unrecognised name"]);
        says(&alert(AlertDescription::Unknown(200)), no_hints(), &["an alert of unknown code 200"]);
        says(&alert(AlertDescription::DecodeError), no_hints(), &["the alert 'decode error'"]);
    }

    #[test]
    fn a_plain_http_server_behind_https() {
        let e = Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        says(&e, no_hints(), &["did not answer in TLS", "use http:// in --target"]);
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof");
        let m = describe(HOST, &eof, no_hints());
        check(&m);
        assert!(m.contains("plain-HTTP server") && m.contains("http://"), "{m}");
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, Error::from(CertificateError::UnknownIssuer));
        assert!(describe(HOST, &wrapped, no_hints()).contains("unknown issuer"));
    }

    #[test]
    fn variants_without_a_message_become_words() {
        assert_eq!(words_of(&PeerIncompatible::Tls12NotOffered), "tls12 not offered");
        assert_eq!(words_of(&AlertDescription::InappropriateFallback), "inappropriate fallback");
        assert_eq!(words_of(&"CaUsedAsEndEntity"), "ca used as end entity");
        assert_eq!(in_words(&CertificateError::BadEncoding.into()), "bad encoding");
        says(&Error::DecryptError, no_hints(), &["TLS handshake with 127.0.0.1 failed: decrypt error"]);
        let ech = Error::PeerIncompatible(PeerIncompatible::ServerRejectedEncryptedClientHello(None));
        says(&ech, no_hints(), &["server rejected encrypted client hello"]);
    }
}
