//! What one fuzz input does to the broker, and the seed frames the fuzzer starts from.
//!
//! [`Harness::run`] treats the input as bytes a client wrote on one connection: split it into
//! size-prefixed frames, parse each request (api key peek, version admission, header), decode
//! its body at every version of its key's range in `SUPPORTED_VERSIONS`, and hand it to a fresh
//! `KafkaApis` (no ZooKeeper, no replica or admin manager: what a client reaches on a broker
//! without a cluster behind it), just as a connection would, until the connection would be
//! closed. Any panic (or abort) on the way is a finding.
//!
//! [`seeds`] builds valid frames for every (api key, version) of `SUPPORTED_VERSIONS` — the
//! default body, plus a populated one for the APIs below that have one — so the table can grow
//! without touching this crate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use kafka_protocol::messages::describe_log_dirs_request::{
    DescribableLogDirTopic, DescribeLogDirsRequest,
};
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic,
};
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::leader_and_isr_request::{
    LeaderAndIsrLiveLeader, LeaderAndIsrPartitionState, LeaderAndIsrRequest, LeaderAndIsrTopicState,
};
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::stop_replica_request::{
    StopReplicaPartitionState, StopReplicaPartitionV0, StopReplicaRequest, StopReplicaTopicState,
    StopReplicaTopicV1,
};
use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataBroker, UpdateMetadataEndpoint, UpdateMetadataPartitionState,
    UpdateMetadataRequest, UpdateMetadataTopicState,
};
use kafka_protocol::messages::{BrokerId, ProducerId, RequestHeader, RequestKind, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rafka_core::cluster::SecurityProtocol;
use rafka_core::config::KafkaConfig;
use rafka_core::network::frame::try_split_frame;
use rafka_core::network::{ConnectionContext, Request, RequestHandler, Response};
use rafka_core::protocol::{
    parse_request, request_header_version, supported_range, ApiKey, ParsedRequest,
    SUPPORTED_VERSIONS,
};
use rafka_core::record::{
    build_batch_with, decode_records, BatchIter, BatchOptions, CompressionType,
    EndTransactionMarker, ProducerInfo, SimpleRecord,
};
use rafka_core::server::kafka_apis::{ApisContext, KafkaApis};

/// Largest frame the harness accepts (the broker's default `socket.request.max.bytes` is far
/// larger; fuzz inputs are a few KiB, so this only bounds a forged size prefix).
pub const MAX_FRAME: usize = 1 << 20;

/// Requests handled per input at most (bounds the work of one input).
pub const MAX_REQUESTS_PER_INPUT: usize = 64;

/// Broker id of the harness's `KafkaApis`.
const BROKER_ID: i32 = 0;

/// The state shared by all inputs: a runtime, the broker config and the connection identity.
/// Each input gets its own `KafkaApis` (and so its own metadata cache), so a finding
/// reproduces from its input alone.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    config: Arc<KafkaConfig>,
    connection: Arc<ConnectionContext>,
}

impl Harness {
    /// # Panics
    /// When the fixed config or the runtime cannot be built (a harness bug, not a finding).
    pub fn new() -> Harness {
        let props = BTreeMap::from([(
            "zookeeper.connect".to_string(),
            "127.0.0.1:2181".to_string(),
        )]);
        let config = KafkaConfig::from_props(&props).expect("fixture config");
        let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
        Harness {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            config: Arc::new(config),
            connection: Arc::new(ConnectionContext {
                connection_id: "127.0.0.1:9092-127.0.0.1:9092-0".into(),
                listener_name: "PLAINTEXT".into(),
                security_protocol: SecurityProtocol::Plaintext,
                client_addr: addr,
                local_addr: addr,
            }),
        }
    }

