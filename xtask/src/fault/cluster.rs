//! A Redis Cluster of the run's own, for `--cluster`: six `redis-server`
//! on loopback ports, three masters with a replica each, no persistence
//! (replication is the durability). The run freezes or kills one master,
//! waits for its replica to take over, and brings the old master back as
//! a replica of the new one. The nodes are asked over plain RESP with
//! short timeouts, so a frozen node never hangs the run. Every node is
//! killed on drop.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::processes::signal;

/// Three masters, then as many replicas.
const NODES: usize = 6;
const SHARDS: usize = NODES / 2;
/// Hash slots in a Redis Cluster.
const SLOTS: u16 = 16384;
/// A node's cluster bus listens on its port plus this.
const BUS_OFFSET: u16 = 10_000;
const NODE_TIMEOUT_MS: &str = "1000";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two looks at the cluster while waiting for it: short, since
/// the run times the failover and the rejoin by them.
const POLL: Duration = Duration::from_millis(20);
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// The cluster's nodes, which shard each belongs to, and their processes.
pub(super) struct PrivateCluster {
    ports: [u16; NODES],
    /// The shard of each node: a failover swaps the roles of a shard's
    /// two nodes, never its slots.
    shard_of_node: [usize; NODES],
    /// Each shard's slot ranges, shards ordered by their first slot.
    slots: Vec<Vec<(u16, u16)>>,
    dir: PathBuf,
    children: [Option<Child>; NODES],
    frozen: [bool; NODES],
    starts: [u32; NODES],
}

