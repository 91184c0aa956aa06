//! Test harness for Rafka: real processes, bounded waits.
//!
//! * [`EmbeddedZookeeper`]: a real ZooKeeper server (Debian's `zookeeper` package) on a free
//!   loopback port with a temp data dir, like Kafka's `EmbeddedZookeeper`.
//! * [`BrokerProcess`]: the `rafka` binary ([`rafka_bin`]) with a generated `server.properties`,
//!   controlled with signals; [`run_rafka`] for runs that should exit (bad config).
//! * [`zk_client`] and znode helpers ([`get_znode_json`], [`wait_for_znode`],
//!   [`BrokerProcess::wait_registered`], ...) to inspect what the broker wrote.
//! * [`python_script`], [`node_script`], [`run_bounded`]: real clients (confluent-kafka,
//!   kafka-python, kafkajs, kcat) as child processes with a deadline (`clients`).
//! * [`RawClient`]: one Kafka request at a time over TCP, typed with kafka-protocol.
//! * [`free_port`], [`wait_until`], [`wait_until_async`] and friends: every loop has a deadline.
//!
//! Prerequisites: `scripts/install-deps.sh` (ZooKeeper, a JRE) and `cargo build -p rafka`
//! (`cargo nextest run --workspace` / `cargo test --workspace` build it).

pub mod broker;
pub mod clients;
pub mod kcat;
pub mod raw_client;
pub mod util;
pub mod zookeeper;

pub use broker::{
    rafka_bin, run_binary_to_completion, run_rafka, BrokerBuilder, BrokerProcess,
    BROKER_STOP_TIMEOUT,
};
pub use clients::{
    client_python, node_script, python_script, run_bounded, ClientBroker, ClientOutput,
    ClientScript, CLIENT_TIMEOUT,
};
pub use kcat::{
    kcat_brokers, kcat_metadata, kcat_partitions, kcat_wait_for_brokers, KcatPartition, KCAT,
};
pub use raw_client::{creatable_topic, RawClient};
pub use util::{
    free_port, poll_until, poll_until_async, port_is_open, tail, wait_for, wait_for_async,
    wait_until, wait_until_async,
};
pub use zookeeper::{
    create_topic_assignment, four_letter_word, get_znode, get_znode_json, wait_for_znode,
    wait_for_znode_gone, zk_client, zk_client_with_session_timeout, znode_children,
    EmbeddedZookeeper,
};
/// The ZooKeeper client crate, re-exported so tests use the same version.
pub use zookeeper_client;
