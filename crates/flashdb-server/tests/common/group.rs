//! A replication group of real `flashdb` processes on this machine, for tests: free ports,
//! one data directory per node, every node killed when the group is dropped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::netns::Net;
use super::{temp_dir, Raw, TestServer};

/// The group port of every node in its own network namespace: all namespaces' ports are
/// free.
const NETNS_RAFT_PORT: u16 = 7000;

/// A port that was free a moment ago (the group's ports must be known before any node
/// starts, since each node is given all of them).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A group of `n` nodes, ids 1..=n.
pub struct Group {
    /// The running nodes, by id - 1 (`None` while a node is stopped).
    pub nodes: Vec<Option<TestServer>>,
    dirs: Vec<PathBuf>,
    raft_ports: Vec<u16>,
    peers: String,
    /// With [`Group::start_in_namespaces`], the namespaces the nodes run in. Declared
    /// last of the fields that hold processes' resources, and dropped after the nodes
    /// are killed (in `drop`).
    net: Option<Net>,
    /// Environment variables of each node (by id - 1) at its next start.
    envs: Vec<Vec<(String, String)>>,
    /// Flags given to every node.
    extra: Vec<String>,
}

impl Group {
    /// Starts `n` nodes on empty directories and waits until they have a leader.
    pub fn start(n: usize) -> Group {
        Self::start_with(n, false)
    }

    /// [`start`](Self::start), each node in a network namespace of its own (see
    /// [`Net`]), so that [`partition`](Self::partition) and [`cut`](Self::cut) can drop
    /// the traffic between nodes.
    pub fn start_in_namespaces(n: usize) -> Group {
        Self::start_with(n, true)
    }

    /// [`start`](Self::start), with environment variables for node 1 (failpoints, say).
    pub fn start_with_env_for_node_1(n: usize, env: &[(&str, &str)]) -> Group {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_inner(n, false, env)
    }

    fn start_with(n: usize, namespaced: bool) -> Group {
        Self::start_inner(n, namespaced, Vec::new())
    }

    /// [`start`](Self::start), with `flags` given to every node.
    pub fn start_with_flags(n: usize, flags: &[&str]) -> Group {
        Self::start_full(n, false, Vec::new(), flags)
    }

    fn start_inner(n: usize, namespaced: bool, env_1: Vec<(String, String)>) -> Group {
        Self::start_full(n, namespaced, env_1, &[])
    }

    fn start_full(
        n: usize,
        namespaced: bool,
        env_1: Vec<(String, String)>,
        flags: &[&str],
    ) -> Group {
        // A port found free can be taken before the node binds it (by another test):
        // then the whole group starts again on other ports.
        // Nodes in namespaces are other machines to the test's clients: without a
        // password, protected mode would refuse them.
        let mut flags = flags.to_vec();
        if namespaced {
            flags.extend(["--protected-mode", "no"]);
        }
        let flags = flags.as_slice();
        for _ in 0..5 {
            if let Some(g) = Self::try_start_with(n, namespaced, &env_1, flags) {
                g.wait_leader();
                return g;
            }
        }
        panic!("could not start a group of {n}: its ports kept being taken");
    }