impl PrivateCluster {
    /// Starts six nodes, joins them (`redis-cli --cluster create
    /// --cluster-replicas 1`) and waits until every node reports
    /// `cluster_state:ok` and every replica has caught up.
    pub(super) fn start(dir: &Path) -> Result<PrivateCluster, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut ports = [0; NODES];
        for i in 0..NODES {
            ports[i] = free_node_port(&ports[..i])?;
        }
        let mut cluster = PrivateCluster {
            ports,
            shard_of_node: [0; NODES],
            slots: Vec::new(),
            dir: dir.to_owned(),
            children: Default::default(),
            frozen: [false; NODES],
            starts: [0; NODES],
        };
        for i in 0..NODES {
            cluster.spawn(i)?;
        }
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.addresses())
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        if !created.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&created.stdout).trim()
            ));
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        wait_until(deadline, || {
            cluster.all_ok() && cluster.learn_shards().is_ok() && cluster.all_in_sync()
        })
        .map_err(|()| "the cluster did not become ready".to_owned())?;
        Ok(cluster)
    }

    fn addresses(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    /// `redis+cluster://` naming all six nodes.
    pub(super) fn url(&self) -> String {
        format!("redis+cluster://{}", self.addresses().join(","))
    }

    /// The six ports, for whoever reads the run.
    pub(super) fn describe(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        format!("a Redis Cluster on {}", ports.join(", "))
    }

    pub(super) fn shards(&self) -> usize {
        self.slots.len()
    }

    fn index(&self, port: u16) -> Result<usize, String> {
        self.ports
            .iter()
            .position(|p| *p == port)
            .ok_or_else(|| format!("{port} is not a node of this cluster"))
    }

    /// Starts node `i` (again: with the same `nodes-<port>.conf`, a node
    /// that had been a master comes back as a replica of its successor)
    /// and waits until it answers `PING`.
    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let port = self.ports[i];
        self.starts[i] += 1;
        let log = self.dir.join(format!("node-{port}-{}.log", self.starts[i]));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
            .args(["--save", "", "--appendonly", "no"])
            // A master sends a returning replica its data at once, not
            // after waiting 5 s for more replicas to share the transfer.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--logfile"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.children[i] = Some(child);
        self.frozen[i] = false;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if ask(port, &["PING"]).is_ok_and(|r| r == "PONG") {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.children[i].as_mut().map(Child::try_wait) {
                return Err(format!(
                    "redis-server on {port} exited with {status}; see {}",
                    log.display()
                ));
            }
            std::thread::sleep(POLL);
        }
        Err(format!("redis-server did not answer PING on {port}"))
    }

    /// The ports of the nodes that run and are not frozen.
    fn answering(&self) -> Vec<u16> {
        (0..NODES)
            .filter(|i| self.children[*i].is_some() && !self.frozen[*i])
            .map(|i| self.ports[i])
            .collect()
    }

    /// Every answering node reports `cluster_state:ok`.
    fn all_ok(&self) -> bool {
        self.answering().into_iter().all(|port| {
            ask(port, &["CLUSTER", "INFO"]).is_ok_and(|info| info.contains("cluster_state:ok"))
        })
    }

    /// Learns each shard's slots and which node belongs to which shard,
    /// from the first node's `CLUSTER NODES`.
    fn learn_shards(&mut self) -> Result<(), String> {
        let nodes = cluster_nodes(self.ports[0])?;
        let mut masters: Vec<&NodeLine> = nodes.iter().filter(|n| !n.slots.is_empty()).collect();
        masters.sort_by_key(|n| n.slots[0].0);
        if masters.len() != SHARDS || nodes.len() != NODES {
            return Err(format!(
                "expected {SHARDS} masters of {NODES} nodes, found {} of {}",
                masters.len(),
                nodes.len()
            ));
        }
        for node in &nodes {
            let id = node.master_id.as_deref().unwrap_or(&node.id);
            let shard = masters
                .iter()
                .position(|m| m.id == id)
                .ok_or_else(|| format!("node {} has no master among the shards", node.port))?;
            self.shard_of_node[self.index(node.port)?] = shard;
        }
        self.slots = masters.iter().map(|m| m.slots.clone()).collect();
        Ok(())
    }

    /// The shard serving `key`.
    pub(super) fn shard_of_key(&self, key: &str) -> usize {
        let slot = key_slot(key);
        self.slots
            .iter()
            .position(|ranges| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&slot)))
            .unwrap_or(0)
    }

    /// The two nodes of `shard`.
    fn pair(&self, shard: usize) -> [usize; 2] {
        let mut found = (0..NODES).filter(|i| self.shard_of_node[*i] == shard);
        let first = found.next().unwrap_or(0);
        [first, found.next().unwrap_or(first)]
    }

    /// The port of the node of `port`'s shard that is not `port`.
    fn partner(&self, port: u16) -> Result<u16, String> {
        let i = self.index(port)?;
        let [a, b] = self.pair(self.shard_of_node[i]);
        Ok(self.ports[if a == i { b } else { a }])
    }

    /// The port of `shard`'s master, as its own node says (`role:master`).
    pub(super) fn master_of(&self, shard: usize) -> Result<u16, String> {
        self.pair(shard)
            .into_iter()
            .map(|i| self.ports[i])
            .find(|port| role(*port).is_some_and(|r| r.role == "master"))
            .ok_or_else(|| format!("shard {shard} has no master"))
    }

    /// Every shard has a master and a replica linked to it that has
    /// caught up.
    fn all_in_sync(&self) -> bool {
        (0..self.shards()).all(|shard| {
            let [a, b] = self.pair(shard);
            let (a, b) = (self.ports[a], self.ports[b]);
            caught_up(b, a) || caught_up(a, b)
        })
    }

    /// `SIGSTOP` to the node on `port`: it keeps its connections and
    /// answers nothing.
    pub(super) fn freeze(&mut self, port: u16) -> Result<(), String> {
        let i = self.index(port)?;
        let child = self.children[i].as_ref().ok_or("the node is not running")?;
        signal(child.id(), "STOP")?;
        self.frozen[i] = true;
        Ok(())
    }

    /// `SIGCONT` to a frozen node.
    pub(super) fn thaw(&mut self, port: u16) -> Result<(), String> {
        let i = self.index(port)?;
        let child = self.children[i].as_ref().ok_or("the node is not running")?;
        signal(child.id(), "CONT")?;
        self.frozen[i] = false;
        Ok(())
    }

    /// `SIGKILL` to the node on `port`.
    pub(super) fn kill(&mut self, port: u16) -> Result<(), String> {
        let i = self.index(port)?;
        if let Some(mut child) = self.children[i].take() {
            let _ = signal(child.id(), "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
        self.frozen[i] = false;
        Ok(())
    }

    /// Starts the killed node on `port` again, from its `nodes-<port>.conf`.
    pub(super) fn restart(&mut self, port: u16) -> Result<(), String> {
        let i = self.index(port)?;
        self.spawn(i)
    }

    /// Waits until `down`'s replica is a master and every answering node
    /// sees it as one, with `cluster_state:ok`; returns the new master's
    /// port.
    pub(super) fn wait_for_failover(&self, down: u16, deadline: Instant) -> Result<u16, String> {
        let promoted = self.partner(down)?;
        wait_until(deadline, || {
            role(promoted).is_some_and(|r| r.role == "master")
                && self.answering().into_iter().all(|port| {
                    ask(port, &["CLUSTER", "INFO"])
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                        && cluster_nodes(port).is_ok_and(|nodes| {
                            nodes.iter().any(|n| n.port == promoted && n.serving())
                        })
                })
        })
        .map_err(|()| format!("the replica {promoted} of {down} was not promoted in time"))?;
        Ok(promoted)
    }

    /// Waits until the node on `port` is a replica of `master` that has
    /// caught up, every node sees it as one, and every node reports
    /// `cluster_state:ok`.
    pub(super) fn wait_for_rejoin(
        &self,
        port: u16,
        master: u16,
        deadline: Instant,
    ) -> Result<(), String> {
        wait_until(deadline, || {
            caught_up(port, master)
                && self.all_ok()
                && self.answering().into_iter().all(|asked| {
                    cluster_nodes(asked).is_ok_and(|nodes| {
                        nodes
                            .iter()
                            .any(|n| n.port == port && n.master_id.is_some() && !n.failed())
                    })
                })
        })
        .map_err(|()| format!("{port} did not rejoin as a replica of {master} in time"))
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            // A frozen node must be woken to die.
            let _ = signal(child.id(), "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nothing listens on, whose cluster bus port (plus
/// 10000) is free and valid too, and not among `taken`.
fn free_node_port(taken: &[u16]) -> Result<u16, String> {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("cannot find a free port: {e}"))?;
        let Some(bus) = port.checked_add(BUS_OFFSET) else {
            continue;
        };
        let clash = taken
            .iter()
            .any(|t| [port, bus].contains(t) || [port, bus].contains(&(t + BUS_OFFSET)));
        if !clash && TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return Ok(port);
        }
    }
    Err("cannot find a free port whose cluster bus port is free too".to_owned())
}

fn wait_until(deadline: Instant, mut ready: impl FnMut() -> bool) -> Result<(), ()> {
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(());
        }
        std::thread::sleep(POLL);
    }
}

