"""confluent-kafka consumer for tests/tests/cluster_chaos.rs: reads every partition of TOPIC
from the beginning with assign() (no group membership, no commits) up to the high watermark it
sees first, and writes one line per record to OUT_FILE:

    <partition> <offset> <value>

The test compares the lines with the producer's acknowledgements.

usage: chaos_consumer.py BOOTSTRAP TOPIC PARTITIONS OUT_FILE
"""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from common import args, check_eq, fail, log

TIMEOUT = 60

bootstrap, topic, partitions, out_path = args(4, "BOOTSTRAP TOPIC PARTITIONS OUT_FILE")
partitions = int(partitions)

consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        # Required by the Python client; with assign() and no commits it is bookkeeping only.
        "group.id": f"unused-{topic}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "allow.auto.create.topics": False,
    }
)
high = {}
for p in range(partitions):
    low, hw = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    check_eq(low, 0, f"log start offset of partition {p}")
    high[p] = hw
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

count = {p: 0 for p in range(partitions)}
done = {p for p in range(partitions) if high[p] == 0}
deadline = time.monotonic() + TIMEOUT
with open(out_path, "w") as out:
    while len(done) < partitions:
        if time.monotonic() > deadline:
            fail(f"consumed {count} of {high} records in {TIMEOUT}s")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail(f"consumer error: {msg.error()}")
        p = msg.partition()
        out.write(f"{p} {msg.offset()} {msg.value().decode()}\n")
        count[p] += 1
        if msg.offset() >= high[p] - 1:
            done.add(p)
consumer.close()
log(f"consumed {count} (high watermarks {high})")
log("OK")
