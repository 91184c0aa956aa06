//! A real ZooKeeper server for tests (like Kafka's `EmbeddedZookeeper`), plus client helpers.
//!
//! The server is Debian's `zookeeper` package (3.8) run in the foreground as a child process:
//! `java -cp /usr/share/java/zookeeper.jar:<slf4j binding> QuorumPeerMain <tmp>/zoo.cfg`,
//! on a free 127.0.0.1 port with its own temp data dir, so parallel tests never share state.
//! Install it with `scripts/install-deps.sh`.
//!
//! Environment overrides:
//! * `RAFKA_ZK_CLASSPATH`: the Java classpath for ZooKeeper (default: Debian's jars).
//! * `JAVA_HOME`: use `$JAVA_HOME/bin/java` instead of `java` from `PATH`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client::{Client, Stat};

use crate::util::{free_port, poll_until_async, read_lossy, tail};

/// How long ZooKeeper gets to start answering (JVM start included).
pub const ZK_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`zk_client`] may take to establish a session.
pub const ZK_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// ZooKeeper's tick: sessions expire with this granularity.
pub const ZK_TICK_TIME_MS: u64 = 500;
/// Lowest session timeout the server accepts (2 ticks): 3–6 s test timeouts work.
pub const ZK_MIN_SESSION_TIMEOUT_MS: u64 = 1_000;
/// Highest session timeout the server accepts: Kafka's default 18 s is not cut down.
pub const ZK_MAX_SESSION_TIMEOUT_MS: u64 = 60_000;

/// Lines of server output shown in panic messages.
const LOG_TAIL_LINES: usize = 60;

const DEBIAN_ZK_JARS: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/zookeeper/zookeeper.jar",
];
/// An slf4j binding so the server's log reaches its stdout/stderr (ZooKeeper 3.8 only ships
/// the API; without a binding it logs nothing).
const SLF4J_BINDINGS: &[&str] = &["/usr/share/java/slf4j-simple.jar"];

/// A standalone ZooKeeper server owned by a test. Killed on drop; its temp dir is removed then.
pub struct EmbeddedZookeeper {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

enum LaunchError {
    /// The port was taken by someone else between `free_port()` and ZooKeeper's bind.
    AddressInUse(String),
    Failed(String),
}

impl EmbeddedZookeeper {
    /// Starts a ZooKeeper server on a free loopback port and waits (bounded) until it serves.
    /// Panics with the server's output if it does not come up.
    pub fn start() -> EmbeddedZookeeper {
        let dir = tempfile::Builder::new()
            .prefix("rafka-zk-")
            .tempdir()
            .expect("create a temp dir for ZooKeeper");
        let mut zk = EmbeddedZookeeper {
            dir,
            port: 0,
            child: None,
        };
        std::fs::create_dir_all(zk.data_dir()).expect("create ZooKeeper's data dir");
        let mut last = String::new();
        for _attempt in 0..5 {
            zk.port = free_port();
            zk.write_config();
            match zk.launch() {
                Ok(()) => return zk,
                Err(LaunchError::AddressInUse(log)) => last = log,
                Err(LaunchError::Failed(msg)) => panic!("{msg}"),
            }
        }
        panic!("ZooKeeper could not bind a free port after 5 attempts; last output:\n{last}");
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `zookeeper.connect` and [`zk_client`].
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/chroot` (`chroot` with or without its leading `/`).
    pub fn connect_string_with_chroot(&self, chroot: &str) -> String {
        format!("127.0.0.1:{}/{}", self.port, chroot.trim_start_matches('/'))
    }

    /// The server's temp dir (holds `zoo.cfg`, `data/` and `zookeeper.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// ZooKeeper's `dataDir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file that receives the server's stdout and stderr (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("zookeeper.log")
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        read_lossy(&self.log_path())
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is alive (not stopped, not crashed).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Sends a four-letter-word command (`ruok`, `srvr`, `stat`, `cons`, `dump`, ...).
    pub fn four_letter_word(&self, cmd: &str) -> std::io::Result<String> {
        four_letter_word(&self.connect_string(), cmd)
    }

    /// Kills the server (SIGKILL, like a crash: client sessions are not closed) and reaps it.
    /// The data dir is kept, so [`restart`](Self::restart) finds every persistent znode.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data
    /// dir, and waits (bounded) until it serves.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + ZK_READY_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(LaunchError::AddressInUse(log)) if Instant::now() < deadline => {
                    let _ = log;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(LaunchError::AddressInUse(log)) => panic!(
                    "ZooKeeper could not re-bind port {} within {ZK_READY_TIMEOUT:?}:\n{log}",
                    self.port
                ),
                Err(LaunchError::Failed(msg)) => panic!("{msg}"),
            }
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn write_config(&self) {
        let cfg = format!(
            "# Generated by rafka_tests::EmbeddedZookeeper\n\
             tickTime={ZK_TICK_TIME_MS}\n\
             initLimit=10\n\
             syncLimit=5\n\
             dataDir={data}\n\
             clientPort={port}\n\
             clientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\n\
             minSessionTimeout={ZK_MIN_SESSION_TIMEOUT_MS}\n\
             maxSessionTimeout={ZK_MAX_SESSION_TIMEOUT_MS}\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n\
             autopurge.purgeInterval=0\n\
             forceSync=no\n",
            data = self.data_dir().display(),
            port = self.port,
        );
        std::fs::write(self.config_path(), cfg).expect("write zoo.cfg");
    }