/// One command to the node on `port`, its reply as text (a simple or
/// bulk string, or an integer's digits); an error reply, a failed
/// connection or no answer within [`ASK_TIMEOUT`] is `Err`.
fn ask(port: u16, args: &[&str]) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, ASK_TIMEOUT).map_err(|e| format!("{port}: {e}"))?;
    let _ = stream.set_read_timeout(Some(ASK_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ASK_TIMEOUT));
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{port}: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    reader
        .read_line(&mut head)
        .map_err(|e| format!("{port}: {e}"))?;
    let head = head.trim_end();
    match head.split_at_checked(1) {
        Some(("+" | ":", rest)) => Ok(rest.to_owned()),
        Some(("$", len)) => {
            let len: usize = len
                .parse()
                .map_err(|_| format!("{port}: bad reply {head}"))?;
            let mut body = vec![0; len + 2];
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("{port}: {e}"))?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        Some(("-", message)) => Err(format!("{port}: {message}")),
        _ => Err(format!("{port}: unexpected reply {head:?}")),
    }
}

/// What `INFO replication` says of a node's role.
struct Role {
    role: String,
    master_port: Option<u16>,
    link_up: bool,
    offset: Option<u64>,
}

fn role(port: u16) -> Option<Role> {
    let info = ask(port, &["INFO", "replication"]).ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
    };
    let role = field("role:")?;
    let offset = if role == "master" {
        field("master_repl_offset:")
    } else {
        field("slave_repl_offset:")
    };
    Some(Role {
        master_port: field("master_port:").and_then(|p| p.parse().ok()),
        link_up: field("master_link_status:").as_deref() == Some("up"),
        offset: offset.and_then(|o| o.parse().ok()),
        role,
    })
}

