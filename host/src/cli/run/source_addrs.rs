//! `--source-addr ADDR[-ADDR]`: one local address, or an IPv4 range in which only the
//! last octet varies (`127.0.0.2-127.0.0.9`), gathered over repeats into the run's list.

use std::net::{IpAddr, Ipv4Addr};

/// Most source addresses a run takes: 256 × ~28,000 ports is far past any load here.
const MOST: usize = 256;

/// One `--source-addr` value.
pub(super) fn parse(text: &str) -> Result<Vec<IpAddr>, String> {
    let bad = || format!("'{}' is not ADDR or an IPv4 range A.B.C.D-A.B.C.E", volley::core::text::printable(text, 100));
    let Some((from, to)) = text.split_once('-') else {
        return text.trim().parse::<IpAddr>().map(|a| vec![a]).map_err(|_| bad());
    };
    let (from, to): (Ipv4Addr, Ipv4Addr) = (from.trim().parse().map_err(|_| bad())?, to.trim().parse().map_err(|_| bad())?);
    let (f, t) = (from.octets(), to.octets());
    if f[..3] != t[..3] || f[3] > t[3] {
        return Err(format!("{} runs backwards or across more than the last octet", bad()));
    }
    Ok((f[3]..=t[3]).map(|last| IpAddr::V4(Ipv4Addr::new(f[0], f[1], f[2], last))).collect())
}

/// Every `--source-addr`, in order, each address once.
pub(super) fn flatten(given: Vec<Vec<IpAddr>>) -> anyhow::Result<Vec<IpAddr>> {
    let mut all: Vec<IpAddr> = Vec::new();
    for a in given.into_iter().flatten() {
        if !all.contains(&a) {
            all.push(a);
        }
        // Here, not after: the check above is linear, so a long list stops at once.
        if all.len() > MOST {
            anyhow::bail!("--source-addr names more than {MOST} addresses");
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_or_a_range_of_last_octets() {
        assert_eq!(parse("::1").unwrap(), vec!["::1".parse::<IpAddr>().unwrap()]);
        let r = parse("127.0.0.2-127.0.0.9").unwrap();
        assert_eq!((r.len(), r[0].to_string(), r[7].to_string()), (8, "127.0.0.2".into(), "127.0.0.9".into()));
        assert!(parse("127.0.0.9-127.0.0.2").is_err());
        assert!(parse("127.0.0.2-127.0.1.2").is_err());
        assert!(parse("localhost").unwrap_err().contains("is not ADDR"));
        let all = flatten(vec![r, parse("127.0.0.2").unwrap()]).unwrap();
        assert_eq!(all.len(), 8, "each address once");
    }
}
