//! The server under load: where it is, and the check that it is on this machine.

use anyhow::{Context, bail};
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// What speaks at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A `natter serve`: accounts, rooms, storage.
    Natter,
    /// The reference broadcast server: no auth, no storage.
    Reference,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub base: Url,
    pub addr: SocketAddr,
    pub flavor: Flavor,
    /// Every node sockets are spread over: `addr` first, then other nodes of its cluster.
    pub nodes: Vec<SocketAddr>,
}

impl Target {
    /// Parses `http://HOST:PORT` and refuses anything that is not a loopback address: load is
    /// only ever sent to this machine.
    pub fn new(base: &str, flavor: Flavor) -> anyhow::Result<Self> {
        let base = Url::parse(base)
            .with_context(|| format!("'{base}' is no URL: write http://127.0.0.1:8080"))?;
        if base.scheme() != "http" {
            bail!("only http:// targets are supported (got {base})");
        }
        let addrs: Vec<SocketAddr> = base
            .socket_addrs(|| Some(80))
            .with_context(|| format!("cannot resolve {base}"))?;
        let Some(addr) = addrs.first().copied() else {
            bail!("{base} resolves to nothing");
        };
        if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            bail!(
                "refusing to load {} ({bad}): the load tool only targets loopback addresses",
                base
            );
        }
        Ok(Self {
            base,
            addr,
            flavor,
            nodes: vec![addr],
        })
    }

    /// Spreads sockets over these other nodes of the same cluster too (`http://HOST:PORT`).
    pub fn with_nodes(mut self, others: &[String]) -> anyhow::Result<Self> {
        for other in others {
            let node = Self::new(other, self.flavor)?;
            self.nodes.push(node.addr);
        }
        Ok(self)
    }

    /// The node the `i`-th socket connects to.
    pub fn node(&self, i: usize) -> SocketAddr {
        self.nodes[i % self.nodes.len()]
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }
}

/// The `i`-th of `count` loopback source addresses (127.0.0.1, 127.0.0.2, ...): each has its
/// own range of ephemeral ports, so together they get past the limit of one address.
pub fn source_ip(i: usize, count: u8) -> IpAddr {
    let n = (i % usize::from(count.max(1))) as u8 + 1;
    IpAddr::from([127, 0, 0, n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(Target::new("http://127.0.0.1:8080", Flavor::Natter).is_ok());
        assert!(Target::new("http://localhost:8080", Flavor::Natter).is_ok());
        assert!(Target::new("http://[::1]:8080", Flavor::Natter).is_ok());
        for bad in [
            "http://10.0.0.1:8080",
            "http://192.168.1.2",
            "http://8.8.8.8:80",
            "https://127.0.0.1",
        ] {
            assert!(Target::new(bad, Flavor::Natter).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_addresses_cycle_through_loopback() {
        assert_eq!(source_ip(0, 3), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(source_ip(4, 3), IpAddr::from([127, 0, 0, 2]));
    }
}
