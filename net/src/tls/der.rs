//! Just enough DER to read what the pinned-certificate check needs from an X.509
//! certificate that WebPKI will not read as a server's (its validity period and the
//! purposes its extended key usage allows), and the calendar arithmetic for it and for
//! dates in messages. Every length is checked against what is left; anything unexpected
//! is `None`, never a panic.

/// What the check needs from a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// Unix seconds (negative before 1970).
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// The certificate may identify a TLS server: it has no extended key usage, or one
    /// that lists `serverAuth` or `anyExtendedKeyUsage`.
    pub(crate) server_auth: bool,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT` (the version) and `[3] EXPLICIT` (the extensions) of a TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// 2.5.29.37, extKeyUsage.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// 1.3.6.1.5.5.7.3.1, serverAuth.
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// 2.5.29.37.0, anyExtendedKeyUsage.
const ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// One DER element at the start of `input`: (tag, contents, what follows).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        short @ 0..=0x7f => (usize::from(short), rest),
        // Long form, one to four length bytes (a certificate is far below 4 GiB).
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = rest.get(..count)?;
            let len = bytes.iter().try_fold(0usize, |acc, &b| acc.checked_mul(256)?.checked_add(usize::from(b)))?;
            (len, rest.get(count..)?)
        }
        _ => return None,
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The element at the start of `input` if it has `tag`: (contents, what follows).
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// A certificate's validity period and server-auth purpose.
pub(crate) fn validity(certificate: &[u8]) -> Option<Validity> {
    let (cert, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let tbs = match element(tbs)? {
        (VERSION, _, rest) => rest,
        _ => tbs,
    };
    let (_serial, rest) = expect(tbs, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (period, mut rest) = expect(rest, SEQUENCE)?;
    let (not_before, after) = time(period)?;
    let (not_after, _) = time(after)?;
    // subject, subjectPublicKeyInfo, then optional [1], [2] unique IDs and [3] extensions.
    let mut server_auth = true;
    while let Some((tag, contents, next)) = element(rest) {
        if tag == EXTENSIONS {
            server_auth = allows_server_auth(contents)?;
        }
        rest = next;
    }
    Some(Validity { not_before, not_after, server_auth })
}

/// Whether the extensions (the contents of `[3]`) allow a TLS server.
fn allows_server_auth(explicit: &[u8]) -> Option<bool> {
    let (mut list, _) = expect(explicit, SEQUENCE)?;
    while !list.is_empty() {
        let (extension, next) = expect(list, SEQUENCE)?;
        list = next;
        let (id, rest) = expect(extension, OID)?;
        if id != EXT_KEY_USAGE {
            continue;
        }
        let rest = match element(rest)? {
            (BOOLEAN, _, after) => after,
            _ => rest,
        };
        let (value, _) = expect(rest, OCTET_STRING)?;
        let (mut purposes, _) = expect(value, SEQUENCE)?;
        while !purposes.is_empty() {
            let (purpose, next) = expect(purposes, OID)?;
            if purpose == SERVER_AUTH || purpose == ANY_EXTENDED_KEY_USAGE {
                return Some(true);
            }
            purposes = next;
        }
        return Some(false);
    }
    Some(true)
}

/// A UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) at
/// the start of `input`, as Unix seconds.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, text, rest) = element(input)?;
    let (year, text) = match tag {
        UTC_TIME => {
            let yy = digits(text.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        GENERALIZED_TIME => (digits(text.get(..4)?)?, text.get(4..)?),
        _ => return None,
    };
    if text.len() != 11 || text[10] != b'Z' {
        return None;
    }
    let field = |at: usize| digits(&text[at..at + 2]);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(unix_secs: u64) -> String {
    let secs = i64::try_from(unix_secs).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", of_day / 3600, of_day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal certificate-shaped DER: version, serial, algorithm, issuer, validity,
    /// subject, key, and optionally an extended key usage.
    fn certificate(not_before: &[u8], not_after: &[u8], eku: Option<&[u8]>) -> Vec<u8> {
        fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match contents.len() {
                n @ 0..=0x7f => out.push(n as u8),
                n => out.extend([0x82, (n >> 8) as u8, n as u8]),
            }
            out.extend_from_slice(contents);
            out
        }
        let mut tbs = tlv(VERSION, &tlv(INTEGER, &[2]));
        tbs.extend(tlv(INTEGER, &[1]));
        tbs.extend(tlv(SEQUENCE, &[]));
        tbs.extend(tlv(SEQUENCE, &[]));
        let mut period = tlv(if not_before.len() == 13 { UTC_TIME } else { GENERALIZED_TIME }, not_before);
        period.extend(tlv(if not_after.len() == 13 { UTC_TIME } else { GENERALIZED_TIME }, not_after));
        tbs.extend(tlv(SEQUENCE, &period));
        tbs.extend(tlv(SEQUENCE, &[]));
        tbs.extend(tlv(SEQUENCE, &[0; 200]));
        if let Some(purpose) = eku {
            let mut extension = tlv(OID, EXT_KEY_USAGE);
            extension.extend(tlv(OCTET_STRING, &tlv(SEQUENCE, &tlv(OID, purpose))));
            tbs.extend(tlv(EXTENSIONS, &tlv(SEQUENCE, &tlv(SEQUENCE, &extension))));
        }
        tlv(SEQUENCE, &tlv(SEQUENCE, &tbs))
    }

    #[test]
    fn reads_the_validity_period_and_purpose() {
        let v = validity(&certificate(b"240102030405Z", b"20510607080910Z", None)).unwrap();
        assert_eq!(v, Validity { not_before: 1_704_164_645, not_after: 2_569_738_150, server_auth: true });
        assert_eq!(utc(v.not_before as u64), "2024-01-02 03:04 UTC");
        assert_eq!(utc(v.not_after as u64), "2051-06-07 08:09 UTC");
        // UTCTime's two-digit years: 50..99 are the 1900s.
        assert_eq!(validity(&certificate(b"500101000000Z", b"491231235959Z", None)).unwrap().not_before, -631_152_000);
        let client_only = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
        assert!(!validity(&certificate(b"240102030405Z", b"250102030405Z", Some(&client_only))).unwrap().server_auth);
        assert!(validity(&certificate(b"240102030405Z", b"250102030405Z", Some(SERVER_AUTH))).unwrap().server_auth);
    }

    #[test]
    fn refuses_what_is_not_a_certificate_without_panicking() {
        let good = certificate(b"240102030405Z", b"250102030405Z", Some(SERVER_AUTH));
        for cut in 0..good.len() {
            assert_eq!(validity(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(validity(&certificate(b"241302030405Z", b"250102030405Z", None)), None, "month 13");
        assert_eq!(validity(&certificate(b"2401020304x5Z", b"250102030405Z", None)), None);
        assert_eq!(validity(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None, "a nine-byte length");
        assert_eq!(validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn calendar_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }
}
