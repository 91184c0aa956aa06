//! Running the `rafka` binary as a child process: the real thing, configured by a generated
//! `server.properties`, controlled with Unix signals.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use zookeeper_client::{Client, Stat};

use crate::util::{free_port, port_is_open, read_lossy, tail, wait_until};

/// How long [`BrokerProcess::stop`] / [`BrokerProcess::restart`] wait after SIGTERM before SIGKILL.
pub const BROKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines of broker output printed when a test panics while a broker runs.
const LOG_TAIL_LINES: usize = 80;

/// The `rafka` binary under test: `$RAFKA_BIN` if set, else `target/<profile>/rafka` next to the
/// running test binary (`target/<profile>/deps/<test>`). Panics if it does not exist.
pub fn rafka_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("RAFKA_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "RAFKA_BIN={} does not exist (build it first: cargo build -p rafka)",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("path of the running test binary");
    let dir = exe.parent().expect("the test binary has a parent dir");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().expect("deps/ has a parent dir")
    } else {
        dir
    };
    let bin = profile_dir.join(format!("rafka{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the rafka binary is not at {}: build it first: cargo build -p rafka \
         (same profile as the tests), or set RAFKA_BIN",
        bin.display()
    );
    bin
}

/// Builds a [`BrokerProcess`]. Defaults, each replaceable with [`prop`](Self::prop):
/// `broker.id=0`, `listeners=PLAINTEXT://127.0.0.1:<free port>`, `log.dirs=<tmp>/logs`,
/// `zookeeper.connect` (only if [`zookeeper`](Self::zookeeper) was called),
/// `zookeeper.session.timeout.ms=6000`.
#[derive(Debug, Clone, Default)]
pub struct BrokerBuilder {
    props: Vec<(String, String)>,
    removed: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    verbosity: Option<String>,
    binary: Option<PathBuf>,
}

impl BrokerBuilder {
    /// `broker.id`.
    pub fn broker_id(self, id: i32) -> Self {
        self.prop("broker.id", id)
    }

    /// `zookeeper.connect` (e.g. [`EmbeddedZookeeper::connect_string`](crate::EmbeddedZookeeper::connect_string)).
    pub fn zookeeper(self, connect: impl Into<String>) -> Self {
        self.prop("zookeeper.connect", connect.into())
    }

    /// Sets a `server.properties` key (replacing a default or an earlier value).
    pub fn prop(mut self, key: &str, value: impl ToString) -> Self {
        let value = value.to_string();
        self.removed.retain(|k| k != key);
        match self.props.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.props.push((key.to_string(), value)),
        }
        self
    }

    /// Sets several keys, see [`prop`](Self::prop).
    pub fn props(self, props: &[(&str, String)]) -> Self {
        props.iter().fold(self, |b, (k, v)| b.prop(k, v))
    }

    /// Leaves a key (default or not) out of the generated file.
    pub fn without_prop(mut self, key: &str) -> Self {
        self.props.retain(|(k, _)| k != key);
        self.removed.push(key.to_string());
        self
    }

    /// Adds `--override key=value` to the command line.
    pub fn override_prop(self, key: &str, value: impl ToString) -> Self {
        self.arg("--override")
            .arg(format!("{key}={}", value.to_string()))
    }

    /// Adds a raw argument after `CONFIG_FILE`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// `-v LEVEL` before `CONFIG_FILE`.
    pub fn verbosity(mut self, level: impl Into<String>) -> Self {
        self.verbosity = Some(level.into());
        self
    }

    /// Sets an environment variable for the broker (the test's environment is inherited,
    /// `RUST_LOG` included).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs this executable instead of [`rafka_bin`].
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Writes `server.properties` into a new temp dir and spawns the broker. Does not wait for it
    /// to be ready: see [`BrokerProcess::wait_listening`], [`BrokerProcess::wait_for_log`] and
    /// [`wait_for_znode`](crate::wait_for_znode) on `/brokers/ids/<id>`.
    pub fn start(self) -> BrokerProcess {
        let dir = tempfile::Builder::new()
            .prefix("rafka-broker-")
            .tempdir()
            .expect("create a temp dir for the broker");
        let defaults = [
            ("broker.id", "0".to_string()),
            (
                "listeners",
                format!("PLAINTEXT://127.0.0.1:{}", free_port()),
            ),
            ("log.dirs", dir.path().join("logs").display().to_string()),
            ("zookeeper.session.timeout.ms", "6000".to_string()),
        ];
        let mut effective: Vec<(String, String)> = defaults
            .into_iter()
            .filter(|(k, _)| !self.removed.iter().any(|r| r == k))
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (k, v) in &self.props {
            match effective.iter_mut().find(|(ek, _)| ek == k) {
                Some(entry) => entry.1 = v.clone(),
                None => effective.push((k.clone(), v.clone())),
            }
        }

        let config_path = dir.path().join("server.properties");
        std::fs::write(&config_path, render_properties(&effective))
            .expect("write server.properties");

        let mut args = Vec::new();
        if let Some(level) = &self.verbosity {
            args.push("-v".to_string());
            args.push(level.clone());
        }
        args.push(config_path.display().to_string());
        args.extend(self.args.iter().cloned());

        let port = effective
            .iter()
            .find(|(k, _)| k == "listeners")
            .and_then(|(_, v)| listener_port(v))
            .unwrap_or(0);
        let mut broker = BrokerProcess {
            log_file: dir.path().join("rafka.log"),
            dir,
            binary: self.binary.unwrap_or_else(rafka_bin),
            args,
            env: self.env,
            config_path,
            props: effective,
            port,
            child: None,
            exit_status: None,
        };
        broker.spawn("starting");
        broker
    }
}

