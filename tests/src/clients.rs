//! Real Kafka clients as child processes, each run with a deadline: the Python
//! (confluent-kafka, kafka-python) and Node (kafkajs) scripts in `tests/clients/`, and any other
//! command (kcat) through [`run_bounded`].
//!
//! The scripts take the bootstrap address and topic names as arguments, check what they see
//! themselves, exit non-zero with a message on the first mismatch and print `OK` as their last
//! line when every check passed; the Rust test asserts both ([`ClientScript::run_ok`]) and gets
//! the script's output, the command and the broker's log tail in the failure message.
//!
//! The client libraries are pinned in the repository and installed by
//! `scripts/install-deps.sh`: the Python ones into a venv (`target/client-venv`, or
//! `$RAFKA_CLIENT_VENV`), kafkajs into `tests/clients/node/node_modules` (`npm ci`). A missing
//! client fails the test with a message saying so; it never skips it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::broker::{BrokerBuilder, BrokerProcess};
use crate::kcat::kcat_wait_for_brokers;
use crate::util::{read_lossy, tail};
use crate::zookeeper::EmbeddedZookeeper;

/// Default deadline of one client script run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of a client's stdout/stderr shown in failure messages.
const OUTPUT_TAIL_LINES: usize = 60;

/// The repository root (the parent of the `tests` package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent dir")
        .to_path_buf()
}

/// `tests/clients/`: the client scripts.
pub fn clients_dir() -> PathBuf {
    repo_root().join("tests").join("clients")
}

/// The venv holding the Python clients: `$RAFKA_CLIENT_VENV`, else `target/client-venv` in the
/// repository (where `scripts/install-deps.sh` creates it).
pub fn client_venv() -> PathBuf {
    match std::env::var_os("RAFKA_CLIENT_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target").join("client-venv"),
    }
}

/// The venv's Python interpreter. Panics if it is missing.
pub fn client_python() -> PathBuf {
    let python = client_venv().join("bin").join("python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/install-deps.sh (creates the venv with the pinned \
         confluent-kafka and kafka-python from tests/clients/python/requirements.txt)",
        python.display()
    );
    python
}

/// `tests/clients/node`, checked to hold an installed kafkajs. Panics if it does not.
pub fn node_client_dir() -> PathBuf {
    let dir = clients_dir().join("node");
    assert!(
        dir.join("node_modules/kafkajs/package.json").is_file(),
        "kafkajs is not installed in {}: run scripts/install-deps.sh (npm ci)",
        dir.display()
    );
    dir
}

/// How long [`ClientBroker::start`] waits for the broker to be usable.
const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A real ZooKeeper and one real broker (id 1) for client tests. Fields drop in order: the
/// broker is killed before its ZooKeeper.
pub struct ClientBroker {
    pub broker: BrokerProcess,
    pub zk: EmbeddedZookeeper,
}

impl ClientBroker {
    /// Starts ZooKeeper and a broker configured by `configure` (on top of the harness defaults
    /// and `broker.id=1`), and waits until a client sees it: `kcat -L` lists the broker, which
    /// means it is registered, is the controller and has received its UpdateMetadata.
    pub fn start(configure: impl FnOnce(BrokerBuilder) -> BrokerBuilder) -> ClientBroker {
        let zk = EmbeddedZookeeper::start();
        let broker = configure(
            BrokerProcess::builder()
                .broker_id(1)
                .zookeeper(zk.connect_string()),
        )
        .start();
        assert!(
            kcat_wait_for_brokers(&broker.bootstrap_servers(), 1, BROKER_READY_TIMEOUT),
            "the broker was not usable by a client within {BROKER_READY_TIMEOUT:?}\n{}",
            broker.logs()
        );
        ClientBroker { broker, zk }
    }

    /// The broker's `host:port`.
    pub fn bootstrap(&self) -> String {
        self.broker.bootstrap_servers()
    }

    /// The last 80 lines of the broker's output, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- broker log (tail) ---\n{}",
            tail(&self.broker.logs(), 80)
        )
    }
}

/// What a bounded run of a client produced.
#[derive(Debug)]
pub struct ClientOutput {
    /// The command line, for messages.
    pub command: String,
    /// The exit status; `None` if the deadline passed and the process group was killed.
    pub status: Option<ExitStatus>,
    /// Everything written to stdout (raw bytes: kcat prints message payloads).
    pub stdout: Vec<u8>,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
    /// Wall-clock time until exit (or until the kill).
    pub elapsed: Duration,
}

impl ClientOutput {
    /// True if the process exited by itself with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// True if the deadline passed and the process was killed.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The command, how it ended and the tails of its stdout and stderr.
    pub fn describe(&self) -> String {
        let ended = match self.status {
            Some(s) => format!("exited with {s} after {:?}", self.elapsed),
            None => format!("killed after its deadline of {:?}", self.elapsed),
        };
        format!(
            "`{}` {ended}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.command,
            tail(&self.stdout_str(), OUTPUT_TAIL_LINES),
            tail(&self.stderr, OUTPUT_TAIL_LINES),
        )
    }

