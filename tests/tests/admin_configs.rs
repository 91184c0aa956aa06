//! Config admin APIs and DescribeCluster against real brokers on a real ZooKeeper, through
//! raw requests ([`RawClient`]): DescribeConfigs of topics and brokers (values, sources,
//! synonyms), AlterConfigs / IncrementalAlterConfigs of topic and broker configs (what lands
//! in `/config/...` and `/config/changes`, validate_only, refusals), DescribeCluster. Every
//! wait is bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::{
    AlterConfigsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::config::LogConfig;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode_json, kcat_wait_for_brokers, wait_for_znode, zk_client, znode_children,
    BrokerProcess, EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

// ConfigSource ids.
const TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Starts ZooKeeper and one broker (with `props`) and waits until the broker's metadata cache
/// knows it (UpdateMetadata from the controller).
async fn cluster(props: &[(&str, &str)]) -> (EmbeddedZookeeper, BrokerProcess, Client) {
    let zk = EmbeddedZookeeper::start();
    let mut builder = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string());
    for (k, v) in props {
        builder = builder.prop(k, v);
    }
    let b = builder.start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );
    (zk, b, client)
}

fn connect(b: &BrokerProcess) -> RawClient {
    RawClient::connect_with_retry(b.port(), TIMEOUT).expect("connect to the broker")
}

/// CreateTopics of one topic with 1 partition and `configs`; waits for it.
fn create_topic(c: &mut RawClient, name: &str, configs: &[(&str, &str)]) {
    let r = c
        .create_topic(rafka_tests::creatable_topic(name, 1, 1, configs))
        .expect("CreateTopics");
    assert_eq!(r.error_code, NONE, "{r:?}");
}

fn describe(
    c: &mut RawClient,
    version: i16,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> DescribeConfigsResult {
    let resource = DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect()));
    let mut r = c
        .send(
            version,
            &DescribeConfigsRequest::default()
                .with_resources(vec![resource])
                .with_include_synonyms(version >= 1)
                .with_include_documentation(version >= 3),
        )
        .expect("DescribeConfigs");
    assert_eq!(r.results.len(), 1);
    r.results.remove(0)
}

fn entry<'a>(result: &'a DescribeConfigsResult, name: &str) -> &'a DescribeConfigsResourceResult {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not in {result:?}"))
}

/// `(name, value, source)` of each synonym.
fn synonyms(e: &DescribeConfigsResourceResult) -> Vec<(String, Option<String>, i8)> {
    e.synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_ref().map(|v| v.to_string()),
                s.source,
            )
        })
        .collect()
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