/// A `rafka` broker child process with its own temp dir (config, data, output log).
/// Killed (SIGKILL) on drop; if the test is panicking, the tail of its output is printed first.
pub struct BrokerProcess {
    dir: tempfile::TempDir,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    config_path: PathBuf,
    log_file: PathBuf,
    props: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    exit_status: Option<ExitStatus>,
}

impl BrokerProcess {
    /// A builder with the defaults listed on [`BrokerBuilder`].
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// Starts a broker with the defaults overridden by `props` (which should include
    /// `zookeeper.connect`). Shorthand for `BrokerProcess::builder().props(props).start()`.
    pub fn start(props: &[(&str, String)]) -> BrokerProcess {
        Self::builder().props(props).start()
    }

    fn spawn(&mut self, what: &str) {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .expect("open the broker's log file");
        let _ = writeln!(
            log,
            "=== rafka_tests: {what} {} {} ===",
            self.binary.display(),
            self.args.join(" ")
        );
        let stderr = log.try_clone().expect("clone the broker's log file handle");
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        if std::env::var_os("RUST_BACKTRACE").is_none() {
            cmd.env("RUST_BACKTRACE", "1");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not spawn {}: {e}", self.binary.display()));
        self.child = Some(child);
        self.exit_status = None;
    }

    /// The process id of the current run.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the broker was spawned")
    }

    /// The port of the first listener (0 if `listeners` has no parsable port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for a client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `broker.id` as configured (-1 if absent or not a number).
    pub fn broker_id(&self) -> i32 {
        self.prop("broker.id")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    }

    /// A key of the generated `server.properties` (not counting `--override`s).
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The generated `server.properties`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The first directory of `log.dirs` (or `log.dir`): where partition data goes.
    pub fn log_dir(&self) -> PathBuf {
        let dirs = self
            .prop("log.dirs")
            .or_else(|| self.prop("log.dir"))
            .unwrap_or("");
        PathBuf::from(dirs.split(',').next().unwrap_or("").trim())
    }