    /// Feeds `data` through the request path as one connection's bytes; says how far the
    /// connection got.
    pub fn run(&self, data: &[u8]) -> Outcome {
        let apis = KafkaApis::new(ApisContext {
            broker_id: BROKER_ID,
            config: Arc::clone(&self.config),
        });
        let mut outcome = Outcome::default();
        let mut buf = BytesMut::from(data);
        for _ in 0..MAX_REQUESTS_PER_INPUT {
            // A framing error or an incomplete frame: the connection closes or waits for more.
            let Ok(Some(payload)) = try_split_frame(&mut buf, MAX_FRAME) else {
                return outcome;
            };
            let Ok(parsed) = parse_request(payload) else {
                outcome.refused = true;
                return outcome;
            };
            outcome.parsed += 1;
            decode_everything(&parsed);
            let response = self.rt.block_on(apis.handle(Request {
                connection: Arc::clone(&self.connection),
                parsed,
            }));
            if matches!(response, Response::CloseConnection) {
                outcome.closed = true;
                return outcome;
            }
            outcome.handled += 1;
        }
        outcome
    }
}

/// Decodes the body of `parsed` at every version of its key's range (the handler decodes it
/// at the request's version only), and walks the record batches of a Produce request: batch
/// header checks, CRC, decompression and record decoding (what the log's validation does on
/// a hosted partition, which this harness has none of).
fn decode_everything(parsed: &ParsedRequest) {
    let Some(range) = supported_range(parsed.api_key()) else {
        return;
    };
    for version in range.min..=range.max {
        let mut body = parsed.body().clone();
        let decoded = RequestKind::decode(parsed.api_key(), &mut body, version);
        if let (true, Ok(RequestKind::Produce(produce))) =
            (version == parsed.api_version(), decoded)
        {
            let records = produce
                .topic_data
                .iter()
                .flat_map(|t| &t.partition_data)
                .filter_map(|p| p.records.as_deref());
            for records in records {
                walk_batches(records);
            }
        }
    }
}

/// Record batches walked per records field at most.
const MAX_BATCHES: usize = 16;

fn walk_batches(records: &[u8]) {
    for item in BatchIter::new(records).take(MAX_BATCHES) {
        let Ok((_, batch)) = item else {
            return;
        };
        let _ = batch.validate();
        let _ = batch.validate_crc();
        let _ = (
            batch.last_offset(),
            batch.next_offset(),
            batch.last_sequence(),
        );
        if let Ok(decoded) = decode_records(&batch) {
            for record in decoded {
                let _ =
                    EndTransactionMarker::decode(record.key.as_deref(), record.value.as_deref());
            }
        }
    }
}

/// How far one input got on its connection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Requests whose header parsed and whose version was admitted.
    pub parsed: usize,
    /// Of those, requests the handler answered (or deliberately left unanswered).
    pub handled: usize,
    /// The parser refused a request (the connection would close).
    pub refused: bool,
    /// A handler asked to close the connection.
    pub closed: bool,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// One seed input: a file name and its bytes (one or more size-prefixed frames).
pub type Seed = (String, Vec<u8>);

/// Valid frames for every (api key, version) in `SUPPORTED_VERSIONS`, a few edge cases
/// (ApiVersions at an unsupported version, several requests on one connection).
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for range in SUPPORTED_VERSIONS {
        let key = range.api_key;
        for version in range.min..=range.max {
            if let Some(frame) = default_body(key).and_then(|b| frame(key, version, 1, &b)) {
                out.push((format!("seed-{key:?}-v{version}-default"), frame));
            }
            if let Some(frame) =
                populated_body(key, version).and_then(|b| frame(key, version, 2, &b))
            {
                out.push((format!("seed-{key:?}-v{version}-populated"), frame));
            }
        }
    }
    // KIP-511: an ApiVersions newer than we serve is answered (v0 body), not refused.
    if let Some(range) = supported_range(ApiKey::ApiVersions) {
        let version = range.max + 1;
        let mut header = BytesMut::new();
        let ok = request_header(ApiKey::ApiVersions, version, 3)
            .encode(
                &mut header,
                request_header_version(ApiKey::ApiVersions, version),
            )
            .is_ok();
        if ok {
            header.extend_from_slice(&[0x05, b'r', b'k', b'f', b'k', 0x02, b'1', 0x00]);
            out.push((
                format!("seed-ApiVersions-v{version}-unsupported"),
                size_prefixed(&header),
            ));
        }
    }
    // A connection's worth: UpdateMetadata fills the cache, then the others read it.
    let session: Vec<u8> = [
        (ApiKey::UpdateMetadata, 8),
        (ApiKey::Metadata, 12),
        (ApiKey::Metadata, 1),
        (ApiKey::Produce, 9),
        (ApiKey::Fetch, 12),
        (ApiKey::ApiVersions, 3),
    ]
    .into_iter()
    .filter(|(key, v)| supported_range(*key).is_some_and(|r| r.contains(*v)))
    .enumerate()
    .filter_map(|(i, (key, v))| {
        let body = populated_body(key, v).or_else(|| default_body(key))?;
        frame(key, v, i32::try_from(i).ok()? + 10, &body)
    })
    .flatten()
    .collect();
    if !session.is_empty() {
        out.push((
            "seed-session-update-metadata-then-metadata".to_string(),
            session,
        ));
    }
    out
}

