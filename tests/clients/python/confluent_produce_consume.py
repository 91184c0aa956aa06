"""confluent-kafka producer and consumer against Rafka: an idempotent producer (acks=all) with
one compression codec writes keyed records with headers (plus a null value and an empty one) to
a new 3-partition topic; a consumer with assign() (no group membership, no commits) reads every
partition back from the beginning and must see the same bytes in the same order at the offsets
the delivery reports gave; the watermarks (ListOffsets) must match.

usage: confluent_produce_consume.py BOOTSTRAP TOPIC CODEC COUNT
  CODEC: none, gzip, snappy, lz4 or zstd
"""

import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from common import args, check, check_eq, fail, log, payload, record_size, wait_for

TIMEOUT = 30
PARTITIONS = 3

bootstrap, topic, codec, count = args(4, "BOOTSTRAP TOPIC CODEC COUNT")
count = int(count)

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

# --- produce ---------------------------------------------------------------------------------
producer = Producer(
    {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": codec,
        # Several records per batch, several batches per partition.
        "linger.ms": 20,
        "batch.num.messages": 64,
        "allow.auto.create.topics": False,
    }
)


def record(i):
    """(key, value, headers) of record i."""
    key = None if i % 50 == 7 else f"key-{i % 17}".encode()
    if i == 0:
        value = None
    elif i == 1:
        value = b""
    else:
        value = payload(i, record_size(i))
    headers = [("seq", str(i).encode()), ("bin", bytes([i % 256, 0, 255]))]
    return key, value, headers


delivered = {}  # i -> (partition, offset, timestamp) or an error
sent_at = int(time.time() * 1000)


def on_delivery(i):
    def cb(err, msg):
        delivered[i] = err if err is not None else (msg.partition(), msg.offset(), msg.timestamp())

    return cb


for i in range(count):
    key, value, headers = record(i)
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery(i))
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)
remaining = producer.flush(TIMEOUT)
check_eq(remaining, 0, "records still undelivered after flush")
errors = {i: e for i, e in delivered.items() if isinstance(e, KafkaError)}
check(not errors, f"delivery errors (first 5): {sorted(errors.items())[:5]}")
check_eq(len(delivered), count, "delivery reports")

# Per partition, in production order: offsets 0, 1, 2, ... (idempotence keeps the order).
expected = {p: [] for p in range(PARTITIONS)}
for i in range(count):
    p, off, (ts_type, ts) = delivered[i]
    check(0 <= p < PARTITIONS, f"record {i} delivered to partition {p}")
    check_eq(ts_type, TIMESTAMP_CREATE_TIME, f"timestamp type in delivery report {i}")
    expected[p].append((off, i))
for p, recs in expected.items():
    check_eq([off for off, _ in recs], list(range(len(recs))), f"offsets of partition {p}")
    check(recs, f"partition {p} got no records (keys spread over 3 partitions)")
log(f"produced {count} records with {codec}: " + ", ".join(f"p{p}={len(r)}" for p, r in expected.items()))

# --- consume with assign() -------------------------------------------------------------------
consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        # The Python client insists on a group.id; with assign() and no commits it is not used
        # for anything but the client's bookkeeping.
        "group.id": f"unused-{topic}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "allow.auto.create.topics": False,
    }
)
for p in range(PARTITIONS):
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    check_eq((low, high), (0, len(expected[p])), f"watermarks of partition {p}")
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])

got = {p: [] for p in range(PARTITIONS)}
eof = set()
deadline = time.monotonic() + TIMEOUT
while sum(len(v) for v in got.values()) < count or len(eof) < PARTITIONS:
    if time.monotonic() > deadline:
        fail(f"consumed {sum(len(v) for v in got.values())}/{count} records, EOF on {sorted(eof)}")
    msg = consumer.poll(0.5)
    if msg is None:
        continue
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            if len(got[msg.partition()]) == len(expected[msg.partition()]):
                eof.add(msg.partition())
            continue
        fail(f"consumer error: {msg.error()}")
    got[msg.partition()].append(msg)
consumer.close()

for p in range(PARTITIONS):
    check_eq(len(got[p]), len(expected[p]), f"records consumed from partition {p}")
    for (off, i), msg in zip(expected[p], got[p]):
        key, value, headers = record(i)
        where = f"partition {p} offset {off} (record {i})"
        check_eq(msg.offset(), off, f"offset at {where}")
        check_eq(msg.key(), key, f"key at {where}")
        check_eq(msg.value(), value, f"value at {where}")
        check_eq(msg.headers(), headers, f"headers at {where}")
        ts_type, ts = msg.timestamp()
        check_eq(ts_type, TIMESTAMP_CREATE_TIME, f"timestamp type at {where}")
        check(abs(ts - sent_at) < 120_000, f"timestamp {ts} at {where} far from {sent_at}")
log(f"consumed {count} records back, same bytes and order")
log("OK")
