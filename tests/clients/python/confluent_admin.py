"""confluent-kafka AdminClient against Rafka: CreateTopics (3 partitions, with a topic config),
Metadata, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs (and an invalid value),
DeleteTopics.

usage: confluent_admin.py BOOTSTRAP TOPIC
"""

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from common import check, check_eq, fail, log, wait_for, args

TIMEOUT = 30

bootstrap, topic = args(2, "BOOTSTRAP TOPIC")
# No auto-creation: asking for the deleted topic's metadata must not bring it back.
admin = AdminClient(
    {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "allow.auto.create.topics": False}
)


def error_code(exc):
    """The KafkaError code inside a KafkaException raised by a future."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0].code()
    return None


def partitions_of(name):
    md = admin.list_topics(timeout=10)
    t = md.topics.get(name)
    if t is None or t.error is not None:
        return None
    return t.partitions


def topic_configs():
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)


def expect_config(configs, name, value, source):
    entry = configs.get(name)
    check(entry is not None, f"DescribeConfigs has no {name} (got {sorted(configs)})")
    check_eq(entry.value, value, f"{name} value")
    check_eq(ConfigSource(entry.source), source, f"{name} source")


# --- CreateTopics: 3 partitions, replication factor 1, one topic-level config ---------------
fs = admin.create_topics(
    [NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "86400000"})],
    request_timeout=TIMEOUT,
    operation_timeout=TIMEOUT,
)
fs[topic].result(timeout=TIMEOUT)
log(f"created {topic}")

parts = wait_for(
    f"{topic} with 3 led partitions in Metadata",
    lambda: (lambda p: p if p is not None and len(p) == 3 and all(x.leader >= 0 for x in p.values()) else None)(
        partitions_of(topic)
    ),
)
check_eq(sorted(parts), [0, 1, 2], "partition ids")
for p in parts.values():
    check_eq(len(p.replicas), 1, f"replicas of partition {p.id}")
    check_eq(p.isrs, p.replicas, f"isr of partition {p.id}")

# Creating it again is an error.
try:
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], request_timeout=TIMEOUT)[
        topic
    ].result(timeout=TIMEOUT)
    fail("a second CreateTopics for the same name succeeded")
except KafkaException as e:
    check_eq(error_code(e), KafkaError.TOPIC_ALREADY_EXISTS, f"second CreateTopics error ({e})")

# --- DescribeConfigs: the create-time config is dynamic, the rest are defaults --------------
configs = topic_configs()
expect_config(configs, "retention.ms", "86400000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
expect_config(configs, "cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG)
expect_config(configs, "segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG)
expect_config(configs, "max.message.bytes", "1048588", ConfigSource.DEFAULT_CONFIG)
expect_config(configs, "min.insync.replicas", "1", ConfigSource.DEFAULT_CONFIG)
check(not configs["retention.ms"].is_default, "retention.ms reported as default")
check(configs["cleanup.policy"].is_default, "cleanup.policy not reported as default")
log(f"described {len(configs)} configs")

# --- AlterConfigs (non-incremental: replaces the topic's whole dynamic config) --------------
res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "3600000", "segment.ms": "600000"})
admin.alter_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)
configs = wait_for(
    "AlterConfigs to show in DescribeConfigs",
    lambda: (lambda c: c if c["retention.ms"].value == "3600000" else None)(topic_configs()),
)
expect_config(configs, "retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
expect_config(configs, "segment.ms", "600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
log("altered configs")

# An invalid value is refused with INVALID_CONFIG and changes nothing.
bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "not-a-number"})
try:
    admin.alter_configs([bad], request_timeout=TIMEOUT)[bad].result(timeout=TIMEOUT)
    fail("AlterConfigs with retention.ms=not-a-number succeeded")
except KafkaException as e:
    check_eq(error_code(e), KafkaError.INVALID_CONFIG, f"invalid AlterConfigs error ({e})")
expect_config(topic_configs(), "retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)

# --- IncrementalAlterConfigs: SET one key, DELETE another -----------------------------------
res = ConfigResource(
    ResourceType.TOPIC,
    topic,
    incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("segment.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ],
)
admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)
configs = wait_for(
    "IncrementalAlterConfigs to show in DescribeConfigs",
    lambda: (lambda c: c if c["retention.ms"].value == "7200000" else None)(topic_configs()),
)
expect_config(configs, "retention.ms", "7200000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
expect_config(configs, "segment.ms", "604800000", ConfigSource.DEFAULT_CONFIG)
log("incrementally altered configs")

# --- DeleteTopics ----------------------------------------------------------------------------
admin.delete_topics([topic], request_timeout=TIMEOUT, operation_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
wait_for(f"{topic} to leave Metadata", lambda: partitions_of(topic) is None)
try:
    topic_configs()
    fail("DescribeConfigs of the deleted topic succeeded")
except KafkaException as e:
    check_eq(error_code(e), KafkaError.UNKNOWN_TOPIC_OR_PART, f"DescribeConfigs of a deleted topic ({e})")
log(f"deleted {topic}")
log("OK")
