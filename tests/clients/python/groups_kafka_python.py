"""kafka-python (pure Python) consumer groups against Rafka.

Two KafkaConsumers in one group share a 4-partition topic (two partitions each) and consume
1 000 messages exactly once, committing synchronously after every poll; the committed offsets
are the partitions' ends. The admin client lists and describes the group (Stable, two members
with their assignments), and once the members have left: deletes the offset of one partition
(OffsetDelete), then the group (DeleteGroups).

usage: groups_kafka_python.py BOOTSTRAP TOPIC GROUP
"""

import time
from collections import Counter

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from common import args, check, check_eq, fail, log, wait_for

TIMEOUT = 30
PARTITIONS = 4
TOTAL = 1000

bootstrap, topic, group = args(3, "BOOTSTRAP TOPIC GROUP")

admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT * 1000)
admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])

producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
wait_for(f"{topic} partitions", lambda: producer.partitions_for(topic) == set(range(PARTITIONS)))
for i in range(TOTAL):
    producer.send(topic, value=f"m-{i}".encode(), partition=i % PARTITIONS)
producer.flush(TIMEOUT)
producer.close()


class Member:
    def __init__(self, name):
        self.name = name
        self.received = []
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=500,
        )

    def step(self):
        batches = self.consumer.poll(timeout_ms=50)
        for records in batches.values():
            for r in records:
                self.received.append(r.value.decode())
        if batches:
            self.consumer.commit()

    def assignment(self):
        return {tp.partition for tp in self.consumer.assignment()}


members = [Member(f"kp-{i}") for i in range(2)]
deadline = time.monotonic() + TIMEOUT
while not (
    all(len(m.assignment()) == 2 for m in members)
    and sum(len(m.received) for m in members) >= TOTAL
):
    for m in members:
        m.step()
    if time.monotonic() > deadline:
        fail("timed out: " + ", ".join(f"{m.name}={sorted(m.assignment())}/{len(m.received)}" for m in members))
for _ in range(5):
    for m in members:
        m.step()
counts = Counter(v for m in members for v in m.received)
check_eq(len(counts), TOTAL, "distinct messages consumed")
check(all(n == 1 for n in counts.values()), "a message was consumed twice")
check_eq(set().union(*(m.assignment() for m in members)), set(range(PARTITIONS)), "assignment")
log("consumed: " + ", ".join(f"{m.name}={len(m.received)} {sorted(m.assignment())}" for m in members))

# --- admin -----------------------------------------------------------------------------------
listed = admin.list_groups()
log(f"listed: {listed}")
mine = [g for g in listed if g.get("group_id", g.get("group")) == group]
check_eq(len(mine), 1, "listed groups named " + group)
desc = admin.describe_groups([group])
desc = desc[group] if isinstance(desc, dict) else desc[0]
log(f"described: {desc}")
check_eq(desc["group_state"], "Stable", "state")
check_eq(desc["protocol_type"], "consumer", "protocol type")
check_eq(sorted(m["client_id"] for m in desc["members"]), ["kp-0", "kp-1"], "members")
offsets = admin.list_group_offsets({group: None})[group]
check_eq(sorted((tp.partition, o.offset) for tp, o in offsets.items()),
         [(p, TOTAL // PARTITIONS) for p in range(PARTITIONS)], "committed offsets")

# OffsetDelete is refused for a subscribed topic while members are in.
refused = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
check_eq([e.__name__ for e in refused.values()], ["GroupSubscribedToTopicError"], "OffsetDelete while subscribed")
for m in members:
    m.consumer.close()
deleted = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
check_eq([e.__name__ for e in deleted.values()], ["NoError"], "OffsetDelete of an empty group")
offsets = admin.list_group_offsets({group: None})[group]
check_eq(sorted(tp.partition for tp in offsets), [1, 2, 3], "offsets after OffsetDelete")
result = admin.delete_groups([group])
log(f"deleted: {result}")
listed = admin.list_groups()
check(all(g.get("group_id", g.get("group")) != group for g in listed), f"still listed: {listed}")
admin.close()
print("OK")