    /// The broker's temp dir (config, default `log.dirs`, output log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file holding the broker's stdout and stderr (appended to across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log_file
    }

    /// Everything the broker printed so far (all runs).
    pub fn logs(&self) -> String {
        read_lossy(&self.log_file)
    }

    /// Waits (bounded) until the output contains `needle`. Returns whether it did.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, Duration::from_millis(50), || {
            self.logs().contains(needle)
        })
    }

    /// Waits (bounded) until the listener accepts TCP connections; false on timeout or if the
    /// broker exited.
    pub fn wait_listening(&mut self, timeout: Duration) -> bool {
        let port = self.port;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.is_running() {
                return false;
            }
            if port_is_open(port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits (bounded) until this broker's registration `/brokers/ids/<broker.id>` exists (paths
    /// are relative to `client`'s chroot) and returns its data and stat. Panics at once, with the
    /// exit status, if the broker exits meanwhile, and on timeout.
    pub async fn wait_registered(&mut self, client: &Client, timeout: Duration) -> (Vec<u8>, Stat) {
        let path = format!("/brokers/ids/{}", self.broker_id());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.reap() {
                panic!("broker exited ({status}) before {path} appeared");
            }
            if let Ok(found) = client.get_data(&path).await {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not appear within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM (clean shutdown).
    pub fn signal_term(&mut self) {
        self.signal(Signal::SIGTERM);
    }

    /// Sends SIGINT (clean shutdown, like Ctrl-C).
    pub fn signal_int(&mut self) {
        self.signal(Signal::SIGINT);
    }

    /// Sends SIGKILL (crash). A no-op if the broker already exited.
    pub fn signal_kill(&mut self) {
        self.try_signal(Signal::SIGKILL);
    }

    /// Sends SIGSTOP: the broker freezes, its ZooKeeper session expires after the session
    /// timeout. Resume it with [`signal_cont`](Self::signal_cont).
    pub fn signal_stop(&mut self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Sends SIGCONT.
    pub fn signal_cont(&mut self) {
        self.signal(Signal::SIGCONT);
    }

    /// Sends `sig` to the current run; panics (with the output's tail) if it already exited.
    fn signal(&mut self, sig: Signal) {
        if let Some(status) = self.try_signal(sig) {
            panic!(
                "cannot send {sig} to the broker: it already exited ({status}); output:\n{}",
                tail(&self.logs(), LOG_TAIL_LINES)
            );
        }
    }

    /// Sends `sig` unless the current run has exited; returns the exit status in that case.
    fn try_signal(&mut self, sig: Signal) -> Option<ExitStatus> {
        if let Some(status) = self.reap() {
            return Some(status);
        }
        // Not reaped yet, so the pid cannot have been reused (at worst it is a zombie).
        let pid = i32::try_from(self.pid()).expect("pid fits in i32");
        kill(Pid::from_raw(pid), sig).unwrap_or_else(|e| panic!("kill({pid}, {sig}) failed: {e}"));
        None
    }

    /// The exit status if the current run has exited (reaping it), else `None`.
    fn reap(&mut self) -> Option<ExitStatus> {
        if self.exit_status.is_none() {
            if let Some(child) = self.child.as_mut() {
                match child.try_wait() {
                    Ok(status) => self.exit_status = status,
                    Err(e) => panic!("waiting for the broker (pid {}) failed: {e}", child.id()),
                }
            }
        }
        self.exit_status
    }

    /// Waits up to `timeout` for the broker to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.reap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the current run is alive (a SIGSTOPped broker counts as running).
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.reap().is_none()
    }

    /// CPU time (user + system) the current run has used so far, in seconds, from
    /// `/proc/<pid>/stat`. For "idle broker does not spin" checks.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.pid();
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {path} (has the broker been reaped?): {e}"));
        proc_stat_cpu_seconds(&stat).unwrap_or_else(|| panic!("unexpected {path} format: {stat}"))
    }

    /// Graceful stop: SIGTERM, wait up to [`BROKER_STOP_TIMEOUT`], then SIGKILL.
    /// Returns the exit status (a signal status if it had to be killed).
    pub fn stop(&mut self) -> ExitStatus {
        if self.try_signal(Signal::SIGTERM).is_none() {
            // SIGCONT after SIGTERM: a SIGSTOPped broker then sees the pending SIGTERM at once.
            self.try_signal(Signal::SIGCONT);
            if self.wait_exit(BROKER_STOP_TIMEOUT).is_none() {
                eprintln!(
                    "broker {} did not exit within {BROKER_STOP_TIMEOUT:?} of SIGTERM: killing it",
                    self.broker_id()
                );
                self.try_signal(Signal::SIGKILL);
            }
        }
        self.wait_exit(Duration::from_secs(10))
            .expect("the broker exits after SIGKILL")
    }

    /// [`stop`](Self::stop)s the broker if it runs, then starts it again with the same config,
    /// arguments, port and data dirs. Output keeps going to the same log file.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn("restarting");
    }
}

/// The output of every broker in `brokers`, each under a `--- broker <id> ---` line: for
/// panic messages of tests with several brokers.
pub fn broker_logs(brokers: &[&BrokerProcess]) -> String {
    brokers
        .iter()
        .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), b.logs()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- rafka broker (broker.id={}, port {}) output, last {LOG_TAIL_LINES} lines ----\n{}\n---- end of broker output ----",
                self.broker_id(),
                self.port,
                tail(&self.logs(), LOG_TAIL_LINES)
            );
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for BrokerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProcess")
            .field("broker_id", &self.broker_id())
            .field("port", &self.port)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Runs the `rafka` binary to completion with `config_text` written to a temp
