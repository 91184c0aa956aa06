"""confluent-kafka AdminClient against Rafka, the cluster-level calls: DescribeCluster,
CreatePartitions (3 -> 5, then a produce to a new partition), and the admin ListOffsets
(earliest, latest, by timestamp and max timestamp).

usage: confluent_admin_cluster.py BOOTSTRAP TOPIC BROKER_ID
"""

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic, OffsetSpec

from common import args, check, check_eq, fail, log, wait_for

TIMEOUT = 30

bootstrap, topic, broker_id = args(3, "BOOTSTRAP TOPIC BROKER_ID")
broker_id = int(broker_id)
admin = AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})

# --- DescribeCluster ---------------------------------------------------------------------------
cluster = admin.describe_cluster(request_timeout=TIMEOUT).result(timeout=TIMEOUT)
check(cluster.cluster_id, f"DescribeCluster: empty cluster id ({cluster.cluster_id!r})")
check_eq(cluster.cluster_id, admin.list_topics(timeout=10).cluster_id, "cluster id vs Metadata")
check_eq([n.id for n in cluster.nodes], [broker_id], "DescribeCluster nodes")
host, port = bootstrap.rsplit(":", 1)
check_eq((cluster.nodes[0].host, cluster.nodes[0].port), (host, int(port)), "node endpoint")
check(cluster.controller is not None, "DescribeCluster: no controller")
check_eq(cluster.controller.id, broker_id, "DescribeCluster controller")
log(f"cluster {cluster.cluster_id}: nodes {[n.id for n in cluster.nodes]}, controller {cluster.controller.id}")

# --- CreatePartitions --------------------------------------------------------------------------
admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], request_timeout=TIMEOUT)[
    topic
].result(timeout=TIMEOUT)


def led_partitions(n):
    t = admin.list_topics(timeout=10).topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != n:
        return None
    return all(p.leader == broker_id for p in t.partitions.values())


wait_for(f"{topic} with 3 led partitions", lambda: led_partitions(3))
admin.create_partitions([NewPartitions(topic, 5)], request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
wait_for(f"{topic} with 5 led partitions", lambda: led_partitions(5))
log("partitions 3 -> 5")

# Produce to the new partition 4: 10 records with timestamps 1000, 2000, ... (ms).
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "allow.auto.create.topics": False})
reports = []
for i in range(10):
    producer.produce(
        topic, value=f"v{i}".encode(), partition=4, timestamp=(i + 1) * 1000,
        on_delivery=lambda err, msg: reports.append(err or (msg.partition(), msg.offset())),
    )
check_eq(producer.flush(TIMEOUT), 0, "undelivered records")
check_eq(reports, [(4, i) for i in range(10)], "delivery reports on partition 4")

# --- admin ListOffsets -------------------------------------------------------------------------
tp = TopicPartition(topic, 4)
cases = [
    (OffsetSpec.earliest(), 0),
    (OffsetSpec.latest(), 10),
    (OffsetSpec.for_timestamp(4500), 4),  # first record with timestamp >= 4500: 5000 at offset 4
    (OffsetSpec.for_timestamp(10_001), -1),  # none
    (OffsetSpec.max_timestamp(), 9),  # the record with the largest timestamp
]
for spec, want in cases:
    info = admin.list_offsets({tp: spec}, request_timeout=TIMEOUT)[tp].result(timeout=TIMEOUT)
    check_eq(info.offset, want, f"ListOffsets {type(spec).__name__}({getattr(spec, 'timestamp', '')})")
empty = TopicPartition(topic, 3)
for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
    info = admin.list_offsets({empty: spec}, request_timeout=TIMEOUT)[empty].result(timeout=TIMEOUT)
    check_eq(info.offset, 0, f"ListOffsets {type(spec).__name__} on the empty partition 3")
log("ListOffsets ok")
log("OK")