    /// Spawns the server and waits until it serves. On failure the process is reaped.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let log_path = self.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open ZooKeeper's log file");
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = writeln!(
            log,
            "=== rafka_tests: starting ZooKeeper on 127.0.0.1:{} ===",
            self.port
        );
        let stderr = log.try_clone().expect("clone ZooKeeper's log file handle");

        let java = java_binary();
        let classpath = zookeeper_classpath();
        let child = Command::new(&java)
            .args([
                "-Xms16m",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                "-Dorg.slf4j.simpleLogger.logFile=System.out",
            ])
            .arg(format!("-Dzookeeper.log.dir={}", self.dir.path().display()))
            .arg("-cp")
            .arg(&classpath)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not run ZooKeeper with `{}`: {e} (is a JRE installed? run scripts/install-deps.sh)",
                    java.display()
                )
            });
        self.child = Some(child);

        let deadline = Instant::now() + ZK_READY_TIMEOUT;
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Ok(None)) => None,
                Some(Err(e)) => Some(format!("unknown status ({e})")),
                None => Some("not started".into()),
            };
            if let Some(status) = exited {
                self.child = None;
                let output = new_output(&log_path, log_start);
                if output.contains("Address already in use") {
                    return Err(LaunchError::AddressInUse(tail(&output, LOG_TAIL_LINES)));
                }
                return Err(LaunchError::Failed(format!(
                    "ZooKeeper exited during startup ({status}); java={}, classpath={classpath}, output:\n{}",
                    java.display(),
                    tail(&output, LOG_TAIL_LINES)
                )));
            }
            if self.is_serving() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(LaunchError::Failed(format!(
                    "ZooKeeper did not answer `ruok`/`srvr` on 127.0.0.1:{} within {ZK_READY_TIMEOUT:?}; output:\n{}",
                    self.port,
                    tail(&new_output(&log_path, log_start), LOG_TAIL_LINES)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ruok` answers `imok` as soon as the socket is up; `srvr` reports a `Mode:` only once
    /// the database is loaded and requests are served.
    fn is_serving(&self) -> bool {
        matches!(self.four_letter_word("ruok").as_deref(), Ok("imok"))
            && self
                .four_letter_word("srvr")
                .is_ok_and(|s| s.contains("Mode:"))
    }
}

impl Drop for EmbeddedZookeeper {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for EmbeddedZookeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedZookeeper")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .finish()
    }
}

/// The part of the log written since byte `from`.
fn new_output(path: &Path, from: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from));
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn java_binary() -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = PathBuf::from(home).join("bin/java");
        if java.is_file() {
            return java;
        }
    }
    PathBuf::from("java")
}

/// `RAFKA_ZK_CLASSPATH`, or Debian's `zookeeper.jar` (its manifest lists its dependencies)
/// plus an slf4j binding. Panics with install instructions when ZooKeeper is missing.
pub fn zookeeper_classpath() -> String {
    if let Ok(cp) = std::env::var("RAFKA_ZK_CLASSPATH") {
        if !cp.is_empty() {
            return cp;
        }
    }
    let jar = DEBIAN_ZK_JARS
        .iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| {
            panic!(
                "ZooKeeper is not installed (none of {DEBIAN_ZK_JARS:?} exists): \
                 run scripts/install-deps.sh (apt-get install zookeeper), or set RAFKA_ZK_CLASSPATH"
            )
        });
    let mut parts = vec![jar.to_string()];
    parts.extend(
        SLF4J_BINDINGS
            .iter()
            .filter(|p| Path::new(p).is_file())
            .map(|p| p.to_string()),
    );
    parts.join(":")
}

/// Sends a ZooKeeper four-letter-word command to `host:port` and returns the whole answer.
/// Bounded: 1 s to connect, 2 s per read/write.
pub fn four_letter_word(host_port: &str, cmd: &str) -> std::io::Result<String> {
    let addr: SocketAddr = match host_port.parse() {
        Ok(addr) => addr,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(host_port)?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?,
    };
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(cmd.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// A ZooKeeper client session (6 s session timeout) for inspecting znodes from tests.
/// `connect` may carry a chroot (`127.0.0.1:2181/kafka`). Panics if no session is established
/// within [`ZK_CONNECT_TIMEOUT`]. Needs a tokio runtime (`#[tokio::test]`).
pub async fn zk_client(connect: &str) -> Client {
    zk_client_with_session_timeout(connect, Duration::from_secs(6)).await
}

/// [`zk_client`] with the given session timeout (the server accepts 1 s to 60 s).
pub async fn zk_client_with_session_timeout(connect: &str, session_timeout: Duration) -> Client {
    let connecting = Client::connector()
        .with_session_timeout(session_timeout)
        .connect(connect);
    match tokio::time::timeout(ZK_CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("could not connect to ZooKeeper at {connect}: {e}"),
        Err(_) => panic!("no ZooKeeper session with {connect} within {ZK_CONNECT_TIMEOUT:?}"),
    }
}

/// The znode's data and stat, or `None` if it does not exist. Panics on other errors.
pub async fn get_znode(client: &Client, path: &str) -> Option<(Vec<u8>, Stat)> {
    match client.get_data(path).await {
        Ok(found) => Some(found),
        Err(zookeeper_client::Error::NoNode) => None,
        Err(e) => panic!("get_data({path}) failed: {e}"),
    }
}

/// The znode's data parsed as JSON (Kafka's znodes are JSON), or `None` if it does not exist.
/// Panics if it is not valid JSON.
pub async fn get_znode_json(client: &Client, path: &str) -> Option<serde_json::Value> {
    let (data, _) = get_znode(client, path).await?;
    Some(serde_json::from_slice(&data).unwrap_or_else(|e| {
        panic!(
            "znode {path} is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&data)
        )
    }))
}

/// The znode's children, sorted; empty if the znode does not exist. Panics on other errors.
pub async fn znode_children(client: &Client, path: &str) -> Vec<String> {
    match client.list_children(path).await {
        Ok(mut children) => {
            children.sort();
            children
        }
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => panic!("list_children({path}) failed: {e}"),
    }
}

/// Waits (bounded) until the znode exists and returns its data and stat. Transient errors
/// (connection loss while ZooKeeper restarts) count as "not yet". Panics on timeout.
pub async fn wait_for_znode(client: &Client, path: &str, timeout: Duration) -> (Vec<u8>, Stat) {
    poll_until_async(timeout, Duration::from_millis(100), || async {
        client.get_data(path).await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("znode {path} did not appear within {timeout:?}"))
}

/// Waits (bounded) until the znode does not exist. Panics on timeout.
pub async fn wait_for_znode_gone(client: &Client, path: &str, timeout: Duration) {
    poll_until_async(timeout, Duration::from_millis(100), || async {
        matches!(client.check_stat(path).await, Ok(None)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("znode {path} still exists after {timeout:?}"))
}

/// `/brokers/topics/<topic>/partitions/<partition>/state`, the partition state znode.
pub fn partition_state_path(topic: &str, partition: i32) -> String {
    format!("/brokers/topics/{topic}/partitions/{partition}/state")
}

/// The partition state znode as JSON, with its stat; `None` if it does not exist. Panics if
/// it is not JSON.
pub async fn get_partition_state(
    client: &Client,
    topic: &str,
    partition: i32,
) -> Option<(serde_json::Value, Stat)> {
    let path = partition_state_path(topic, partition);
    let (data, stat) = get_znode(client, &path).await?;
    let state = serde_json::from_slice(&data).unwrap_or_else(|e| {
        panic!(
            "znode {path} is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&data)
        )
    });
    Some((state, stat))
}

/// The controller's broker id (`/controller`'s `brokerid`), or `None` while there is none.
pub async fn controller_id(client: &Client) -> Option<i32> {
    get_znode_json(client, "/controller")
        .await
        .and_then(|v| v["brokerid"].as_i64())
        .and_then(|id| i32::try_from(id).ok())
}

/// `/controller_epoch`'s value and stat. Panics if it is missing or not a decimal number.
pub async fn controller_epoch_and_stat(client: &Client) -> (i64, Stat) {
    let (data, stat) = get_znode(client, "/controller_epoch")
        .await
        .expect("/controller_epoch");
    let text = String::from_utf8_lossy(&data);
    let epoch = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("/controller_epoch {text:?} is not a number: {e}"));
    (epoch, stat)
}

/// `/controller_epoch`'s value. Panics if it is missing or not a decimal number.
pub async fn controller_epoch(client: &Client) -> i64 {
    controller_epoch_and_stat(client).await.0
}

/// Writes `/brokers/topics/<topic>` (v3, no topic id) as an admin tool would; the controller
/// does the rest. `assignment` maps partition ids to replica lists, e.g.
/// `json!({"0": [1, 2]})`.
pub async fn create_topic_assignment(client: &Client, topic: &str, assignment: serde_json::Value) {
    let payload = serde_json::json!({
        "version": 3,
        "partitions": assignment,
        "adding_replicas": {},
        "removing_replicas": {},
    })
    .to_string();
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client
        .create(
            &format!("/brokers/topics/{topic}"),
            payload.as_bytes(),
            &options,
        )
        .await
        .expect("create the topic assignment");
}
