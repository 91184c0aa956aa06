"""confluent-kafka static membership (KIP-345) against Rafka.

Three consumers with `group.instance.id` share a 6-partition topic (two partitions each). One
of them stops (a static member sends no LeaveGroup) and a new consumer with the same
`group.instance.id` starts within the session timeout: it must get the same partitions back,
and the two others must see no rebalance (no new assignment, same generation). The group
stays Stable with three members throughout.

usage: groups_confluent_static.py BOOTSTRAP TOPIC GROUP
"""

import time

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from common import args, check, check_eq, fail, log, wait_for

TIMEOUT = 30
PARTITIONS = 6
SESSION_TIMEOUT_MS = 20_000

bootstrap, topic, group = args(3, "BOOTSTRAP TOPIC GROUP")

admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics(
    [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)], request_timeout=TIMEOUT
)[topic].result(timeout=TIMEOUT)
wait_for(
    f"{topic} led",
    lambda: (t := admin.list_topics(timeout=10).topics.get(topic)) is not None
    and t.error is None
    and len(t.partitions) == PARTITIONS
    and all(p.leader >= 0 for p in t.partitions.values()),
)


class Member:
    def __init__(self, instance):
        self.instance = instance
        self.assignment = set()
        self.assigns = 0
        self.revokes = 0
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "group.instance.id": instance,
                "client.id": instance,
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
        log(f"{self.instance}: assigned {sorted(self.assignment)}")

    def on_revoke(self, consumer, partitions):
        self.revokes += 1
        log(f"{self.instance}: revoked {sorted(p.partition for p in partitions)}")

    def step(self):
        self.consumer.consume(num_messages=100, timeout=0.05)


def drive(members, what, done, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not done():
        for m in members:
            m.step()
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}: " + ", ".join(
                f"{m.instance}={sorted(m.assignment)}" for m in members))


def balanced(members):
    return all(len(m.assignment) == 2 for m in members) and set().union(
        *(m.assignment for m in members)) == set(range(PARTITIONS))


def describe():
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)


members = [Member(f"instance-{i}") for i in range(3)]
drive(members, "three static members with two partitions each", lambda: balanced(members))
# Settle: a few more polls, the counters must not move any more.
end = time.monotonic() + 1
while time.monotonic() < end:
    for m in members:
        m.step()
before = {m.instance: (m.assigns, m.revokes, frozenset(m.assignment)) for m in members}
desc = describe()
check_eq(str(desc.state), "ConsumerGroupState.STABLE", "state before the restart")
check_eq(sorted(m.group_instance_id for m in desc.members), [m.instance for m in members], "instance ids")

# --- instance-1 restarts within the session timeout -----------------------------------------
restarted = members[1]
old_partitions = set(restarted.assignment)
restarted.consumer.close()  # a static member does not leave the group
time.sleep(1)
replacement = Member(restarted.instance)
others = [members[0], members[2]]
drive(others + [replacement], "the restarted member's partitions", lambda: len(replacement.assignment) == 2,
      timeout=SESSION_TIMEOUT_MS / 1000)
check_eq(replacement.assignment, old_partitions, "partitions after the restart")
# Keep polling a while: the others must not be rebalanced.
end = time.monotonic() + 3
while time.monotonic() < end:
    for m in others + [replacement]:
        m.step()
for m in others:
    check_eq((m.assigns, m.revokes, frozenset(m.assignment)), before[m.instance],
             f"{m.instance} (assigns, revokes, partitions) across the restart")
desc = describe()
check_eq(str(desc.state), "ConsumerGroupState.STABLE", "state after the restart")
check_eq(len(desc.members), 3, "members after the restart")
for m in others + [replacement]:
    m.consumer.close()
print("OK")