/// `server.properties`. The config path replaces every `{config}` in `args`; if no argument is
/// `{config}`, the path goes first (`rafka CONFIG args...`). Panics if the process is still
/// running after `timeout` (it is killed). Returns the exit status and stderr.
pub fn run_rafka(config_text: &str, args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    run_binary_to_completion(&rafka_bin(), config_text, args, timeout)
}

/// [`run_rafka`] with another executable.
pub fn run_binary_to_completion(
    binary: &Path,
    config_text: &str,
    args: &[&str],
    timeout: Duration,
) -> (ExitStatus, String) {
    let dir = tempfile::Builder::new()
        .prefix("rafka-run-")
        .tempdir()
        .expect("create a temp dir for the run");
    let config_path = dir.path().join("server.properties");
    std::fs::write(&config_path, config_text).expect("write server.properties");
    let config = config_path.display().to_string();
    let mut full_args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{config}", &config))
        .collect();
    if !args.iter().any(|a| a.contains("{config}")) {
        full_args.insert(0, config);
    }
    let stdout_path = dir.path().join("stdout.log");
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(binary)
        .args(&full_args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("create stdout.log"))
        .stderr(std::fs::File::create(&stderr_path).expect("create stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("could not spawn {}: {e}", binary.display()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{} {}` still running after {timeout:?} (killed); stderr:\n{}",
                    binary.display(),
                    full_args.join(" "),
                    tail(&read_lossy(&stderr_path), LOG_TAIL_LINES)
                );
            }
            Err(e) => panic!("waiting for {} failed: {e}", binary.display()),
        }
    };
    (status, read_lossy(&stderr_path))
}

/// `key=value` lines, with `.properties` escapes for backslashes, line breaks and a leading
/// space in values.
fn render_properties(props: &[(String, String)]) -> String {
    let mut out = String::from("# Generated by rafka_tests::BrokerProcess\n");
    for (k, v) in props {
        let mut value = v
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        if value.starts_with(' ') {
            value.insert(0, '\\');
        }
        out.push_str(&format!("{k}={value}\n"));
    }
    out
}

/// The port of the first listener in a `listeners` value (`PLAINTEXT://host:9092,SSL://...`).
fn listener_port(listeners: &str) -> Option<u16> {
    let first = listeners.split(',').next()?.trim();
    first.rsplit(':').next()?.trim().parse().ok()
}

/// utime + stime (fields 14 and 15 of `/proc/<pid>/stat`) in seconds.
fn proc_stat_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as f64,
        _ => 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listener_ports() {
        assert_eq!(listener_port("PLAINTEXT://127.0.0.1:9092"), Some(9092));
        assert_eq!(
            listener_port("PLAINTEXT://[::1]:9093,SSL://:9094"),
            Some(9093)
        );
        assert_eq!(listener_port("PLAINTEXT://:9095"), Some(9095));
        assert_eq!(listener_port("garbage"), None);
    }

    #[test]
    fn parses_proc_stat() {
        let stat =
            "1234 (rafka worker) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
        let secs = proc_stat_cpu_seconds(stat).expect("parsable");
        assert!((secs - 300.0 / clock_ticks_per_second()).abs() < 1e-9);
        let own = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
        assert!(proc_stat_cpu_seconds(&own).is_some());
    }

    #[test]
    fn renders_escaped_properties() {
        let text = render_properties(&[
            ("a.b".into(), "x\\y".into()),
            ("c".into(), " lead".into()),
            ("d".into(), "1\n2".into()),
        ]);
        assert!(text.contains("a.b=x\\\\y\n"));
        assert!(text.contains("c=\\ lead\n"));
        assert!(text.contains("d=1\\n2\n"));
    }
}