/// AlterConfigs v1 of one resource; `(error code, message)`.
fn alter(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let resource = AlterConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        );
    let r = c
        .send(
            1,
            &AlterConfigsRequest::default()
                .with_resources(vec![resource])
                .with_validate_only(validate_only),
        )
        .expect("AlterConfigs");
    let r = &r.responses[0];
    assert_eq!(r.resource_name.as_str(), name);
    assert_eq!(r.resource_type, resource_type);
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// IncrementalAlterConfigs v1 of one resource with `(name, op, value)` operations.
fn alter_incremental(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let resource = incremental::AlterConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configs(
            ops.iter()
                .map(|(k, op, v)| {
                    incremental::AlterableConfig::default()
                        .with_name(s(k))
                        .with_config_operation(*op)
                        .with_value(v.map(s))
                })
                .collect(),
        );
    let r = c
        .send(
            1,
            &IncrementalAlterConfigsRequest::default()
                .with_resources(vec![resource])
                .with_validate_only(validate_only),
        )
        .expect("IncrementalAlterConfigs");
    let r = &r.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// The `config` object of an entity config znode.
async fn stored_config(client: &Client, path: &str) -> Option<serde_json::Value> {
    let v = get_znode_json(client, path).await?;
    assert_eq!(v["version"], 1, "{path}: {v}");
    Some(v["config"].clone())
}

/// The entity paths of the `/config/changes` notifications, in sequence order.
async fn change_notifications(client: &Client) -> Vec<String> {
    let mut children = znode_children(client, "/config/changes").await;
    children.sort();
    let mut out = Vec::new();
    for child in children {
        if let Some(v) = get_znode_json(client, &format!("/config/changes/{child}")).await {
            assert!(child.starts_with("config_change_"), "{child}");
            assert_eq!(v["version"], 2, "{v}");
            out.push(v["entity_path"].as_str().unwrap_or_default().to_string());
        }
    }
    out
}

#[tokio::test]
async fn topic_configs_describe_alter_and_incremental() {
    let (_zk, b, client) = cluster(&[("log.segment.bytes", "50000000")]).await;
    let mut c = connect(&b);
    create_topic(&mut c, "cfg", &[("retention.ms", "3600000")]);

    // Every topic key, with the right sources.
    let d = describe(&mut c, 4, TOPIC, "cfg", None);
    assert_eq!(d.error_code, NONE, "{d:?}");
    assert_eq!(d.configs.len(), LogConfig::topic_keys().len());
    let e = entry(&d, "retention.ms");
    assert_eq!(e.value.as_deref(), Some("3600000"));
    assert_eq!(e.config_source, TOPIC_CONFIG);
    assert!(!e.read_only && !e.is_sensitive);
    assert_eq!(e.config_type, 5, "LONG");
    assert!(e.documentation.as_ref().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        synonyms(e),
        vec![syn("retention.ms", "3600000", TOPIC_CONFIG)]
    );
    let e = entry(&d, "segment.bytes");
    assert_eq!(e.value.as_deref(), Some("50000000"));
    assert_eq!(e.config_source, STATIC_BROKER_CONFIG);
    assert_eq!(
        synonyms(e),
        vec![
            syn("log.segment.bytes", "50000000", STATIC_BROKER_CONFIG),
            syn("log.segment.bytes", "1073741824", DEFAULT_CONFIG),
        ]
    );
    let e = entry(&d, "cleanup.policy");
    assert_eq!(e.value.as_deref(), Some("delete"));
    assert_eq!(e.config_source, DEFAULT_CONFIG);
    assert_eq!(e.config_type, 7, "LIST");

    // v0 with a key filter: is_default instead of a source.
    let d = describe(
        &mut c,
        0,
        TOPIC,
        "cfg",
        Some(&["retention.ms", "segment.ms"]),
    );
    assert_eq!(d.configs.len(), 2);
    assert!(!entry(&d, "retention.ms").is_default);
    assert!(entry(&d, "segment.ms").is_default);
    assert_eq!(entry(&d, "segment.ms").value.as_deref(), Some("604800000"));

    // Unknown topic.
    let d = describe(&mut c, 1, TOPIC, "nope", None);
    assert_eq!(d.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(d.configs.is_empty());

    // AlterConfigs with validate_only writes nothing.
    let before = change_notifications(&client).await;
    let r = alter(
        &mut c,
        TOPIC,
        "cfg",
        &[("cleanup.policy", "compact"), ("min.insync.replicas", "1")],
        true,
    );
    assert_eq!(r, (NONE, None));
    assert_eq!(
        stored_config(&client, "/config/topics/cfg").await,
        Some(serde_json::json!({"retention.ms": "3600000"}))
    );
    assert_eq!(change_notifications(&client).await, before);

    // For real: the entries replace the topic's config, with a change notification.
    let r = alter(
        &mut c,
        TOPIC,
        "cfg",
        &[("cleanup.policy", "compact"), ("min.insync.replicas", "1")],
        false,
    );
    assert_eq!(r, (NONE, None));
    assert_eq!(
        stored_config(&client, "/config/topics/cfg").await,
        Some(serde_json::json!({"cleanup.policy": "compact", "min.insync.replicas": "1"}))
    );
    let after = change_notifications(&client).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().map(String::as_str), Some("topics/cfg"));
    // The broker's dynamic config manager picks the notification up.
    assert!(
        b.wait_for_log("processing config change", TIMEOUT),
        "{}",
        b.logs()
    );
    let d = describe(&mut c, 4, TOPIC, "cfg", None);
    let e = entry(&d, "cleanup.policy");
    assert_eq!(e.value.as_deref(), Some("compact"));
    assert_eq!(e.config_source, TOPIC_CONFIG);
    let e = entry(&d, "retention.ms");
    assert_eq!(e.value.as_deref(), Some("604800000"));
    assert_eq!(e.config_source, DEFAULT_CONFIG);

    // Refusals leave ZooKeeper alone.
    let (code, message) = alter(&mut c, TOPIC, "cfg", &[("segment.bytes", "abc")], false);
    assert_eq!(code, INVALID_CONFIG);
    let message = message.unwrap();
    assert!(
        message.contains("Invalid value abc for configuration segment.bytes"),
        "{message}"
    );
    let (code, message) = alter(&mut c, TOPIC, "cfg", &[("no.such.config", "1")], false);
    assert_eq!(code, INVALID_CONFIG);
    assert_eq!(
        message.as_deref(),
        Some("Unknown topic config name: no.such.config")
    );
    let (code, _) = alter(&mut c, TOPIC, "nope", &[("retention.ms", "1")], false);
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        stored_config(&client, "/config/topics/cfg").await,
        Some(serde_json::json!({"cleanup.policy": "compact", "min.insync.replicas": "1"}))
    );

    // Incremental: validate_only first, then SET / DELETE / APPEND.
    let ops = [
        ("retention.ms", SET, Some("1000")),
        ("min.insync.replicas", DELETE, None),
        ("cleanup.policy", APPEND, Some("delete")),
    ];
    assert_eq!(
        alter_incremental(&mut c, TOPIC, "cfg", &ops, true),
        (NONE, None)
    );
    assert_eq!(
        stored_config(&client, "/config/topics/cfg").await,
        Some(serde_json::json!({"cleanup.policy": "compact", "min.insync.replicas": "1"}))
    );
    assert_eq!(
        alter_incremental(&mut c, TOPIC, "cfg", &ops, false),
        (NONE, None)
    );
    assert_eq!(
        stored_config(&client, "/config/topics/cfg").await,
        Some(serde_json::json!({"cleanup.policy": "compact,delete", "retention.ms": "1000"}))
    );
    assert_eq!(
        change_notifications(&client)
            .await
            .last()
            .map(String::as_str),
        Some("topics/cfg")
    );
    let d = describe(
        &mut c,
        1,
        TOPIC,
        "cfg",
        Some(&["retention.ms", "cleanup.policy"]),
    );
    assert_eq!(entry(&d, "retention.ms").value.as_deref(), Some("1000"));
    assert_eq!(
        entry(&d, "cleanup.policy").value.as_deref(),
        Some("compact,delete")
    );
    // APPEND is for lists only; a bad SET value is INVALID_CONFIG as well.
    let (code, _) = alter_incremental(
        &mut c,
        TOPIC,
        "cfg",
        &[("retention.ms", APPEND, Some("5"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    let (code, _) = alter_incremental(
        &mut c,
        TOPIC,
        "cfg",
        &[("min.insync.replicas", SET, Some("0"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    let (code, _) = alter_incremental(
        &mut c,
        TOPIC,
        "nope",
        &[("retention.ms", SET, Some("5"))],
        false,
    );
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION);
}

#[tokio::test]
async fn broker_configs_describe_and_dynamic_updates() {
    let (_zk, b, client) = cluster(&[("num.io.threads", "4")]).await;
    let mut c = connect(&b);

    let d = describe(&mut c, 4, BROKER, "1", None);
    assert_eq!(d.error_code, NONE, "{d:?}");
    let e = entry(&d, "num.io.threads");
    assert_eq!(e.value.as_deref(), Some("4"));
    assert_eq!(e.config_source, STATIC_BROKER_CONFIG);
    assert!(!e.read_only);
    assert_eq!(
        synonyms(e),
        vec![
            syn("num.io.threads", "4", STATIC_BROKER_CONFIG),
            syn("num.io.threads", "8", DEFAULT_CONFIG),
        ]
    );
    let e = entry(&d, "num.partitions");
    assert!(e.read_only);
    assert_eq!(e.config_source, DEFAULT_CONFIG);
    let e = entry(&d, "log.retention.hours");
    assert_eq!(e.value.as_deref(), Some("168"));
    assert_eq!(e.config_source, DEFAULT_CONFIG);
    let e = entry(&d, "log.retention.ms");
    assert_eq!(e.value, None);

    let d = describe(&mut c, 1, BROKER, "2", None);
    assert_eq!(d.error_code, INVALID_REQUEST);
    let d = describe(&mut c, 1, BROKER, "", None);
    assert_eq!((d.error_code, d.configs.len()), (NONE, 0));

    // Read-only and per-broker-only keys are refused.
    let (code, message) = alter(&mut c, BROKER, "1", &[("num.partitions", "3")], false);
    assert_eq!(code, INVALID_REQUEST);
    assert_eq!(
        message.as_deref(),
        Some("Cannot update these configs dynamically: Set(num.partitions)")
    );
    let (code, _) = alter(
        &mut c,
        BROKER,
        "",
        &[("advertised.listeners", "PLAINTEXT://127.0.0.1:1")],
        false,
    );
    assert_eq!(code, INVALID_REQUEST);
    let (code, _) = alter(&mut c, BROKER, "7", &[("log.retention.ms", "1")], false);
    assert_eq!(code, INVALID_REQUEST);
    assert!(stored_config(&client, "/config/brokers/<default>")
        .await
        .is_none());

    // Cluster-wide default.
    let r = alter_incremental(
        &mut c,
        BROKER,
        "",
        &[("log.retention.ms", SET, Some("7200000"))],
        false,
    );
    assert_eq!(r, (NONE, None));
    assert_eq!(
        stored_config(&client, "/config/brokers/<default>").await,
        Some(serde_json::json!({"log.retention.ms": "7200000"}))
    );
    assert_eq!(
        change_notifications(&client)
            .await
            .last()
            .map(String::as_str),
        Some("brokers/<default>")
    );
    let d = describe(&mut c, 1, BROKER, "", None);
    let e = entry(&d, "log.retention.ms");
    assert_eq!(e.value.as_deref(), Some("7200000"));
    assert_eq!(e.config_source, DYNAMIC_DEFAULT_BROKER_CONFIG);
    let d = describe(&mut c, 1, BROKER, "1", Some(&["log.retention.ms"]));
    let e = entry(&d, "log.retention.ms");
    assert_eq!(e.config_source, DYNAMIC_DEFAULT_BROKER_CONFIG);
    assert_eq!(
        synonyms(e),
        vec![
            syn("log.retention.ms", "7200000", DYNAMIC_DEFAULT_BROKER_CONFIG),
            syn("log.retention.hours", "168", DEFAULT_CONFIG),
        ]
    );
    // Topics without an override follow it.
    create_topic(&mut c, "follows", &[]);
    let d = describe(&mut c, 1, TOPIC, "follows", Some(&["retention.ms"]));
    let e = entry(&d, "retention.ms");
    assert_eq!(e.value.as_deref(), Some("7200000"));
    assert_eq!(e.config_source, DYNAMIC_DEFAULT_BROKER_CONFIG);

    // Per broker, via AlterConfigs (validate_only first).
    let r = alter(&mut c, BROKER, "1", &[("num.io.threads", "6")], true);
    assert_eq!(r, (NONE, None));
    assert!(stored_config(&client, "/config/brokers/1").await.is_none());
    let r = alter(&mut c, BROKER, "1", &[("num.io.threads", "6")], false);
    assert_eq!(r, (NONE, None));
    assert_eq!(
        stored_config(&client, "/config/brokers/1").await,
        Some(serde_json::json!({"num.io.threads": "6"}))
    );
    let d = describe(&mut c, 1, BROKER, "1", Some(&["num.io.threads"]));
    let e = entry(&d, "num.io.threads");
    assert_eq!(e.value.as_deref(), Some("6"));
    assert_eq!(e.config_source, DYNAMIC_BROKER_CONFIG);
    assert_eq!(
        synonyms(e),
        vec![
            syn("num.io.threads", "6", DYNAMIC_BROKER_CONFIG),
            syn("num.io.threads", "4", STATIC_BROKER_CONFIG),
            syn("num.io.threads", "8", DEFAULT_CONFIG),
        ]
    );
    // More than double the current value is refused, as Kafka's thread pools do.
    let (code, message) = alter_incremental(
        &mut c,
        BROKER,
        "1",
        &[("num.io.threads", SET, Some("20"))],
        false,
    );
    assert_eq!(code, INVALID_REQUEST);
    assert_eq!(message.as_deref(), Some("Invalid dynamic configuration"));
    // Incremental DELETE removes the key again.
    let r = alter_incremental(
        &mut c,
        BROKER,
        "1",
        &[("num.io.threads", DELETE, None)],
        false,
    );
    assert_eq!(r, (NONE, None));
    assert_eq!(
        stored_config(&client, "/config/brokers/1").await,
        Some(serde_json::json!({}))
    );
}

#[tokio::test]
async fn describe_cluster_lists_brokers_and_controller() {
    let zk = EmbeddedZookeeper::start();
    let b1 = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let b2 = BrokerProcess::builder()
        .broker_id(2)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    for b in [&b1, &b2] {
        assert!(
            kcat_wait_for_brokers(&b.bootstrap_servers(), 2, TIMEOUT),
            "{}",
            b.logs()
        );
    }
    let controller = get_znode_json(&client, "/controller").await.unwrap()["brokerid"]
        .as_i64()
        .unwrap() as i32;
    let cluster_id = get_znode_json(&client, "/cluster/id").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    for b in [&b1, &b2] {
        let mut c = connect(b);
        for version in 0..=1 {
            let r = c
                .send(version, &DescribeClusterRequest::default())
                .expect("DescribeCluster");
            assert_eq!(r.error_code, NONE);
            assert_eq!(r.cluster_id.as_str(), cluster_id);
            assert_eq!(r.controller_id.0, controller);
            assert_eq!(r.cluster_authorized_operations, i32::MIN);
            let brokers: BTreeMap<i32, (String, i32)> = r
                .brokers
                .iter()
                .map(|b| (b.broker_id.0, (b.host.to_string(), b.port)))
                .collect();
            let expected: BTreeMap<i32, (String, i32)> = [
                (1, ("127.0.0.1".to_string(), i32::from(b1.port()))),
                (2, ("127.0.0.1".to_string(), i32::from(b2.port()))),
            ]
            .into();
            assert_eq!(brokers, expected);
        }
        let r = c
            .send(
                1,
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            )
            .unwrap();
        assert_ne!(r.cluster_authorized_operations, i32::MIN);
        // A broker is not a controller endpoint.
        let r = c
            .send(1, &DescribeClusterRequest::default().with_endpoint_type(2))
            .unwrap();
        assert_eq!(r.error_code, MISMATCHED_ENDPOINT_TYPE);
        assert!(r.brokers.is_empty());
    }
}
