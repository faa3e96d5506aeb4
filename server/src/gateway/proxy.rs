//! Clients behind a load balancer: the addresses of the proxies the
//! operator trusts (`--trusted-proxy`), HAProxy's PROXY protocol (v1 and
//! v2, parsed by `ppp`) on the mail listeners, and `X-Forwarded-For` on
//! the web — each believed only from a trusted proxy, so connection limits
//! and login lock-outs count the real client, and nobody else can claim
//! to be someone else.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The networks whose connections carry the real client's address.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// `10.0.0.0/8,192.168.1.5` (an address alone is one host).
    fn from_str(s: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = match part.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => IpNet::from(
                    part.parse::<IpAddr>()
                        .map_err(|_| format!("{part:?} is not an address or a network like 10.0.0.0/8"))?,
                ),
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client a web request comes from: `peer`, unless `peer` is a
    /// trusted proxy and `forwarded` (`X-Forwarded-For`) names another —
    /// then the last address in it that is not a trusted proxy itself
    /// (the ones before could have been written by the client).
    pub fn web_client(&self, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(forwarded) = forwarded else {
            return peer;
        };
        forwarded
            .rsplit(',')
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }
}

/// The longest PROXY header: v1's is at most 107 bytes; v2's is 16 and
/// the length it announces (addresses and TLVs), which we cap.
const V1_MAX: usize = 107;
const V2_MAX: usize = 16 + 512;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Reads the PROXY header a trusted proxy sends first, byte-exact (what
/// follows — a TLS ClientHello — stays unread), and returns the client's
/// address: the proxy's own for a `LOCAL` header (its health checks).
/// `None`: no valid header in time; the connection should be closed.
pub async fn read_header(tcp: &mut TcpStream, peer: SocketAddr, patience: Duration) -> Option<SocketAddr> {
    let read = async {
        let mut buf = vec![0u8; 16];
        tcp.read_exact(&mut buf[..6]).await.ok()?;
        if buf.starts_with(b"PROXY ") {
            buf.truncate(6);
            while !buf.ends_with(b"\r\n") && buf.len() < V1_MAX {
                buf.push(tcp.read_u8().await.ok()?);
            }
        } else {
            tcp.read_exact(&mut buf[6..]).await.ok()?;
            if !buf.starts_with(V2_SIGNATURE) {
                return None;
            }
            let length = u16::from_be_bytes([buf[14], buf[15]]) as usize;
            if 16 + length > V2_MAX {
                return None;
            }
            buf.resize(16 + length, 0);
            tcp.read_exact(&mut buf[16..]).await.ok()?;
        }
        Some(buf)
    };
    let header = tokio::time::timeout(patience, read).await.ok()??;
    client_of(&header, peer)
}

/// The client a complete PROXY header names.
fn client_of(header: &[u8], peer: SocketAddr) -> Option<SocketAddr> {
    use ppp::{HeaderResult, v1, v2};
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => match h.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
            v1::Addresses::Unknown => Some(peer),
        },
        HeaderResult::V2(Ok(h)) => match (h.command, h.addresses) {
            (v2::Command::Local, _) => Some(peer),
            (_, v2::Addresses::IPv4(a)) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
            (_, v2::Addresses::IPv6(a)) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
            (_, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => Some(peer),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_forwarded_for() {
        let t: TrustedProxies = "10.0.0.0/8, 192.168.1.5".parse().unwrap();
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("::ffff:10.1.2.3".parse().unwrap()));
        assert!(t.trusts("192.168.1.5".parse().unwrap()));
        assert!(!t.trusts("192.168.1.6".parse().unwrap()));
        assert!("nonsense".parse::<TrustedProxies>().is_err());

        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        // The client may write anything before the proxy's own entry.
        assert_eq!(
            t.web_client(proxy, Some("1.2.3.4, 198.51.100.7")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            t.web_client(proxy, Some("198.51.100.7, 10.0.0.2")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(t.web_client(proxy, None), proxy);
        // Not from a trusted proxy: the header is the client's own words.
        assert_eq!(t.web_client(stranger, Some("1.2.3.4")), stranger);
    }

    #[test]
    fn headers_of_both_versions() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let v1 = b"PROXY TCP4 198.51.100.7 10.0.0.1 40000 143\r\n";
        assert_eq!(client_of(v1, peer), Some("198.51.100.7:40000".parse().unwrap()));
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend([0x21, 0x11, 0, 12, 198, 51, 100, 7, 10, 0, 0, 1, 0x9c, 0x40, 0, 143]);
        assert_eq!(client_of(&v2, peer), Some("198.51.100.7:40000".parse().unwrap()));
        assert_eq!(client_of(b"GET / HTTP/1.1\r\n", peer), None);
    }
}
