//! Test harness for Rafka: real processes, bounded waits.
//!
//! * [`EmbeddedZookeeper`]: a real ZooKeeper server (Debian's `zookeeper` package) on a free
//!   loopback port with a temp data dir, like Kafka's `EmbeddedZookeeper`.
//! * [`BrokerProcess`]: the `rafka` binary ([`rafka_bin`]) with a generated `server.properties`,
//!   controlled with signals; [`run_rafka`] for runs that should exit (bad config).
//! * [`zk_client`] and znode helpers ([`get_znode_json`], [`wait_for_znode`],
//!   [`BrokerProcess::wait_registered`], [`get_partition_state`], [`controller_id`], ...) to
//!   inspect what the broker wrote; [`broker_logs`] for panic messages.
//! * [`python_script`], [`node_script`], [`run_bounded`]: real clients (confluent-kafka,
//!   kafka-python, kafkajs, kcat) as child processes with a deadline (`clients`).
//! * [`RawClient`]: one Kafka request at a time over TCP, typed with kafka-protocol;
//!   [`produce_once`], [`produce_until`] and [`fetch_once`] for tagged string records
//!   ([`tagged_values`]).
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
    broker_logs, rafka_bin, run_binary_to_completion, run_rafka, BrokerBuilder, BrokerProcess,
    BROKER_STOP_TIMEOUT,
};
pub use clients::{
    client_python, node_script, python_script, run_bounded, ClientBroker, ClientOutput,
    ClientScript, CLIENT_TIMEOUT,
};
pub use kcat::{
    kcat_brokers, kcat_metadata, kcat_partitions, kcat_wait_for_brokers, KcatPartition, KCAT,
};
pub use raw_client::{
    creatable_topic, fetch_once, produce_once, produce_until, tagged_values, FetchedRecords,
    RawClient, PRODUCE_RETRY_TIMEOUT,
};
pub use util::{
    free_port, poll_until, poll_until_async, port_is_open, tail, wait_for, wait_for_async,
    wait_until, wait_until_async,
};
pub use zookeeper::{
    controller_epoch, controller_epoch_and_stat, controller_id, create_topic_assignment,
    four_letter_word, get_partition_state, get_znode, get_znode_json, partition_state_path,
    wait_for_znode, wait_for_znode_gone, zk_client, zk_client_with_session_timeout, znode_children,
    EmbeddedZookeeper,
};
/// The ZooKeeper client crate, re-exported so tests use the same version.
pub use zookeeper_client;
