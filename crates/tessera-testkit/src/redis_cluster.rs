//! A Redis Cluster of a test's own: three masters with a replica each,
//! `redis-server --cluster-enabled yes` processes on free loopback ports,
//! joined with `redis-cli --cluster create`. Killed on drop.
//!
//! Skip/fail rule ([`crate::service`]): without `redis-server` and
//! `redis-cli`, [`ThrowawayCluster::start`] prints the skip banner and
//! answers `None`, unless `CI=true`, where it panics.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::service::{skip_or_fail, Service};

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Nodes: three masters, then their three replicas.
const NODES: usize = 6;

/// The cluster's processes, their ports and their data directory.
pub struct ThrowawayCluster {
    /// Every node's port, masters first as created.
    pub ports: Vec<u16>,
    dir: PathBuf,
    children: Vec<Option<Child>>,
    /// Nodes stopped with `SIGSTOP` (they answer nothing).
    frozen: Vec<bool>,
    /// `cluster-node-timeout`: how long a silent node has before its
    /// replica takes over.
    node_timeout: Duration,
}

/// The node timeout of a cluster whose tests fail nodes over: short, so a
/// replica takes over within seconds.
const FAILOVER_NODE_TIMEOUT: Duration = Duration::from_secs(1);

/// The node timeout of a cluster whose tests never fail a node over: long
/// enough that a loaded machine's pauses (a busy CI runner) are not taken
/// for a failed master.
const STEADY_NODE_TIMEOUT: Duration = Duration::from_secs(10);

impl ThrowawayCluster {
    /// Starts and joins a cluster for tests that fail nodes over
    /// ([`ThrowawayCluster::fail_over`], [`ThrowawayCluster::freeze`]): a
    /// silent master is replaced after one second. `None` after the skip
    /// banner when `redis-server` or `redis-cli` is missing.
    pub fn start() -> Option<ThrowawayCluster> {
        ThrowawayCluster::start_with(FAILOVER_NODE_TIMEOUT)
    }

    /// Starts and joins a cluster for tests that need its topology to stay
    /// put: a master is replaced only after ten seconds of silence, so a
    /// loaded machine never fails one over in the middle of a test.
    pub fn start_steady() -> Option<ThrowawayCluster> {
        ThrowawayCluster::start_with(STEADY_NODE_TIMEOUT)
    }

    fn start_with(node_timeout: Duration) -> Option<ThrowawayCluster> {
        match ThrowawayCluster::try_start(node_timeout) {
            Ok(cluster) => Some(cluster),
            Err(e) => skip_or_fail(Service::Redis, &e),
        }
    }