/// `header ++ body` with its size prefix, or `None` when kafka-protocol cannot encode the body
/// at `version` (a field the version lacks).
fn frame(key: ApiKey, version: i16, correlation_id: i32, body: &RequestKind) -> Option<Vec<u8>> {
    let mut payload = BytesMut::new();
    request_header(key, version, correlation_id)
        .encode(&mut payload, request_header_version(key, version))
        .ok()?;
    body.encode(&mut payload, version).ok()?;
    Some(size_prefixed(&payload))
}

fn request_header(key: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("rafka-fuzz")))
}

fn size_prefixed(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// The all-defaults body of `key` (every request type of kafka-protocol 0.15.1).
fn default_body(key: ApiKey) -> Option<RequestKind> {
    macro_rules! defaults {
        ($($name:ident),* $(,)?) => {
            match key {
                $(ApiKey::$name => Some(RequestKind::$name(Default::default())),)*
                #[allow(unreachable_patterns)]
                _ => None,
            }
        };
    }
    defaults!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        LeaderAndIsr,
        StopReplica,
        UpdateMetadata,
        ControlledShutdown,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        SaslHandshake,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        WriteTxnMarkers,
        TxnOffsetCommit,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeConfigs,
        AlterConfigs,
        AlterReplicaLogDirs,
        DescribeLogDirs,
        SaslAuthenticate,
        CreatePartitions,
        CreateDelegationToken,
        RenewDelegationToken,
        ExpireDelegationToken,
        DescribeDelegationToken,
        DeleteGroups,
        ElectLeaders,
        IncrementalAlterConfigs,
        AlterPartitionReassignments,
        ListPartitionReassignments,
        OffsetDelete,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        Vote,
        BeginQuorumEpoch,
        EndQuorumEpoch,
        DescribeQuorum,
        AlterPartition,
        UpdateFeatures,
        Envelope,
        FetchSnapshot,
        DescribeCluster,
        DescribeProducers,
        BrokerRegistration,
        BrokerHeartbeat,
        UnregisterBroker,
        DescribeTransactions,
        ListTransactions,
        AllocateProducerIds,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
        ControllerRegistration,
        GetTelemetrySubscriptions,
        PushTelemetry,
        AssignReplicasToDirs,
        ListClientMetricsResources,
        DescribeTopicPartitions,
        AddRaftVoter,
        RemoveRaftVoter,
        UpdateRaftVoter,
    )
}

fn topic(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|&id| BrokerId(id)).collect()
}

