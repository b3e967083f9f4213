//! Linux network namespaces for partition tests: each node of a group runs in a namespace
//! of its own with its own address, and the namespaces are joined by a bridge in the
//! test's namespace, from which the test's clients reach every node. A partition between
//! two nodes is a route, in each node's namespace, that sends the packets for the other
//! to a neighbour that does not exist: they are dropped silently, as on a real network
//! that fails (no error comes back; connections time out), while clients still reach
//! both nodes.
//!
//! Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip` from iproute2; this machine
//! and CI have both.

use std::process::Command;

/// The namespaces and bridge of one group; all are deleted when it is dropped (after the
/// processes in them are gone: a process keeps a deleted namespace alive).
pub struct Net {
    bridge: String,
    namespaces: Vec<String>,
    /// The first three octets of the group's /24 network.
    prefix: String,
}

/// The host byte of the address to which cut traffic is routed: nothing answers there.
const NOWHERE: u8 = 253;
/// The host byte of the bridge's own address, in the test's namespace.
const BRIDGE: u8 = 254;

/// Runs `ip` with `args`; panics with its error output if it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2 is needed): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {} (network namespaces need root)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl Net {
    /// Namespaces for nodes 1..=n, each with the address [`host`](Self::host)`(id)`.
    pub fn create(n: usize) -> Net {
        // Names and the network are per test: tests run at once, in several processes.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let salt = std::process::id().wrapping_mul(2_654_435_761) ^ serial.wrapping_mul(40_503);
        let tag = format!("{:06x}", salt & 0xff_ffff);
        let prefix = format!("10.{}.{}", 100 + (salt >> 8) % 150, salt % 250);
        let net = Net {
            bridge: format!("fdb{tag}"),
            namespaces: (1..=n).map(|i| format!("fdb{tag}n{i}")).collect(),
            prefix,
        };
        let bridge_addr = format!("{}.{BRIDGE}/24", net.prefix);
        ip(&["link", "add", &net.bridge, "type", "bridge"]);
        ip(&["addr", "add", &bridge_addr, "dev", &net.bridge]);
        ip(&["link", "set", &net.bridge, "up"]);
        for (i, ns) in net.namespaces.iter().enumerate() {
            let outside = format!("fdb{tag}v{}", i + 1);
            let addr = format!("{}/24", net.host(i as u64 + 1));
            let nowhere = format!("{}.{NOWHERE}", net.prefix);
            ip(&["netns", "add", ns]);
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            ip(&["link", "set", &outside, "master", &net.bridge, "up"]);
            ip(&["-n", ns, "addr", "add", &addr, "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // A neighbour with an address no interface has: frames sent to it go nowhere.
            ip(&[
                "-n",
                ns,
                "neigh",
                "add",
                &nowhere,
                "lladdr",
                "02:00:00:00:00:01",
                "dev",
                "eth0",
                "nud",
                "permanent",
            ]);
        }
        net
    }

    /// The address of node `id`.
    pub fn host(&self, id: u64) -> String {
        format!("{}.{id}", self.prefix)
    }

    /// The namespace of node `id`.
    pub fn namespace(&self, id: u64) -> &str {
        &self.namespaces[(id - 1) as usize]
    }

    /// Drops (`true`) or lets through again every packet node `from` sends to node `to`.
    pub fn drop_traffic(&self, from: u64, to: u64, drop: bool) {
        let dst = format!("{}/32", self.host(to));
        let nowhere = format!("{}.{NOWHERE}", self.prefix);
        let ns = self.namespace(from);
        if drop {
            ip(&["-n", ns, "route", "replace", &dst, "via", &nowhere]);
        } else {
            // Already healed is fine: faults can overlap on one link.
            let _ = Command::new("ip")
                .args(["-n", ns, "route", "del", &dst])
                .output();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}