    fn try_start(node_timeout: Duration) -> Result<ThrowawayCluster, String> {
        let dir = std::env::temp_dir().join(format!(
            "tessera-cluster-{}-{}",
            std::process::id(),
            tessera::generate_id(8)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut cluster = ThrowawayCluster {
            ports: (0..NODES).map(|_| free_port()).collect(),
            dir,
            children: (0..NODES).map(|_| None).collect(),
            frozen: vec![false; NODES],
            node_timeout,
        };
        for i in 0..NODES {
            cluster.spawn(i)?;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        if !created.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&created.stdout)
            ));
        }
        cluster.wait_until(Duration::from_secs(30), |c| {
            c.live_ports()
                .iter()
                .all(|p| c.info(*p, "cluster info").contains("cluster_state:ok"))
                && c.replicas_in_sync()
        })?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let port = self.ports[i].to_string();
        let node_timeout = self.node_timeout.as_millis().to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", &node_timeout])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.children[i] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.ports[i])).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("redis-server did not listen on {port} in time"))
    }

    /// `redis+cluster://` naming the three masters' ports as seeds.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The nodes running and answering.
    fn live_ports(&self) -> Vec<u16> {
        self.ports
            .iter()
            .zip(&self.children)
            .zip(&self.frozen)
            .filter(|((_, c), frozen)| c.is_some() && !**frozen)
            .map(|((p, _), _)| *p)
            .collect()
    }

    /// `redis-cli -p port <command…>` output ("" when it fails).
    pub fn info(&self, port: u16, command: &str) -> String {
        // Bounded: a node that hangs must not hang the test.
        Command::new("timeout")
            .args(["5", "redis-cli", "-p", &port.to_string()])
            .args(command.split(' '))
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Every live replica is linked to its master and has caught up.
    fn replicas_in_sync(&self) -> bool {
        let mut offsets = std::collections::HashMap::new();
        let mut replicas = Vec::new();
        for port in self.live_ports() {
            let info = self.info(port, "info replication");
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.trim().strip_prefix(name))
                    .map(str::to_owned)
            };
            match field("role:").as_deref() {
                Some("master") => {
                    offsets.insert(port, field("master_repl_offset:"));
                }
                Some("slave") => replicas.push((
                    field("master_port:").and_then(|p| p.parse::<u16>().ok()),
                    field("master_link_status:"),
                    field("slave_repl_offset:"),
                )),
                _ => return false,
            }
        }
        replicas.len() == NODES / 2
            && replicas.iter().all(|(master, link, offset)| {
                link.as_deref() == Some("up")
                    && master.is_some_and(|m| offsets.get(&m).is_some_and(|o| o == offset))
            })
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let any = self.live_ports()[0];
        let slot: u16 = self
            .info(any, &format!("cluster keyslot {key}"))
            .trim()
            .parse()
            .expect("a slot");
        let nodes = self.info(any, "cluster nodes");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let port: u16 = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a node address");
            for range in &fields[8..] {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                if let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) {
                    if (lo..=hi).contains(&slot) {
                        return port;
                    }
                }
            }
        }
        panic!("no master serves slot {slot}: {nodes}");
    }

    /// Waits until the replicas have every write their masters took.
    pub fn wait_replicated(&self) {
        self.wait_until(Duration::from_secs(10), ThrowawayCluster::replicas_in_sync)
            .expect("replicas catch up");
    }

    /// Kills the node on `port` (SIGKILL) and waits until its replica has
    /// taken over and the cluster serves every slot again.
    pub fn fail_over(&mut self, port: u16) {
        let i = self
            .ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster");
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.wait_until(Duration::from_secs(30), |c| {
            c.live_ports()
                .iter()
                .all(|p| c.info(*p, "cluster info").contains("cluster_state:ok"))
        })
        .expect("a replica takes over");
    }

    /// Stops the node on `port` with `SIGSTOP` (it hangs: connections are
    /// accepted, nothing is answered) and waits until its replica has taken
    /// over, as the other nodes see it.
    pub fn freeze(&mut self, port: u16) {
        let i = self
            .ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster");
        self.signal(i, "STOP");
        self.frozen[i] = true;
        self.wait_until(Duration::from_secs(30), |c| {
            c.live_ports().iter().all(|p| {
                c.info(*p, "cluster info").contains("cluster_state:ok")
                    && c.info(*p, "cluster nodes")
                        .lines()
                        .any(|l| l.contains(&format!(":{port}@")) && l.contains("fail"))
            })
        })
        .expect("a replica takes over from the frozen master");
    }

    /// Continues a node stopped by [`ThrowawayCluster::freeze`]; it rejoins
    /// as a replica, and this waits until it has caught up.
    pub fn thaw(&mut self, port: u16) {
        let i = self
            .ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster");
        self.signal(i, "CONT");
        self.frozen[i] = false;
        self.wait_until(Duration::from_secs(30), ThrowawayCluster::replicas_in_sync)
            .expect("the thawed node rejoins as a replica");
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(child) = &self.children[i] {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
        }
    }

    /// Starts the node on `port` again; it rejoins as a replica of the
    /// master that took over, and this waits until it has caught up.
    pub fn rejoin(&mut self, port: u16) {
        let i = self
            .ports
            .iter()
            .position(|p| *p == port)
            .expect("a node of this cluster");
        self.spawn(i).expect("the node starts again");
        self.wait_until(Duration::from_secs(30), ThrowawayCluster::replicas_in_sync)
            .expect("the node rejoins as a replica");
    }

    fn wait_until(
        &self,
        limit: Duration,
        ready: impl Fn(&ThrowawayCluster) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if ready(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("the cluster was not ready within {limit:?}"))
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        for i in 0..NODES {
            if self.frozen[i] {
                // A stopped process must be continued to die.
                self.signal(i, "CONT");
            }
        }
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
