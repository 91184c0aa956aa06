//! `BrokerProcess` and `run_binary_to_completion` against a stand-in broker (a shell script),
//! so the harness itself is checked without depending on the state of the real `rafka` binary.
//!
//! One test function on purpose: writing an executable while another test thread forks can make
//! `exec` fail with ETXTBSY under `cargo test`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use rafka_tests::{run_binary_to_completion, BrokerProcess};

const FAKE_BROKER: &str = r#"#!/bin/sh
# Stand-in for rafka: needs broker.id in the config given as the last non-option argument.
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    -v) shift ;;
    --override) shift ;;
    *) config="$1" ;;
  esac
  shift
done
grep -q '^broker.id=' "$config" || { echo "missing broker.id in $config" >&2; exit 1; }
if [ -n "$FAKE_EXIT_AT_ONCE" ]; then echo "bye" >&2; exit 0; fi
trap 'echo "got SIGTERM" >&2; exit 0' TERM
echo "fake broker started pid=$$ RUST_LOG=$RUST_LOG FAKE_ENV=$FAKE_ENV" >&2
while :; do sleep 0.05; done
"#;

fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 1..];
    after.trim_start().chars().next().expect("state field")
}

fn write_fake_broker(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fake-rafka");
    std::fs::write(&path, FAKE_BROKER).expect("write fake broker");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod fake broker");
    path
}

#[test]
fn broker_process_controls_a_child_with_signals() {
    let bin_dir = tempfile::tempdir().expect("temp dir");
    let fake = write_fake_broker(bin_dir.path());

    let mut broker = BrokerProcess::builder()
        .binary(&fake)
        .broker_id(7)
        .zookeeper("127.0.0.1:1/chroot")
        .prop("num.partitions", 3)
        .override_prop("log.retention.hours", 1)
        .verbosity("debug")
        .env("FAKE_ENV", "yes")
        .start();
    assert!(
        broker.wait_for_log("fake broker started", Duration::from_secs(10)),
        "fake broker did not start:\n{}",
        broker.logs()
    );
    assert!(broker.is_running());
    assert!(broker.logs().contains("FAKE_ENV=yes"));
    assert!(broker.logs().contains(&format!(
        "-v debug {} --override log.retention.hours=1",
        broker.config_path().display()
    )));

    let config = std::fs::read_to_string(broker.config_path()).expect("read generated config");
    assert!(config.contains("broker.id=7\n"), "{config}");
    assert!(
        config.contains("zookeeper.connect=127.0.0.1:1/chroot\n"),
        "{config}"
    );
    assert!(
        config.contains("zookeeper.session.timeout.ms=6000\n"),
        "{config}"
    );
    assert!(config.contains("num.partitions=3\n"), "{config}");
    assert!(
        config.contains(&format!(
            "listeners=PLAINTEXT://127.0.0.1:{}\n",
            broker.port()
        )),
        "{config}"
    );
    assert_ne!(broker.port(), 0);
    assert_eq!(broker.broker_id(), 7);
    assert!(broker.log_dir().starts_with(broker.dir()));
    let cpu = broker.cpu_seconds();
    assert!(cpu.is_finite() && cpu >= 0.0);

    // SIGSTOP / SIGCONT.
    let pid = broker.pid();
    broker.signal_stop();
    assert!(rafka_tests::wait_until(
        Duration::from_secs(5),
        Duration::from_millis(10),
        || { proc_state(pid) == 'T' }
    ));
    assert!(
        broker.is_running(),
        "a stopped process still counts as running"
    );
    broker.signal_cont();
    assert!(rafka_tests::wait_until(
        Duration::from_secs(5),
        Duration::from_millis(10),
        || { proc_state(pid) != 'T' }
    ));

    // restart: graceful stop, same config, new process.
    broker.restart();
    assert_ne!(broker.pid(), pid);
    assert!(broker.wait_for_log("restarting", Duration::from_secs(1)));
    assert!(
        broker.logs().contains("got SIGTERM"),
        "restart stops with SIGTERM first"
    );

    // Clean shutdown on SIGTERM.
    let pid2 = broker.pid();
    assert!(rafka_tests::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || { broker.logs().matches("fake broker started").count() == 2 }
    ));
    broker.signal_term();
    let status = broker
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!broker.is_running());
    broker.signal_kill(); // no-op on an exited broker
    assert_eq!(broker.wait_exit(Duration::ZERO), Some(status));
    assert_eq!(broker.pid(), pid2);

    // A broker that exits on its own, and SIGKILL.
    broker.restart();
    broker.signal_kill();
    let status = broker
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGKILL");
    assert!(!status.success());

    // Runs to completion: a bad config exits 1 with a message on stderr.
    let (status, stderr) = run_binary_to_completion(
        &fake,
        "zookeeper.connect=127.0.0.1:2181\n",
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("missing broker.id"), "{stderr}");
    std::env::set_var("FAKE_EXIT_AT_ONCE", "1");
    let (status, stderr) = run_binary_to_completion(
        &fake,
        "broker.id=1\n",
        &["-v", "info", "{config}", "--override", "a=b"],
        Duration::from_secs(10),
    );
    std::env::remove_var("FAKE_EXIT_AT_ONCE");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr.trim(), "bye");
}