/// The node on `replica` is linked to `master` and has everything
/// `master` had a moment ago (under load the offsets never stand still).
fn caught_up(replica: u16, master: u16) -> bool {
    let Some(wanted) = role(master)
        .filter(|r| r.role == "master")
        .and_then(|r| r.offset)
    else {
        return false;
    };
    role(replica).is_some_and(|r| {
        r.role == "slave"
            && r.master_port == Some(master)
            && r.link_up
            && r.offset.is_some_and(|o| o >= wanted)
    })
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, PartialEq)]
struct NodeLine {
    id: String,
    port: u16,
    flags: String,
    /// A replica's master.
    master_id: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn failed(&self) -> bool {
        self.flags.split(',').any(|f| f == "fail" || f == "fail?")
    }

    /// A master in good standing.
    fn serving(&self) -> bool {
        self.flags.split(',').any(|f| f == "master") && !self.failed()
    }
}

fn cluster_nodes(port: u16) -> Result<Vec<NodeLine>, String> {
    parse_cluster_nodes(&ask(port, &["CLUSTER", "NODES"])?)
}

/// `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`
fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("unexpected CLUSTER NODES line {line:?}");
            if fields.len() < 8 {
                return Err(bad());
            }
            let port = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?;
            let slots = fields[8..]
                .iter()
                // `[slot->-id]` entries are slots migrating: none here.
                .filter(|s| !s.starts_with('['))
                .map(|s| {
                    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
                    Some((lo.parse().ok()?, hi.parse().ok()?))
                })
                .collect::<Option<Vec<(u16, u16)>>>()
                .ok_or_else(bad)?;
            Ok(NodeLine {
                id: fields[0].to_owned(),
                port,
                flags: fields[2].to_owned(),
                master_id: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
            })
        })
        .collect()
}

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag
/// (the text between the first `{` and the next `}`, when not empty),
/// modulo 16384.
pub(super) fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16(hashed) % SLOTS
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` and the cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("somekey"), 11058);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
        assert_eq!(
            key_slot("foo{}{bar}"),
            crc16(b"foo{}{bar}") % SLOTS,
            "an empty tag hashes the whole key"
        );
    }

    #[test]
    fn cluster_nodes_lines_give_roles_and_slots() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 10923 [77->-67ed]
6ec2 127.0.0.1:30005@40005 master,fail 67ed 1426238316232 0 5 disconnected
";
        let nodes = parse_cluster_nodes(text).unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0].master_id.as_deref(), Some("e7d1"));
        assert_eq!(nodes[1].slots, [(5461, 10922)]);
        assert_eq!(nodes[2].slots, [(0, 5460), (10923, 10923)]);
        assert!(nodes[2].serving() && !nodes[0].serving());
        assert!(nodes[3].failed() && !nodes[3].serving());
        assert!(parse_cluster_nodes("garbage").is_err());
    }
}
