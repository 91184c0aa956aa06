//! AlterConfigs (key 33, v0–2): Kafka's `ConfigAdminManager.preprocess` +
//! `ZkAdminManager.alterConfigs` on a ZK broker. Each resource's entries *replace* its whole
//! stored config (keys not listed are removed).
//!
//! - The same resource twice → INVALID_REQUEST for both; a key twice or a null value →
//!   INVALID_REQUEST.
//! - TOPIC: empty name → INVALID_REQUEST; unknown topic → UNKNOWN_TOPIC_OR_PARTITION;
//!   overrides checked like CreateTopics' (INVALID_CONFIG); written to `/config/topics/<t>`
//!   with a `/config/changes` notification.
//! - BROKER: empty name = `/config/brokers/<default>`, else this broker's id (INVALID_REQUEST
//!   otherwise); keys must be dynamically updatable at that level and valid together with the
//!   current config (INVALID_REQUEST with Kafka's message); password keys are refused
//!   (INVALID_CONFIG) since they would need Kafka's encrypted storage.
//! - Other types (BROKER_LOGGER included: legacy AlterConfigs never supported it) →
//!   INVALID_REQUEST.
//! - `validate_only`: every check, no write.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use crate::network::Response;
use crate::protocol::ParsedRequest;
use crate::server::admin_manager::AdminManager;
use crate::server::config_admin::{
    alter_broker, alter_topic, broker_resource, check_entries, current_broker_config,
    duplicate_resources, resource_type_name, validate_broker_update, ConfigFailure,
    RESOURCE_BROKER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use crate::server::kafka_apis::ApisContext;

/// Answers one AlterConfigs request.
pub async fn handle(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    request: &ParsedRequest,
) -> Response {
    let body: AlterConfigsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(context, admin, &body).await;
    super::send(request, &response)
}

/// The response (the same shape at every version).
pub async fn respond(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    body: &AlterConfigsRequest,
) -> AlterConfigsResponse {
    let names: Vec<(i8, String)> = body
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.to_string()))
        .collect();
    let duplicates = duplicate_resources(&names);
    let mut responses = Vec::with_capacity(body.resources.len());
    for (i, resource) in body.resources.iter().enumerate() {
        let outcome = if duplicates.contains(&i) {
            Err(ConfigFailure::invalid_request(
                "Each resource must appear at most once.",
            ))
        } else {
            alter(context, admin, resource, body.validate_only).await
        };
        let mut r = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone())
            .with_error_message(None);
        if let Err(f) = outcome {
            info!(
                resource = resource.resource_name.as_str(),
                resource_type = resource_type_name(resource.resource_type),
                error = ?f.error,
                "alter configs refused: {}",
                f.message
            );
            r = r
                .with_error_code(f.error.code())
                .with_error_message(Some(StrBytes::from_string(f.message)));
        }
        responses.push(r);
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// The admin path is needed for every change.
pub(crate) fn admin_or_fail(admin: Option<&AdminManager>) -> Result<&AdminManager, ConfigFailure> {
    admin.ok_or_else(|| {
        ConfigFailure::new(
            kafka_protocol::ResponseError::UnknownServerError,
            "Config changes are not available on this broker",
        )
    })
}

async fn alter(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ConfigFailure> {
    check_entries(
        resource
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.is_none(), false)),
    )?;
    let props: BTreeMap<String, String> = resource
        .configs
        .iter()
        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
        .collect();
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_BROKER => {
            let broker = broker_resource(name, context.broker_id)?;
            let admin = admin_or_fail(admin)?;
            let current = current_broker_config(admin, context.broker_id)
                .await
                .map_err(|e| ConfigFailure::zk("reading dynamic broker configs", &e))?;
            validate_broker_update(&current, &props, broker.is_some())
                .map_err(ConfigFailure::invalid_request)?;
            alter_broker(admin, broker, &props, validate_only).await
        }
        RESOURCE_TOPIC => alter_topic(admin_or_fail(admin)?, name, &props, validate_only).await,
        t @ (RESOURCE_CLIENT_METRICS | RESOURCE_GROUP) => {
            Err(ConfigFailure::invalid_request(format!(
                "AlterConfigs is only supported for topics and brokers, but resource type is {}",
                resource_type_name(t)
            )))
        }
        other => Err(ConfigFailure::invalid_request(format!(
            "Unknown resource type {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::messages::alter_configs_request::AlterableConfig;
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::config::KafkaConfig;

    fn context() -> ApisContext {
        let mut p = BTreeMap::new();
        p.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        ApisContext {
            broker_id: 1,
            config: Arc::new(KafkaConfig::from_props(&p).unwrap()),
        }
    }

    fn resource(
        kind: i8,
        name: &'static str,
        entries: &[(&'static str, Option<&'static str>)],
    ) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_configs(
                entries
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_static_str(k))
                            .with_value(v.map(StrBytes::from_static_str))
                    })
                    .collect(),
            )
    }

    #[tokio::test]
    async fn request_checks_come_first() {
        let body = AlterConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_TOPIC, "a", &[("retention.ms", Some("1"))]),
            resource(RESOURCE_TOPIC, "a", &[]),
            resource(RESOURCE_TOPIC, "b", &[("retention.ms", None)]),
            resource(RESOURCE_TOPIC, "c", &[("x", Some("1")), ("x", Some("2"))]),
            resource(RESOURCE_BROKER, "2", &[]),
            resource(8, "1", &[]),
            resource(RESOURCE_BROKER, "1", &[("num.partitions", Some("2"))]),
        ]);
        let r = respond(&context(), None, &body).await;
        let got: Vec<(i16, Option<String>)> = r
            .responses
            .iter()
            .map(|r| {
                (
                    r.error_code,
                    r.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(
            got,
            vec![
                (
                    invalid,
                    Some("Each resource must appear at most once.".into())
                ),
                (
                    invalid,
                    Some("Each resource must appear at most once.".into())
                ),
                (
                    invalid,
                    Some("Null value not supported for : retention.ms".into())
                ),
                (invalid, Some("Error due to duplicate config keys".into())),
                (
                    invalid,
                    Some("Unexpected broker id, expected 1, but received 2".into())
                ),
                (invalid, Some("Unknown resource type 8".into())),
                // Without an admin path nothing can be checked against ZooKeeper.
                (
                    ResponseError::UnknownServerError.code(),
                    Some("Config changes are not available on this broker".into())
                ),
            ]
        );
    }
}
