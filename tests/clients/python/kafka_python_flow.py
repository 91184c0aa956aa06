"""kafka-python against Rafka: admin create (3 partitions), produce with explicit partitions and
timestamps, consume with assign() + seek_to_beginning / seek, offsets_for_times,
beginning_offsets / end_offsets (ListOffsets), admin delete.

usage: kafka_python_flow.py BOOTSTRAP TOPIC CODEC COUNT
  CODEC: none or gzip (the codecs kafka-python has without extra packages)
"""

import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from common import args, check, check_eq, fail, log, payload, record_size, wait_for

TIMEOUT_MS = 30000
PARTITIONS = 3

bootstrap, topic, codec, count = args(4, "BOOTSTRAP TOPIC CODEC COUNT")
count = int(count)
check(count >= 30, "COUNT must be at least 30")

admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
admin.create_topics({topic: {"num_partitions": PARTITIONS, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)
wait_for(f"{topic} in list_topics", lambda: topic in admin.list_topics())
log(f"created {topic}")

# --- produce: record i goes to partition i % 3 with timestamp base + i seconds -----------------
base = (int(time.time()) - 3600) * 1000
producer = KafkaProducer(
    bootstrap_servers=bootstrap,
    acks="all",
    linger_ms=10,
    compression_type=None if codec == "none" else codec,
    request_timeout_ms=TIMEOUT_MS,
)


def record(i):
    key = f"key-{i}".encode()
    value = payload(i, record_size(i))
    headers = [("seq", str(i).encode())]
    return key, value, headers


futures = []
for i in range(count):
    key, value, headers = record(i)
    futures.append(
        producer.send(topic, value=value, key=key, headers=headers, partition=i % PARTITIONS, timestamp_ms=base + i * 1000)
    )
producer.flush(timeout=TIMEOUT_MS / 1000)
for i, f in enumerate(futures):
    md = f.get(timeout=TIMEOUT_MS / 1000)
    check_eq((md.partition, md.offset), (i % PARTITIONS, i // PARTITIONS), f"partition/offset of record {i}")
    check_eq(md.timestamp, base + i * 1000, f"timestamp of record {i}")
producer.close()
log(f"produced {count} records ({codec})")

# --- consume with assign() -------------------------------------------------------------------
consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    group_id=None,
    enable_auto_commit=False,
    fetch_max_wait_ms=100,
    request_timeout_ms=TIMEOUT_MS,
)
tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
per_partition = {p: len(range(p, count, PARTITIONS)) for p in range(PARTITIONS)}
check_eq(consumer.beginning_offsets(tps), {tp: 0 for tp in tps}, "beginning_offsets")
check_eq(consumer.end_offsets(tps), {tp: per_partition[tp.partition] for tp in tps}, "end_offsets")

consumer.assign(tps)
consumer.seek_to_beginning()
got = {p: [] for p in range(PARTITIONS)}
deadline = time.monotonic() + TIMEOUT_MS / 1000
while sum(len(v) for v in got.values()) < count:
    if time.monotonic() > deadline:
        fail(f"consumed {sum(len(v) for v in got.values())}/{count} records")
    for tp, records in consumer.poll(timeout_ms=500).items():
        got[tp.partition].extend(records)
for p in range(PARTITIONS):
    check_eq(len(got[p]), per_partition[p], f"records from partition {p}")
    for k, rec in enumerate(got[p]):
        i = p + k * PARTITIONS
        key, value, headers = record(i)
        where = f"partition {p} offset {k} (record {i})"
        check_eq(rec.offset, k, f"offset at {where}")
        check_eq(rec.key, key, f"key at {where}")
        check_eq(rec.value, value, f"value at {where}")
        check_eq([(h[0], h[1]) for h in rec.headers], headers, f"headers at {where}")
        check_eq(rec.timestamp, base + i * 1000, f"timestamp at {where}")
        check_eq(rec.timestamp_type, 0, f"timestamp type (CreateTime) at {where}")
log(f"consumed {count} records back")

# seek() to an offset in the middle of partition 0: the next record is that one.
tp0 = tps[0]
consumer.seek(tp0, 5)
first = None
deadline = time.monotonic() + TIMEOUT_MS / 1000
while first is None:
    if time.monotonic() > deadline:
        fail("nothing consumed after seek(p0, 5)")
    recs = consumer.poll(timeout_ms=500).get(tp0)
    if recs:
        first = recs[0]
check_eq((first.offset, first.key), (5, record(5 * PARTITIONS)[0]), "first record after seek(p0, 5)")

# --- offsets_for_times (ListOffsets with a timestamp) ------------------------------------------
# Partition 0 holds records 0, 3, 6, ... at offsets 0, 1, 2, ... with timestamp base + i s.
last_i = max(range(0, count, PARTITIONS))
cases = [
    (0, (0, base)),  # before everything: the first record
    (base + 4500, (2, base + 6000)),  # between records 3 and 6: record 6 at offset 2
    (base + 9000, (3, base + 9000)),  # exactly record 9's timestamp
    (base + last_i * 1000, (last_i // PARTITIONS, base + last_i * 1000)),
    (base + last_i * 1000 + 1, None),  # after the last record: none
]
for ts, want in cases:
    got_ts = consumer.offsets_for_times({tp0: ts}, timeout_ms=TIMEOUT_MS)[tp0]
    got_pair = None if got_ts is None else (got_ts.offset, got_ts.timestamp)
    check_eq(got_pair, want, f"offsets_for_times(p0, {ts - base if ts else ts} ms after base)")
log("offsets_for_times ok")
consumer.close()

# --- admin delete ------------------------------------------------------------------------------
admin.delete_topics([topic], timeout_ms=TIMEOUT_MS)
wait_for(f"{topic} to leave list_topics", lambda: topic not in admin.list_topics())
admin.close()
log(f"deleted {topic}")
log("OK")
