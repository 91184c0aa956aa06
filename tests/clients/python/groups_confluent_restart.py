"""confluent-kafka: committed offsets survive a broker restart.

`commit` phase: creates a 1-partition topic, produces 100 messages, a group member consumes
the first 60 and commits offset 60, then closes. `resume` phase (after the broker restarted):
a new member of the same group starts where the group left off: the first message it gets is
m-60, and it reads the 40 others exactly once; the committed offset is 60 before it commits.

usage: groups_confluent_restart.py BOOTSTRAP TOPIC GROUP commit|resume
"""

import time

from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common import args, check, check_eq, fail, log, wait_for

TIMEOUT = 30
TOTAL = 100
COMMITTED = 60

bootstrap, topic, group, phase = args(4, "BOOTSTRAP TOPIC GROUP commit|resume")
admin = AdminClient({"bootstrap.servers": bootstrap})


def consumer():
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    c.subscribe([topic])
    return c


def consume(c, n):
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < n:
        for m in c.consume(num_messages=n - len(got), timeout=0.2):
            if m.error():
                fail(f"consume error {m.error()}")
            got.append((m.offset(), m.value().decode()))
        if time.monotonic() > deadline:
            fail(f"timed out with {len(got)} of {n} messages")
    return got


if phase == "commit":
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], request_timeout=TIMEOUT)[
        topic
    ].result(timeout=TIMEOUT)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    wait_for("topic", lambda: (t := admin.list_topics(timeout=10).topics.get(topic)) is not None and t.error is None)
    for i in range(TOTAL):
        p.produce(topic, value=f"m-{i}".encode(), partition=0)
    check_eq(p.flush(TIMEOUT), 0, "undelivered")
    c = consumer()
    got = consume(c, COMMITTED)
    check_eq([v for _, v in got], [f"m-{i}" for i in range(COMMITTED)], "first messages")
    c.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)
    c.close()
    log(f"committed {COMMITTED}")
elif phase == "resume":
    def committed():
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
        r = admin.list_consumer_group_offsets([req])[group].result(timeout=10)
        return r.topic_partitions[0].offset

    check_eq(wait_for("the committed offset after the restart", committed), COMMITTED, "committed offset")
    c = consumer()
    got = consume(c, TOTAL - COMMITTED)
    check_eq(got[0], (COMMITTED, f"m-{COMMITTED}"), "first message after the restart")
    check_eq([v for _, v in got], [f"m-{i}" for i in range(COMMITTED, TOTAL)], "resumed messages")
    extra = c.consume(num_messages=10, timeout=1)
    check_eq(len(extra), 0, "messages after the last one")
    c.close()
else:
    fail(f"unknown phase {phase}")
print("OK")
