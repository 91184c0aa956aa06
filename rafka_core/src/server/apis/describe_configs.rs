//! DescribeConfigs (key 32, v0–4): Kafka's `ConfigHelper.describeConfigs` on a ZK broker.
//!
//! - TOPIC: invalid name → INVALID_TOPIC_EXCEPTION; not in the MetadataCache →
//!   UNKNOWN_TOPIC_OR_PARTITION; else every topic-level key with the topic's overrides read
//!   from `/config/topics/<t>` over the broker's current values.
//! - BROKER: empty name → the cluster-default dynamic configs (`/config/brokers/<default>`);
//!   this broker's id → every broker key; a non-number or another id → INVALID_REQUEST.
//!   The dynamic layers are read from ZooKeeper, so a change is visible at once.
//! - BROKER_LOGGER, CLIENT_METRICS, GROUP: INVALID_REQUEST (no log4j loggers, and the other
//!   two are KRaft features). A resource type Kafka does not define fails the whole request
//!   with INVALID_REQUEST for every resource, as Kafka's error response does.
//! - `configuration_keys` null or empty = all keys. Synonyms only with `include_synonyms`
//!   (v1+), documentation only with `include_documentation` (v3+). Entry details (sources,
//!   synonyms, sensitivity) come from [`crate::server::config_describer`].

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, error};

use crate::config::{KafkaConfig, LogConfig};
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::AdminManager;
use crate::server::config_admin::{
    current_broker_config, is_known_resource_type, resource_type_name, ConfigFailure,
    RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::server::config_describer::{
    broker_entries, default_broker_entries, filter_keys, topic_entries, ConfigEntry,
    DescribeOptions,
};
use crate::server::kafka_apis::ApisContext;
use crate::server::metadata_cache::MetadataCache;
use crate::zk::admin_zk_client::validate_topic_name;
use crate::zk::zk_data::ConfigType;

/// Answers one DescribeConfigs request.
pub async fn handle(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    request: &ParsedRequest,
) -> Response {
    let body: DescribeConfigsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(context, cache, admin, &body, request.api_version()).await;
    super::send(request, &response)
}

fn result(resource: &DescribeConfigsResource) -> DescribeConfigsResult {
    DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone())
}

/// The response at `version`.
pub async fn respond(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    body: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    if let Some(bad) = body
        .resources
        .iter()
        .find(|r| !is_known_resource_type(r.resource_type))
    {
        let message = format!(
            "Unexpected resource type {} for resource {}",
            resource_type_name(bad.resource_type),
            bad.resource_name.as_str()
        );
        debug!("{message}");
        let results = body
            .resources
            .iter()
            .map(|r| {
                result(r)
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(message.clone())))
            })
            .collect();
        return DescribeConfigsResponse::default().with_results(results);
    }
    let options = DescribeOptions {
        include_synonyms: version >= 1 && body.include_synonyms,
        include_documentation: version >= 3 && body.include_documentation,
    };
    // The broker's current config is read from ZooKeeper at most once per request.
    let mut current: Option<Result<KafkaConfig, ConfigFailure>> = None;
    let mut results = Vec::with_capacity(body.resources.len());
    for resource in &body.resources {
        let keys: Option<Vec<String>> = resource
            .configuration_keys
            .as_ref()
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        let outcome = describe(context, cache, admin, resource, options, &mut current).await;
        let r = match outcome {
            Ok(entries) => result(resource).with_configs(
                filter_keys(entries, keys.as_deref())
                    .iter()
                    .map(|e| e.to_result(version))
                    .collect(),
            ),
            Err(f) => {
                debug!(
                    resource = resource.resource_name.as_str(),
                    error = ?f.error,
                    "describe configs failed: {}",
                    f.message
                );
                // Kafka leaves the message at its default for an unknown topic.
                let message = if f.error == ResponseError::UnknownTopicOrPartition {
                    String::new()
                } else {
                    f.message
                };
                result(resource)
                    .with_error_code(f.error.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
            }
        };
        results.push(r);
    }
    DescribeConfigsResponse::default().with_results(results)
}

/// The broker's current config: ZooKeeper's dynamic layers over the static file (or the
/// startup config when there is no admin path, as in tools and unit tests).
async fn current_config(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    current: &mut Option<Result<KafkaConfig, ConfigFailure>>,
) -> Result<KafkaConfig, ConfigFailure> {
    if current.is_none() {
        let loaded = match admin {
            Some(admin) => current_broker_config(admin, context.broker_id)
                .await
                .map_err(|e| ConfigFailure::zk("reading dynamic broker configs", &e)),
            None => Ok(KafkaConfig::clone(&context.config)),
        };
        *current = Some(loaded);
    }
    current
        .clone()
        .unwrap_or_else(|| Ok(KafkaConfig::clone(&context.config)))
}