    /// Panics unless the process exited with status 0; the message holds [`describe`](Self::describe)
    /// and `context` (e.g. the broker's log tail).
    pub fn assert_success(&self, context: &str) -> &Self {
        assert!(
            self.success(),
            "client failed: {}\n--- context ---\n{context}",
            self.describe()
        );
        self
    }
}

/// Runs `cmd` with `stdin` (or none) for at most `timeout`, stdout and stderr captured to temp
/// files (no pipe can fill up). The child gets its own process group, which is killed with
/// SIGKILL when the deadline passes (a script's own children go with it).
pub fn run_bounded(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> ClientOutput {
    let command = describe_command(cmd);
    let dir = tempfile::Builder::new()
        .prefix("rafka-client-")
        .tempdir()
        .expect("create a temp dir for the client's output");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    cmd.stdout(std::fs::File::create(&out_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("create stderr file"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not spawn `{command}`: {e}"));
    if let Some(input) = stdin {
        // Written from a thread: a child that does not read its input must not block us past
        // the deadline. The handle closes (EOF) when the thread ends.
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let deadline = start + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for `{command}` failed: {e}"),
        }
    };
    let elapsed = start.elapsed();
    ClientOutput {
        command,
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: read_lossy(&err_path),
        elapsed,
    }
}

fn describe_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A client script from `tests/clients/` to run against a broker: see [`python_script`] and
/// [`node_script`].
#[derive(Debug, Clone)]
pub struct ClientScript {
    program: PathBuf,
    script: PathBuf,
    cwd: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

/// `tests/clients/python/NAME` run by the venv's Python (unbuffered, no `__pycache__`).
pub fn python_script(name: &str) -> ClientScript {
    let dir = clients_dir().join("python");
    ClientScript::new(client_python(), dir.join(name), dir)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
}

/// `tests/clients/node/NAME` run by `node` in `tests/clients/node` (where kafkajs is installed).
pub fn node_script(name: &str) -> ClientScript {
    let dir = node_client_dir();
    ClientScript::new(PathBuf::from("node"), dir.join(name), dir)
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
}

impl ClientScript {
    fn new(program: PathBuf, script: PathBuf, cwd: PathBuf) -> ClientScript {
        assert!(script.is_file(), "no client script at {}", script.display());
        ClientScript {
            program,
            script,
            cwd,
            args: Vec::new(),
            env: Vec::new(),
            timeout: CLIENT_TIMEOUT,
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl ToString) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: ToString>(self, args: I) -> Self {
        args.into_iter().fold(self, |s, a| s.arg(a))
    }

    /// Sets an environment variable for the script.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Replaces the deadline ([`CLIENT_TIMEOUT`] by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the script to completion or its deadline.
    pub fn run(&self) -> ClientOutput {
        let mut cmd = Command::new(&self.program);
        cmd.arg(&self.script)
            .args(&self.args)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        run_bounded(&mut cmd, None, self.timeout)
    }

    /// Runs the script and panics unless it exits with 0 and its last line of output is `OK`
    /// (every script prints it after its last check, so a script that stops early by mistake
    /// does not pass). The panic message has the script's output and `context` (e.g. the
    /// broker's log tail). The script's output is printed (shown by `--no-capture`).
    pub fn run_ok(&self, context: impl FnOnce() -> String) -> ClientOutput {
        let out = self.run();
        println!("{}", out.describe());
        let finished = out.stdout_str().lines().last().map(str::trim) == Some("OK");
        if !out.success() || !finished {
            panic!(
                "client failed{}: {}\n--- context ---\n{}",
                if out.success() {
                    " (exit 0 without a final OK line)"
                } else {
                    ""
                },
                out.describe(),
                context()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_run_captures_output_and_status() {
        let out = run_bounded(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            Some(b"hello"),
            Duration::from_secs(10),
        );
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr.trim(), "err");
        assert_eq!(out.status.and_then(|s| s.code()), Some(3));
        assert!(!out.success());
        assert!(
            out.describe().contains("exit status: 3"),
            "{}",
            out.describe()
        );
    }

    #[test]
    fn bounded_run_kills_the_whole_group_at_the_deadline() {
        let start = Instant::now();
        // The shell's child `sleep` is in the same process group and dies with it.
        let out = run_bounded(
            Command::new("sh").args(["-c", "sleep 30 & wait"]),
            None,
            Duration::from_millis(300),
        );
        assert!(out.timed_out());
        assert!(!out.success());
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    #[should_panic(expected = "client failed")]
    fn assert_success_panics_on_failure() {
        run_bounded(&mut Command::new("false"), None, Duration::from_secs(10)).assert_success("");
    }
}
