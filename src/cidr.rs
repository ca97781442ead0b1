//! Address ranges (`10.0.0.0/8`, `2001:db8::/32`) for `--exempt`, and the key the per-address
//! limits count by: an IPv4 address, or the /64 an IPv6 address is in (one host is commonly
//! handed a whole /64, so counting single IPv6 addresses would limit nothing).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address and how many of its leading bits are the network's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// 127.0.0.0/8 and ::1: what `--exempt` is by default.
    pub fn loopback() -> [Cidr; 2] {
        [
            Cidr {
                net: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                bits: 8,
            },
            Cidr {
                net: IpAddr::V6(Ipv6Addr::LOCALHOST),
                bits: 128,
            },
        ]
    }

    /// Whether `ip` is in this network (an IPv4 address written as IPv6, `::ffff:a.b.c.d`,
    /// counts as the IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix(u32::from(net).into(), self.bits, 32)
                    == prefix(u32::from(ip).into(), self.bits, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(net.into(), self.bits, 128) == prefix(ip.into(), self.bits, 128)
            }
            _ => false,
        }
    }
}

/// The leading `bits` of a `width`-bit address.
fn prefix(addr: u128, bits: u8, width: u8) -> u128 {
    if bits == 0 { 0 } else { addr >> (width - bits) }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; any other unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the per-address limits count `ip` as: itself if IPv4, its /64 if IPv6.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDRESS/BITS`, or an address alone (all of its bits).
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}`: not an address range (10.0.0.0/8, 2001:db8::/32)"))?;
        let width = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => width,
            Some(b) => match b.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(format!("`{s}`: the prefix length is 0 to {width}")),
            },
        };
        Ok(Cidr { net, bits })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

/// One `--exempt` value: a range, or `none` (no address is exempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exempt {
    Range(Cidr),
    None,
}

impl FromStr for Exempt {
    type Err = String;

    fn from_str(s: &str) -> Result<Exempt, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(Exempt::None);
        }
        s.parse().map(Exempt::Range)
    }
}

impl fmt::Display for Exempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exempt::Range(c) => c.fmt(f),
            Exempt::None => f.write_str("none"),
        }
    }
}

/// The ranges a list of `--exempt` values names (`none` names none).
pub fn ranges(exempt: &[Exempt]) -> Vec<Cidr> {
    exempt
        .iter()
        .filter_map(|e| match e {
            Exempt::Range(c) => Some(*c),
            Exempt::None => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let ten = cidr("10.0.0.0/8");
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.0")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(
            !ten.contains(ip("::a01:203")),
            "an IPv6 address is not IPv4"
        );
        let one = cidr("192.0.2.7");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!cidr("0.0.0.0/0").contains(ip("::1")));
        let doc = cidr("2001:db8::/32");
        assert!(doc.contains(ip("2001:db8:ffff::1")));
        assert!(!doc.contains(ip("2001:db9::1")));
        assert!(cidr("::/0").contains(ip("::1")));
        let [v4, v6] = Cidr::loopback();
        assert!(v4.contains(ip("127.0.0.2")) && v6.contains(ip("::1")));
        assert!(!v4.contains(ip("128.0.0.1")) && !v6.contains(ip("::2")));
    }

    #[test]
    fn bad_ranges_are_refused_with_the_reason() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "x",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.starts_with(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert_eq!("NONE".parse::<Exempt>(), Ok(Exempt::None));
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.1.2.3/8");
        assert_eq!(cidr("::1").to_string(), "::1/128");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::1")),
            limit_key(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }

    #[test]
    fn none_names_no_range() {
        let list = [Exempt::None, Exempt::Range(cidr("10.0.0.0/8"))];
        assert_eq!(ranges(&list), vec![cidr("10.0.0.0/8")]);
        assert!(ranges(&[Exempt::None]).is_empty());
    }
}