/// A body with arrays and strings filled in, with only the fields `version` has set (so it
/// encodes); `None` for APIs without one (their default body still seeds them).
fn populated_body(key: ApiKey, version: i16) -> Option<RequestKind> {
    let topic_id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    Some(match key {
        ApiKey::ApiVersions => RequestKind::ApiVersions(if version >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(s("rafka-fuzz"))
                .with_client_software_version(s("1.0"))
        } else {
            ApiVersionsRequest::default()
        }),
        ApiKey::Metadata => {
            let mut topics = vec![
                MetadataRequestTopic::default().with_name(Some(topic("orders"))),
                MetadataRequestTopic::default().with_name(Some(topic("bad/name"))),
            ];
            if version >= 10 {
                topics.push(MetadataRequestTopic::default().with_topic_id(topic_id));
            }
            if version >= 12 {
                topics.push(
                    MetadataRequestTopic::default()
                        .with_topic_id(topic_id)
                        .with_name(None),
                );
            }
            let mut body = MetadataRequest::default().with_topics(Some(topics));
            if version >= 4 {
                body = body.with_allow_auto_topic_creation(false);
            }
            if (8..=10).contains(&version) {
                body = body.with_include_cluster_authorized_operations(true);
            }
            if version >= 8 {
                body = body.with_include_topic_authorized_operations(true);
            }
            RequestKind::Metadata(body)
        }
        ApiKey::CreateTopics => {
            let mut body = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(topic("orders"))
                        .with_num_partitions(3)
                        .with_replication_factor(1)
                        .with_configs(vec![CreatableTopicConfig::default()
                            .with_name(s("cleanup.policy"))
                            .with_value(Some(s("compact")))]),
                    CreatableTopic::default()
                        .with_name(topic("assigned"))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_assignments(vec![CreatableReplicaAssignment::default()
                            .with_partition_index(0)
                            .with_broker_ids(ids(&[0, 1]))]),
                ]);
            if version >= 1 {
                body = body.with_validate_only(true);
            }
            RequestKind::CreateTopics(body)
        }
        ApiKey::UpdateMetadata => {
            let state = |partition: i32| {
                let mut p = UpdateMetadataPartitionState::default()
                    .with_partition_index(partition)
                    .with_controller_epoch(1)
                    .with_leader(BrokerId(BROKER_ID))
                    .with_leader_epoch(3)
                    .with_isr(ids(&[BROKER_ID]))
                    .with_zk_version(4)
                    .with_replicas(ids(&[BROKER_ID, 7]));
                if version <= 4 {
                    p = p.with_topic_name(topic("orders"));
                }
                if version >= 4 {
                    p = p.with_offline_replicas(ids(&[7]));
                }
                p
            };
            let mut broker = UpdateMetadataBroker::default().with_id(BrokerId(BROKER_ID));
            if version == 0 {
                broker = broker.with_v0_host(s("127.0.0.1")).with_v0_port(9092);
            } else {
                let mut endpoint = UpdateMetadataEndpoint::default()
                    .with_host(s("127.0.0.1"))
                    .with_port(9092)
                    .with_security_protocol(0);
                if version >= 3 {
                    endpoint = endpoint.with_listener(s("PLAINTEXT"));
                }
                broker = broker.with_endpoints(vec![endpoint]);
            }
            if version >= 2 {
                broker = broker.with_rack(Some(s("rack-a")));
            }
            let mut body = UpdateMetadataRequest::default()
                .with_controller_id(BrokerId(BROKER_ID))
                .with_controller_epoch(1)
                .with_live_brokers(vec![broker]);
            if version >= 5 {
                let mut topic_state = UpdateMetadataTopicState::default()
                    .with_topic_name(topic("orders"))
                    .with_partition_states(vec![state(0), state(1)]);
                if version >= 7 {
                    topic_state = topic_state.with_topic_id(topic_id);
                }
                body = body.with_topic_states(vec![topic_state]);
            } else {
                body = body.with_ungrouped_partition_states(vec![state(0), state(1)]);
            }
            RequestKind::UpdateMetadata(body)
        }
        ApiKey::LeaderAndIsr => {
            let state = |partition: i32| {
                let mut p = LeaderAndIsrPartitionState::default()
                    .with_partition_index(partition)
                    .with_controller_epoch(1)
                    .with_leader(BrokerId(BROKER_ID))
                    .with_leader_epoch(0)
                    .with_isr(ids(&[BROKER_ID]))
                    .with_partition_epoch(0)
                    .with_replicas(ids(&[BROKER_ID]));
                if version <= 1 {
                    p = p.with_topic_name(topic("orders"));
                }
                if version >= 1 {
                    p = p.with_is_new(true);
                }
                if version >= 3 {
                    p = p
                        .with_adding_replicas(ids(&[3]))
                        .with_removing_replicas(ids(&[4]));
                }
                p
            };
            let mut body = LeaderAndIsrRequest::default()
                .with_controller_id(BrokerId(BROKER_ID))
                .with_controller_epoch(1)
                .with_live_leaders(vec![LeaderAndIsrLiveLeader::default()
                    .with_broker_id(BrokerId(BROKER_ID))
                    .with_host_name(s("127.0.0.1"))
                    .with_port(9092)]);
            if version >= 2 {
                let mut topic_state = LeaderAndIsrTopicState::default()
                    .with_topic_name(topic("orders"))
                    .with_partition_states(vec![state(0), state(1)]);
                if version >= 5 {
                    topic_state = topic_state.with_topic_id(topic_id);
                }
                body = body.with_topic_states(vec![topic_state]);
            } else {
                body = body.with_ungrouped_partition_states(vec![state(0), state(1)]);
            }
            if version >= 5 {
                body = body.with_type(1);
            }
            RequestKind::LeaderAndIsr(body)
        }
        ApiKey::Produce => {
            let mut body = ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic("orders"))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(record_batches().into())),
                        PartitionProduceData::default()
                            .with_index(1)
                            .with_records(None),
                    ])]);
            if version >= 3 {
                body = body.with_transactional_id(None);
            }
            RequestKind::Produce(body)
        }
        ApiKey::Fetch => {
            let mut partition = FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20);
            if version >= 5 {
                partition = partition.with_log_start_offset(-1);
            }
            if version >= 9 {
                partition = partition.with_current_leader_epoch(0);
            }
            if version >= 12 {
                partition = partition.with_last_fetched_epoch(0);
            }
            let mut fetch_topic = FetchTopic::default().with_partitions(vec![partition]);
            let mut forgotten = ForgottenTopic::default().with_partitions(vec![2]);
            if version >= 13 {
                fetch_topic = fetch_topic.with_topic_id(topic_id);
                forgotten = forgotten.with_topic_id(topic_id);
            } else {
                fetch_topic = fetch_topic.with_topic(topic("orders"));
                forgotten = forgotten.with_topic(topic("orders"));
            }
            let mut body = FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_isolation_level(1)
                .with_topics(vec![fetch_topic]);
            if version <= 14 {
                body = body.with_replica_id(BrokerId(-1));
            }
            if version >= 7 {
                body = body
                    .with_session_id(0)
                    .with_session_epoch(0)
                    .with_forgotten_topics_data(vec![forgotten]);
            }
            if version >= 11 {
                body = body.with_rack_id(s("rack-a"));
            }
            RequestKind::Fetch(body)
        }
        ApiKey::ListOffsets => {
            let mut partition = ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1);
            if version == 0 {
                partition = partition.with_max_num_offsets(1);
            }
            if version >= 4 {
                partition = partition.with_current_leader_epoch(0);
            }
            let mut body = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        partition,
                        ListOffsetsPartition::default()
                            .with_partition_index(1)
                            .with_timestamp(-2),
                    ])]);
            if version >= 2 {
                body = body.with_isolation_level(1);
            }
            RequestKind::ListOffsets(body)
        }
        ApiKey::DeleteTopics => {
            let body = DeleteTopicsRequest::default().with_timeout_ms(30_000);
            RequestKind::DeleteTopics(if version >= 6 {
                body.with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic("orders"))),
                    DeleteTopicState::default().with_topic_id(topic_id),
                ])
            } else {
                body.with_topic_names(vec![topic("orders"), topic("bad/name")])
            })
        }
        ApiKey::DescribeConfigs => {
            let mut body = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configuration_keys(Some(vec![s("cleanup.policy")])),
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("0"))
                    .with_configuration_keys(None),
            ]);
            if version >= 1 {
                body = body.with_include_synonyms(true);
            }
            if version >= 3 {
                body = body.with_include_documentation(true);
            }
            RequestKind::DescribeConfigs(body)
        }
        ApiKey::AlterConfigs => {
            use kafka_protocol::messages::alter_configs_request::{
                AlterConfigsRequest, AlterConfigsResource, AlterableConfig,
            };
            RequestKind::AlterConfigs(
                AlterConfigsRequest::default()
                    .with_validate_only(true)
                    .with_resources(vec![AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s("orders"))
                        .with_configs(vec![
                            AlterableConfig::default()
                                .with_name(s("retention.ms"))
                                .with_value(Some(s("1000"))),
                            AlterableConfig::default()
                                .with_name(s("cleanup.policy"))
                                .with_value(None),
                        ])]),
            )
        }
        ApiKey::IncrementalAlterConfigs => {
            use kafka_protocol::messages::incremental_alter_configs_request::{
                AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
            };
            RequestKind::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default()
                    .with_validate_only(true)
                    .with_resources(vec![AlterConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("0"))
                        .with_configs(vec![
                            AlterableConfig::default()
                                .with_name(s("log.cleaner.threads"))
                                .with_config_operation(0)
                                .with_value(Some(s("2"))),
                            AlterableConfig::default()
                                .with_name(s("cleanup.policy"))
                                .with_config_operation(2)
                                .with_value(Some(s("compact"))),
                        ])]),
            )
        }
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_timeout_ms(30_000)
                .with_validate_only(true)
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(topic("orders"))
                        .with_count(4)
                        .with_assignments(Some(vec![
                            CreatePartitionsAssignment::default().with_broker_ids(ids(&[0]))
                        ])),
                    CreatePartitionsTopic::default()
                        .with_name(topic("other"))
                        .with_count(2)
                        .with_assignments(None),
                ]),
        ),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(
            DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(-1)])]),
        ),
        ApiKey::DescribeLogDirs => {
            RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(topic("orders"))
                    .with_partitions(vec![0, 1]),
            ])))
        }
        ApiKey::StopReplica => {
            let mut body = StopReplicaRequest::default()
                .with_controller_id(BrokerId(BROKER_ID))
                .with_controller_epoch(1);
            if version >= 1 {
                body = body.with_broker_epoch(-1);
            }
            body = match version {
                0 => body
                    .with_delete_partitions(true)
                    .with_ungrouped_partitions(vec![StopReplicaPartitionV0::default()
                        .with_topic_name(topic("orders"))
                        .with_partition_index(0)]),
                1 | 2 => body.with_delete_partitions(true).with_topics(vec![
                    StopReplicaTopicV1::default()
                        .with_name(topic("orders"))
                        .with_partition_indexes(vec![0, 1]),
                ]),
                _ => body.with_topic_states(vec![StopReplicaTopicState::default()
                    .with_topic_name(topic("orders"))
                    .with_partition_states(vec![StopReplicaPartitionState::default()
                        .with_partition_index(0)
                        .with_leader_epoch(1)
                        .with_delete_partition(true)])]),
            };
            RequestKind::StopReplica(body)
        }
        ApiKey::InitProducerId => {
            let mut body = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000);
            if version >= 3 {
                body = body
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
            }
            RequestKind::InitProducerId(body)
        }
        _ => return None,
    })
}

