//! Where connections come from. One (source address, destination) pair has only the
//! ephemeral port range (~28,000 ports on Linux's default) for its connections, so a load
//! of tens of thousands of open streams runs out of them. With `--source-addr` the pool
//! binds each new connection to the next of the operator's local addresses in turn
//! (127.0.0.2–127.0.0.9 on loopback, a pod's or host's addresses in a cluster), each with
//! its own port range. Ports running out anyway is one line that says so and what helps.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// The local addresses new connections are bound to, in turn; empty: the kernel picks.
#[derive(Default)]
pub struct SourceAddrs {
    addrs: Box<[IpAddr]>,
    next: AtomicUsize,
}

impl SourceAddrs {
    pub fn new(addrs: Vec<IpAddr>) -> SourceAddrs {
        SourceAddrs { addrs: addrs.into_boxed_slice(), next: AtomicUsize::new(0) }
    }

    /// Each address is of the target's family and local to this host (it can be bound):
    /// one line naming the first that is not, before anything is sent.
    pub fn check(&self, target: SocketAddr) -> Result<(), String> {
        for &a in self.addrs.iter() {
            if a.is_ipv4() != target.is_ipv4() {
                return Err(format!("--source-addr {a} is not of the target's address family ({target})"));
            }
            let socket = socket_for(a).map_err(|e| format!("--source-addr {a}: {e}"))?;
            socket.bind(SocketAddr::new(a, 0)).map_err(|e| format!("--source-addr {a} is not an address of this host: {e}"))?;
        }
        Ok(())
    }

    /// A new connection to `to`, from the next source address when there are any.
    pub async fn connect(&self, to: SocketAddr) -> io::Result<TcpStream> {
        if self.addrs.is_empty() {
            return TcpStream::connect(to).await.map_err(|e| ran_out(e, None, to, 0));
        }
        let from = self.addrs[self.next.fetch_add(1, Ordering::Relaxed) % self.addrs.len()];
        let socket = socket_for(from)?;
        socket.bind(SocketAddr::new(from, 0)).map_err(|e| ran_out(e, Some(from), to, self.addrs.len()))?;
        socket.connect(to).await.map_err(|e| ran_out(e, Some(from), to, self.addrs.len()))
    }
}

fn socket_for(a: IpAddr) -> io::Result<TcpSocket> {
    if a.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
}

/// `e`, or when it says the local ports ran out (no address to assign, or none free to
/// bind), a line that says so and what helps; its kind is kept (a refused connection is
/// retried while a launched server starts).
fn ran_out(e: io::Error, from: Option<IpAddr>, to: SocketAddr, sources: usize) -> io::Error {
    let exhausted = matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE));
    if !exhausted {
        return e;
    }
    let what = match from {
        None => format!("local ports to {to} ran out (one source address has ~28,000); spread connections over more with --source-addr"),
        Some(a) => format!(
            "local ports from {a} to {to} ran out ({sources} source address{}); add more with --source-addr",
            if sources == 1 { "" } else { "es" }
        ),
    };
    io::Error::new(e.kind(), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_take_the_source_addresses_in_turn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let sources = SourceAddrs::new(vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()]);
        sources.check(to).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let _conn = sources.connect(to).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            seen.push(peer.ip().to_string());
        }
        assert_eq!(seen, ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]);
    }

    #[test]
    fn an_address_of_another_host_or_family_is_refused_in_one_line() {
        let to: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let other = SourceAddrs::new(vec!["192.0.2.1".parse().unwrap()]);
        let e = other.check(to).unwrap_err();
        assert!(e.starts_with("--source-addr 192.0.2.1 is not an address of this host"), "{e}");
        let v6 = SourceAddrs::new(vec!["::1".parse().unwrap()]);
        assert!(v6.check(to).unwrap_err().contains("address family"));
    }

    #[test]
    fn ports_running_out_says_what_helps() {
        let to: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let e = ran_out(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL), Some("127.0.0.2".parse().unwrap()), to, 1);
        assert!(e.to_string().starts_with("local ports from 127.0.0.2 to 127.0.0.1:80 ran out (1 source address)"), "{e}");
        let other = ran_out(io::Error::from_raw_os_error(libc::ECONNREFUSED), None, to, 0);
        assert_eq!(other.kind(), io::ErrorKind::ConnectionRefused);
    }
}