    fn try_start_with(
        n: usize,
        namespaced: bool,
        env_1: &[(String, String)],
        flags: &[&str],
    ) -> Option<Group> {
        let net = namespaced.then(|| Net::create(n));
        let raft_ports: Vec<u16> = match &net {
            Some(_) => vec![NETNS_RAFT_PORT; n],
            None => (0..n).map(|_| free_port()).collect(),
        };
        let peers = raft_ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let host = net
                    .as_ref()
                    .map_or("127.0.0.1".to_string(), |net| net.host(i as u64 + 1));
                format!("{}@{host}:{p}", i + 1)
            })
            .collect::<Vec<_>>()
            .join(",");
        let dirs: Vec<PathBuf> = (0..n)
            .map(|i| temp_dir(&format!("group-n{}", i + 1)))
            .collect();
        let mut g = Group {
            nodes: (0..n).map(|_| None).collect(),
            dirs,
            raft_ports,
            peers,
            net,
            envs: (0..n)
                .map(|i| if i == 0 { env_1.to_vec() } else { Vec::new() })
                .collect(),
            extra: flags.iter().map(|f| f.to_string()).collect(),
        };
        for id in 1..=n as u64 {
            if !g.try_start_node(id) {
                return None;
            }
        }
        Some(g)
    }

    /// Starts (or restarts) node `id` on its directory, trying again for a while if its
    /// group port is taken meanwhile (by an outgoing connection's local port, say).
    pub fn start_node(&mut self, id: u64) {
        for _ in 0..50 {
            if self.try_start_node(id) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("node {id} could not start: its group port stayed taken");
    }

    fn try_start_node(&mut self, id: u64) -> bool {
        let i = (id - 1) as usize;
        let port = self.raft_ports[i].to_string();
        let id_s = id.to_string();
        let mut args = vec![
            "--node-id",
            id_s.as_str(),
            "--raft-port",
            port.as_str(),
            "--peers",
            self.peers.as_str(),
        ];
        args.extend(self.extra.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = self.envs[i]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let host = self.net.as_ref().map(|n| n.host(id));
        let netns = self
            .net
            .as_ref()
            .zip(host.as_deref())
            .map(|(n, h)| (n.namespace(id), h));
        self.nodes[i] = TestServer::try_spawn_at(&self.dirs[i], &args, &env, netns);
        match &self.nodes[i] {
            Some(s) => {
                s.wait_ready();
                true
            }
            None => false,
        }
    }

    /// Starts a new node, with the next id, on an empty directory: with the group's peers
    /// and itself in `--peers` (it waits to be added), or `alone` (it forms a group of its
    /// own). Returns its id; [`raft_addr`](Self::raft_addr) says where it listens.
    pub fn spawn_new(&mut self, alone: bool) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        self.raft_ports.push(free_port());
        self.dirs.push(temp_dir(&format!("group-n{id}")));
        self.nodes.push(None);
        self.envs.push(Vec::new());
        let me = format!("{id}@{}", self.raft_addr(id));
        let peers = if alone {
            me
        } else {
            format!("{},{me}", self.peers)
        };
        let (port, id_s) = (
            self.raft_ports[(id - 1) as usize].to_string(),
            id.to_string(),
        );
        let args = [
            "--node-id",
            id_s.as_str(),
            "--raft-port",
            port.as_str(),
            "--peers",
            peers.as_str(),
        ];
        self.nodes[(id - 1) as usize] = Some(TestServer::start_in(
            &self.dirs[(id - 1) as usize],
            &args,
            &[],
        ));
        id
    }

    /// `HOST:PORT` of node `id`'s group port.
    pub fn raft_addr(&self, id: u64) -> String {
        let host = self
            .net
            .as_ref()
            .map_or("127.0.0.1".to_string(), |n| n.host(id));
        format!("{host}:{}", self.raft_ports[(id - 1) as usize])
    }

    /// The node `id`, which must be running.
    pub fn node(&self, id: u64) -> &TestServer {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("node {id} is stopped"))
    }

    /// Kills node `id` with SIGKILL.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut s) = self.nodes[(id - 1) as usize].take() {
            s.kill9();
        }
    }

    /// Drops (or lets through again) every packet the other nodes send to node `id`,
    /// while what it sends still arrives: a one-way partition. Needs a group started
    /// with [`start_in_namespaces`](Self::start_in_namespaces).
    pub fn cut(&self, id: u64, cut: bool) {
        let net = self.net.as_ref().expect("a group in network namespaces");
        for other in (1..=self.nodes.len() as u64).filter(|o| *o != id) {
            net.drop_traffic(other, id, cut);
        }
    }

    /// Drops (or lets through again) the packets between nodes `a` and `b`, both ways.
    /// Needs a group started with [`start_in_namespaces`](Self::start_in_namespaces).
    pub fn partition(&self, a: u64, b: u64, cut: bool) {
        let net = self.net.as_ref().expect("a group in network namespaces");
        net.drop_traffic(a, b, cut);
        net.drop_traffic(b, a, cut);
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) node `id`'s process.
    pub fn pause(&self, id: u64, pause: bool) {
        let pid = self.node(id).pid().to_string();
        let sig = if pause { "-STOP" } else { "-CONT" };
        let _ = std::process::Command::new("kill")
            .args([sig, pid.as_str()])
            .status();
    }

    /// Whether node `id` is running.
    pub fn is_running(&self, id: u64) -> bool {
        self.nodes[(id - 1) as usize].is_some()
    }

    /// The client port of node `id`, if it is running.
    pub fn port(&self, id: u64) -> Option<u16> {
        self.nodes[(id - 1) as usize].as_ref().map(|s| s.port)
    }

    /// The client address (`host`, `port`) of node `id`, if it is running.
    pub fn addr(&self, id: u64) -> Option<(String, u16)> {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .map(|s| (s.host.clone(), s.port))
    }

    /// A raw connection to node `id`.
    pub fn raw(&self, id: u64) -> Raw {
        self.node(id).raw()
    }

    /// The leader's id as a running node reports it in `INFO replication`.
    pub fn leader(&self) -> Option<u64> {
        for s in self.nodes.iter().flatten() {
            let mut c = s.raw();
            let info = c.try_call(&["INFO", "replication"])?;
            let role_master = info.contains("role:master");
            let leader = info
                .lines()
                .find_map(|l| l.strip_prefix("raft_leader_id:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&id| id > 0);
            let me = info
                .lines()
                .find_map(|l| l.strip_prefix("raft_node_id:"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            if role_master && leader == me {
                return leader;
            }
        }
        None
    }

    /// Waits (up to 20 s) until some running node leads, and returns its id.
    pub fn wait_leader(&self) -> u64 {
        let start = Instant::now();
        loop {
            if let Some(id) = self.leader() {
                return id;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no leader elected within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // A stopped process cannot die of SIGKILL until it is continued.
        for id in 1..=self.nodes.len() as u64 {
            if self.is_running(id) {
                self.pause(id, false);
            }
        }
        for n in self.nodes.iter_mut() {
            if let Some(mut s) = n.take() {
                s.kill9();
            }
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