/// Magic-2 record batches, one per compression codec (the last one transactional, with an
/// idempotent producer and record headers).
fn record_batches() -> Vec<u8> {
    let records = [
        SimpleRecord::new(1_700_000_000_000, Some(b"key"), Some(b"value")),
        SimpleRecord::new(1_700_000_000_001, None, Some(b"no key")),
        SimpleRecord {
            timestamp: 1_700_000_000_002,
            key: Some(b"k2".to_vec()),
            value: None,
            headers: vec![
                ("h".to_string(), Some(b"v".to_vec())),
                ("n".to_string(), None),
            ],
        },
    ];
    let codecs = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];
    let mut out = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        let last = i + 1 == codecs.len();
        let producer = if last {
            ProducerInfo {
                producer_id: 7,
                producer_epoch: 0,
                base_sequence: 0,
            }
        } else {
            ProducerInfo::NONE
        };
        let options = BatchOptions {
            transactional: last,
            ..BatchOptions::default()
        };
        if let Ok(batch) = build_batch_with(codec, 0, producer, &records, &options) {
            out.extend_from_slice(&batch);
        }
    }
    out
}

/// Writes [`seeds`] into `dir` (created if missing); returns how many.
pub fn write_seeds(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let seeds = seeds();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(seeds.len())
}

/// Replays every seed through `harness`. Err lists the seeds the parser refused (the
/// generator no longer matches the parser: a harness bug); Ok lists the seeds a handler
/// closed the connection on (allowed, but worth a look: a valid request should be answered).
pub fn check_seeds(harness: &Harness) -> Result<Vec<String>, Vec<String>> {
    let mut refused = Vec::new();
    let mut closed = Vec::new();
    for (name, bytes) in seeds() {
        let outcome = harness.run(&bytes);
        if outcome.refused || outcome.parsed == 0 {
            refused.push(name);
        } else if outcome.closed {
            closed.push(name);
        }
    }
    if refused.is_empty() {
        Ok(closed)
    } else {
        Err(refused)
    }
}
