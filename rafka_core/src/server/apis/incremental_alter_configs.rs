//! IncrementalAlterConfigs (key 44, v0–1): Kafka's `ConfigAdminManager.preprocess` +
//! `ZkAdminManager.incrementalAlterConfigs` on a ZK broker. Operations are applied, in
//! order, to the entity's stored config, and the result goes through the same checks and
//! write as AlterConfigs (see `alter_configs.rs` and [`crate::server::config_admin`]).
//!
//! - SET (0) sets a key, DELETE (1) removes it (its value may be null), APPEND (2) /
//!   SUBTRACT (3) add or remove items of a LIST key (INVALID_CONFIG for other keys); an
//!   unset list starts from the key's default. Another operation id → INVALID_REQUEST.
//! - The same resource twice, a key twice, or a null value for SET/APPEND/SUBTRACT →
//!   INVALID_REQUEST.
//! - TOPIC starts from `/config/topics/<t>`; BROKER from `/config/brokers/<id>` or
//!   `<default>` (entries Kafka would ignore dropped), validated as a dynamic update
//!   (INVALID_REQUEST). BROKER_LOGGER (log4j levels) is not supported → INVALID_REQUEST; other
//!   types → INVALID_REQUEST.

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use crate::network::Response;
use crate::protocol::ParsedRequest;
use crate::server::admin_manager::AdminManager;
use crate::server::apis::alter_configs::admin_or_fail;
use crate::server::config_admin::{
    alter_broker, alter_topic, broker_key_info, broker_resource, check_entries,
    current_broker_config, duplicate_resources, prepare_incremental, resource_type_name,
    stored_broker_entity, topic_key_info, validate_broker_update, AlterOp, ConfigFailure, ConfigOp,
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP,
    RESOURCE_TOPIC,
};
use crate::server::kafka_apis::ApisContext;
use crate::zk::zk_data::ConfigType;

/// Answers one IncrementalAlterConfigs request.
pub async fn handle(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    request: &ParsedRequest,
) -> Response {
    let body: IncrementalAlterConfigsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(context, admin, &body).await;
    super::send(request, &response)
}

/// The response (the same shape at both versions).
pub async fn respond(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    body: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
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
                "incremental alter configs refused: {}",
                f.message
            );
            r = r
                .with_error_code(f.error.code())
                .with_error_message(Some(StrBytes::from_string(f.message)));
        }
        responses.push(r);
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The requested operations; an unknown operation id → INVALID_REQUEST.
fn operations(resource: &AlterConfigsResource) -> Result<Vec<ConfigOp>, ConfigFailure> {
    resource
        .configs
        .iter()
        .map(|c| {
            let op = AlterOp::from_id(c.config_operation).ok_or_else(|| {
                ConfigFailure::invalid_request(format!(
                    "Unknown operations type {}",
                    c.config_operation
                ))
            })?;
            Ok(ConfigOp {
                name: c.name.to_string(),
                op,
                value: c.value.as_ref().map(|v| v.to_string()),
            })
        })
        .collect()
}

async fn alter(
    context: &ApisContext,
    admin: Option<&AdminManager>,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ConfigFailure> {
    check_entries(resource.configs.iter().map(|c| {
        (
            c.name.as_str(),
            c.value.is_none(),
            AlterOp::from_id(c.config_operation) == Some(AlterOp::Delete),
        )
    }))?;
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_BROKER => {
            let broker = broker_resource(name, context.broker_id)?;
            let admin = admin_or_fail(admin)?;
            let mut props = stored_broker_entity(admin, broker)
                .await
                .map_err(|e| ConfigFailure::zk("reading dynamic broker configs", &e))?;
            let ops = operations(resource)?;
            prepare_incremental(&ops, &mut props, broker_key_info)?;
            let current = current_broker_config(admin, context.broker_id)
                .await
                .map_err(|e| ConfigFailure::zk("reading dynamic broker configs", &e))?;
            validate_broker_update(&current, &props, broker.is_some())
                .map_err(ConfigFailure::invalid_request)?;
            alter_broker(admin, broker, &props, validate_only).await
        }
        RESOURCE_TOPIC => {
            if name.is_empty() {
                return Err(ConfigFailure::invalid_request(
                    "Default topic resources are not allowed.",
                ));
            }
            let admin = admin_or_fail(admin)?;
            let mut props = admin
                .zk()
                .get_entity_config(ConfigType::Topic, name)
                .await
                .map_err(|e| ConfigFailure::zk("reading topic configs", &e))?;
            let ops = operations(resource)?;
            prepare_incremental(&ops, &mut props, topic_key_info)?;
            alter_topic(admin, name, &props, validate_only).await
        }
        RESOURCE_BROKER_LOGGER => Err(ConfigFailure::invalid_request(
            "BROKER_LOGGER resources (log4j logger levels) are not supported by this broker",
        )),
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
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
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
        entries: &[(&'static str, i8, Option<&'static str>)],
    ) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_configs(
                entries
                    .iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_static_str(k))
                            .with_config_operation(*op)
                            .with_value(v.map(StrBytes::from_static_str))
                    })
                    .collect(),
            )
    }

    #[tokio::test]
    async fn request_checks() {
        let body = IncrementalAlterConfigsRequest::default().with_resources(vec![
            resource(RESOURCE_TOPIC, "", &[("retention.ms", 0, Some("1"))]),
            resource(RESOURCE_TOPIC, "b", &[("retention.ms", 0, None)]),
            resource(RESOURCE_TOPIC, "c", &[("a", 1, None), ("a", 0, Some("1"))]),
            resource(RESOURCE_BROKER_LOGGER, "1", &[("root", 0, Some("DEBUG"))]),
            resource(RESOURCE_BROKER, "x", &[]),
            resource(99, "z", &[]),
        ]);
        let r = respond(&context(), None, &body).await;
        let got: Vec<(i16, String)> = r
            .responses
            .iter()
            .map(|r| {
                (
                    r.error_code,
                    r.error_message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let invalid = ResponseError::InvalidRequest.code();
        assert_eq!(
            got[0],
            (invalid, "Default topic resources are not allowed.".into())
        );
        assert_eq!(
            got[1],
            (
                invalid,
                "Null value not supported for : retention.ms".into()
            )
        );
        assert_eq!(
            got[2],
            (invalid, "Error due to duplicate config keys".into())
        );
        assert_eq!(got[3].0, invalid);
        assert_eq!(
            got[4],
            (invalid, "Node id must be an integer, but it is: x".into())
        );
        assert_eq!(got[5], (invalid, "Unknown resource type 99".into()));
    }

    #[test]
    fn unknown_operation_ids_are_refused() {
        let r = resource(RESOURCE_TOPIC, "t", &[("retention.ms", 7, Some("1"))]);
        let e = operations(&r).unwrap_err();
        assert_eq!(e.message, "Unknown operations type 7");
        let r = resource(RESOURCE_TOPIC, "t", &[("retention.ms", 1, None)]);
        assert_eq!(operations(&r).unwrap()[0].op, AlterOp::Delete);
    }
}
