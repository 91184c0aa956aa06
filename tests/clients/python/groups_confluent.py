"""confluent-kafka (librdkafka) consumer groups against Rafka.

Three consumers in one group on a 6-partition topic must end up with two partitions each;
10 000 messages (half produced before, half after a member leaves) must be consumed exactly
once across the members: every consumer commits synchronously what it processed before it
polls again, so a partition that moves resumes at the committed offset. When one member
closes (LeaveGroup), the other two must own its partitions within the session timeout, and
nothing is skipped. Then the admin API: list the group (Stable, 2 members), describe it
(members with client ids, hosts and assignments), list its committed offsets (the end of every
partition), and delete it once its members are gone.

The consumers are driven round-robin from one thread (librdkafka heartbeats in the
background), so the order of events is deterministic enough to assert on.

usage: groups_confluent.py BOOTSTRAP TOPIC GROUP
"""

import time
from collections import Counter

from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common import args, check, check_eq, fail, log, wait_for

TIMEOUT = 30
PARTITIONS = 6
TOTAL = 10_000
SESSION_TIMEOUT_MS = 6000

bootstrap, topic, group = args(3, "BOOTSTRAP TOPIC GROUP")

admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics(
    [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)], request_timeout=TIMEOUT
)[topic].result(timeout=TIMEOUT)


def led_partitions():
    t = admin.list_topics(timeout=10).topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != PARTITIONS:
        return None
    return all(p.leader >= 0 for p in t.partitions.values())


wait_for(f"{topic} with {PARTITIONS} led partitions", led_partitions)

producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})


def produce(first, last):
    for i in range(first, last):
        producer.produce(topic, value=f"m-{i}".encode(), key=str(i).encode(), partition=i % PARTITIONS)
        if i % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(TIMEOUT)
    check(remaining == 0, f"{remaining} messages not delivered")


class Member:
    def __init__(self, name):
        self.name = name
        self.assignment = set()
        self.assigns = 0
        self.received = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": name,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": 500,
                "partition.assignment.strategy": "range",
            }
        )
        self.consumer.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, consumer, partitions):
        self.assignment = {p.partition for p in partitions}
        self.assigns += 1
        log(f"{self.name}: assigned {sorted(self.assignment)}")

    def on_revoke(self, consumer, partitions):
        self.assignment = set()

    def step(self):
        """One poll; commits what it got before returning."""
        msgs = self.consumer.consume(num_messages=500, timeout=0.05)
        last = {}
        for m in msgs:
            if m.error():
                fail(f"{self.name}: consume error {m.error()}")
            self.received.append(m.value().decode())
            last[m.partition()] = m.offset()
        if last:
            offsets = [TopicPartition(topic, p, o + 1) for p, o in last.items()]
            committed = self.consumer.commit(offsets=offsets, asynchronous=False)
            for tp in committed:
                if tp.error:
                    fail(f"{self.name}: commit of {tp.partition} failed: {tp.error}")
        return len(msgs)


def drive(members, what, done, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not done():
        for m in members:
            m.step()
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout}s waiting for {what}: " + ", ".join(
                f"{m.name}={sorted(m.assignment)}/{len(m.received)}" for m in members))


def balanced(members, per_member):
    return all(len(m.assignment) == per_member for m in members) and set().union(
        *(m.assignment for m in members)) == set(range(PARTITIONS))


def received(members):
    return sum(len(m.received) for m in members)


# --- three members, half the messages -------------------------------------------------------
produce(0, TOTAL // 2)
members = [Member(f"member-{i}") for i in range(3)]
drive(members, "three members with two partitions each", lambda: balanced(members, 2))
log("assignment: " + ", ".join(f"{m.name}={sorted(m.assignment)}" for m in members))
gone = members[2]
drive(members, f"{TOTAL // 2} messages", lambda: received(members) >= TOTAL // 2)

# --- one member leaves: the others take its partitions within the session timeout ----------
left_at = time.monotonic()
gone.consumer.close()
rest = members[:2]
drive(rest, "the two remaining members to own all partitions", lambda: balanced(rest, 3),
      timeout=SESSION_TIMEOUT_MS / 1000)
took = time.monotonic() - left_at
log(f"partitions of {gone.name} taken over after {took:.2f}s")
check(took < SESSION_TIMEOUT_MS / 1000, f"takeover took {took:.2f}s")

# --- the other half; everything exactly once -------------------------------------------------
produce(TOTAL // 2, TOTAL)
drive(rest, f"{TOTAL} messages", lambda: received(members) >= TOTAL)
# A little more polling: nothing may arrive twice.
for _ in range(10):
    for m in rest:
        m.step()
counts = Counter(v for m in members for v in m.received)
duplicates = [v for v, n in counts.items() if n > 1]
check(not duplicates, f"{len(duplicates)} messages consumed more than once, e.g. {duplicates[:5]}")
missing = [i for i in range(TOTAL) if f"m-{i}" not in counts]
check(not missing, f"{len(missing)} messages never consumed, e.g. {missing[:5]}")
check_eq(received(members), TOTAL, "messages consumed")
log(f"consumed {TOTAL} messages exactly once: " + ", ".join(f"{m.name}={len(m.received)}" for m in members))

# --- admin: list, describe, offsets ----------------------------------------------------------
listed = admin.list_consumer_groups(request_timeout=10).result(timeout=TIMEOUT)
mine = [g for g in listed.valid if g.group_id == group]
check_eq(len(mine), 1, "listed groups named " + group)
check_eq(str(mine[0].state), "ConsumerGroupState.STABLE", "listed state")
desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
check_eq(str(desc.state), "ConsumerGroupState.STABLE", "described state")
check_eq(desc.partition_assignor, "range", "described assignor")
check_eq(sorted(m.client_id for m in desc.members), ["member-0", "member-1"], "described members")
assigned = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
check_eq(assigned, list(range(PARTITIONS)), "described assignments")
for m in desc.members:
    check(m.host.startswith("/127.0.0.1"), f"member host {m.host}")
    check_eq(len(m.assignment.topic_partitions), 3, f"{m.client_id} partitions")
request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])
offsets = admin.list_consumer_group_offsets([request])[group].result(timeout=TIMEOUT)
check_eq(sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions),
         [(p, TOTAL // PARTITIONS + (1 if p < TOTAL % PARTITIONS else 0)) for p in range(PARTITIONS)],
         "committed offsets")

# --- delete: refused while members are in, done once they left ------------------------------
try:
    admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
    fail("deleting a group with members succeeded")
except Exception as e:  # noqa: BLE001 - the error is checked below
    check("NON_EMPTY_GROUP" in str(e) or "not empty" in str(e).lower(), f"delete error: {e}")
for m in rest:
    m.consumer.close()
admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
listed = admin.list_consumer_groups(request_timeout=10).result(timeout=TIMEOUT)
check(all(g.group_id != group for g in listed.valid), "the deleted group is still listed")
print("OK")