async fn describe(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    resource: &DescribeConfigsResource,
    options: DescribeOptions,
    current: &mut Option<Result<KafkaConfig, ConfigFailure>>,
) -> Result<Vec<ConfigEntry>, ConfigFailure> {
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TOPIC => {
            validate_topic_name(name).map_err(|e| {
                ConfigFailure::new(ResponseError::InvalidTopicException, e.to_string())
            })?;
            let known = cache
                .snapshot()
                .partition_states
                .keys()
                .any(|tp| tp.topic == name);
            if !known {
                return Err(ConfigFailure::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                ));
            }
            let Some(admin) = admin else {
                return Err(ConfigFailure::new(
                    ResponseError::UnknownServerError,
                    "Topic configs are not available on this broker",
                ));
            };
            let stored = admin
                .zk()
                .get_entity_config(ConfigType::Topic, name)
                .await
                .map_err(|e| ConfigFailure::zk("reading topic configs", &e))?;
            // Keys that are not topic configs cannot have been written by the admin path;
            // they are left out rather than failing the description.
            let overrides = stored
                .into_iter()
                .filter(|(k, _)| LogConfig::topic_def(k).is_some())
                .collect();
            let broker = current_config(context, Some(admin), current).await?;
            let log_config =
                LogConfig::from_broker_and_overrides(&broker, &overrides).map_err(|e| {
                    error!(topic = name, error = %e, "stored topic config does not load");
                    ConfigFailure::new(ResponseError::UnknownServerError, e.to_string())
                })?;
            Ok(topic_entries(&broker, &log_config, &overrides, options))
        }
        RESOURCE_BROKER => {
            let broker = current_config(context, admin, current).await?;
            if name.is_empty() {
                return Ok(default_broker_entries(&broker, options));
            }
            let id: i32 = name.parse().map_err(|_| {
                ConfigFailure::invalid_request(format!(
                    "Broker id must be an integer, but it is: {name}"
                ))
            })?;
            if id != context.broker_id {
                return Err(ConfigFailure::invalid_request(format!(
                    "Unexpected broker id, expected {} or empty string, but received {name}",
                    context.broker_id
                )));
            }
            Ok(broker_entries(&broker, options))
        }
        other => Err(ConfigFailure::invalid_request(format!(
            "Unsupported resource type: {}",
            resource_type_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use kafka_protocol::messages::update_metadata_request::{
        UpdateMetadataPartitionState, UpdateMetadataTopicState,
    };
    use kafka_protocol::messages::{TopicName, UpdateMetadataRequest};

    use super::*;

    fn context() -> ApisContext {
        let mut p = BTreeMap::new();
        p.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        p.insert("broker.id".to_string(), "1".to_string());
        p.insert("log.retention.hours".to_string(), "24".to_string());
        ApisContext {
            broker_id: 1,
            config: Arc::new(KafkaConfig::from_props(&p).unwrap()),
        }
    }

    fn cache_with_topic(topic: &'static str) -> MetadataCache {
        let cache = MetadataCache::fixed(1, 1, Some("cid".into()));
        let request = UpdateMetadataRequest::default()
            .with_controller_id(1.into())
            .with_controller_epoch(1)
            .with_topic_states(vec![UpdateMetadataTopicState::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_states(vec![UpdateMetadataPartitionState::default()
                    .with_partition_index(0)
                    .with_leader(1.into())
                    .with_isr(vec![1.into()])
                    .with_replicas(vec![1.into()])])]);
        cache.update_metadata(&request, 7).unwrap();
        cache
    }

    fn resource(kind: i8, name: &'static str) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
    }

    async fn ask(resources: Vec<DescribeConfigsResource>, version: i16) -> DescribeConfigsResponse {
        let body = DescribeConfigsRequest::default()
            .with_resources(resources)
            .with_include_synonyms(true);
        respond(&context(), &cache_with_topic("t"), None, &body, version).await
    }

    #[tokio::test]
    async fn broker_resource_names() {
        let r = ask(
            vec![
                resource(RESOURCE_BROKER, "1"),
                resource(RESOURCE_BROKER, ""),
                resource(RESOURCE_BROKER, "2"),
                resource(RESOURCE_BROKER, "x"),
            ],
            4,
        )
        .await;
        assert_eq!(r.results[0].error_code, 0);
        let retention = r.results[0]
            .configs
            .iter()
            .find(|c| c.name.as_str() == "log.retention.hours")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("24"));
        assert_eq!(retention.config_source, 4);
        assert_eq!(retention.synonyms.len(), 2);
        // No cluster-default dynamic configs.
        assert_eq!(r.results[1].error_code, 0);
        assert!(r.results[1].configs.is_empty());
        assert_eq!(
            r.results[2].error_code,
            ResponseError::InvalidRequest.code()
        );
        assert_eq!(
            r.results[2].error_message.as_deref(),
            Some("Unexpected broker id, expected 1 or empty string, but received 2")
        );
        assert_eq!(
            r.results[3].error_message.as_deref(),
            Some("Broker id must be an integer, but it is: x")
        );
    }

    #[tokio::test]
    async fn topic_errors_and_unsupported_types() {
        let r = ask(
            vec![
                resource(RESOURCE_TOPIC, "missing"),
                resource(RESOURCE_TOPIC, "bad/name"),
                resource(8, "1"),
            ],
            1,
        )
        .await;
        let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::InvalidTopicException.code(),
                ResponseError::InvalidRequest.code(),
            ]
        );
        assert!(r.results.iter().all(|r| r.configs.is_empty()));
        // An undefined resource type fails every resource.
        let r = ask(vec![resource(RESOURCE_TOPIC, "t"), resource(3, "x")], 0).await;
        assert!(r
            .results
            .iter()
            .all(|r| r.error_code == ResponseError::InvalidRequest.code()));
    }

    #[tokio::test]
    async fn key_filter_applies_to_broker_configs() {
        let body =
            DescribeConfigsRequest::default().with_resources(vec![resource(RESOURCE_BROKER, "1")
                .with_configuration_keys(Some(vec![
                    StrBytes::from_static_str("num.io.threads"),
                    StrBytes::from_static_str("nope"),
                ]))]);
        let r = respond(&context(), &cache_with_topic("t"), None, &body, 0).await;
        assert_eq!(r.results[0].configs.len(), 1);
        let c = &r.results[0].configs[0];
        assert_eq!(c.name.as_str(), "num.io.threads");
        assert!(c.is_default);
        assert!(!c.read_only);
    }
}
