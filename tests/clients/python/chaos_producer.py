"""confluent-kafka idempotent producer (acks=all) that writes continuously while the Rust test
(tests/tests/cluster_chaos.rs) kills partition leaders: creates TOPIC (PARTITIONS partitions,
replication factor 3, min.insync.replicas=2), then round-robins records over the partitions,
each value `p<partition>-<sequence>` with a per-partition sequence number 0, 1, 2, ... in
production order. Every delivery report is appended to ACKS_FILE as one line, flushed at once
so the test can follow progress:

    ack <partition> <offset> <sequence> <leader epoch> <unix time of the report, seconds>
    err <partition> <sequence> <error>

It stops producing when STOP_FILE exists (or after MAX_SECONDS), flushes, prints a summary and
`OK`. It fails on a fatal producer error, on a delivery error, on a record left undelivered
and on acknowledged offsets that do not grow with the sequence numbers of a partition. The
test reads the log back and checks the acknowledged records itself.

usage: chaos_producer.py BOOTSTRAP TOPIC PARTITIONS ACKS_FILE STOP_FILE MAX_SECONDS
"""

import os
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from common import args, check, fail, log, wait_for

TIMEOUT = 30
# Records produced per partition per second (bounded, so a stalled partition does not pile up
# an unbounded queue) and the most records waiting for delivery at once.
RATE = 100
MAX_OUTSTANDING = 2000

bootstrap, topic, partitions, acks_path, stop_path, max_seconds = args(
    6, "BOOTSTRAP TOPIC PARTITIONS ACKS_FILE STOP_FILE MAX_SECONDS"
)
partitions = int(partitions)
max_seconds = float(max_seconds)

admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics(
    [
        NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=3,
            config={"min.insync.replicas": "2"},
        )
    ],
    request_timeout=TIMEOUT,
)[topic].result(timeout=TIMEOUT)


def led_partitions():
    t = admin.list_topics(timeout=10).topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != partitions:
        return None
    return all(p.leader >= 0 and len(p.isrs) == 3 for p in t.partitions.values())


wait_for(f"{topic} with {partitions} led partitions and full ISRs", led_partitions)

fatal = []


def on_error(err):
    # librdkafka reports transient broker-down errors here too; only fatal ones end the run.
    if err.fatal():
        fatal.append(err)
    log(f"client error: {err}")


producer = Producer(
    {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        # Longer than any failover the test provokes: no record may time out.
        "message.timeout.ms": 60000,
        "linger.ms": 5,
        # Notice a dead leader's partitions moving quickly.
        "topic.metadata.refresh.interval.ms": 1000,
        "reconnect.backoff.max.ms": 1000,
        "allow.auto.create.topics": False,
        "error_cb": on_error,
    }
)

acks = open(acks_path, "a", buffering=1)
acked = {p: [] for p in range(partitions)}  # partition -> [(offset, seq)] in report order
errors = []


def on_delivery(p, seq):
    def cb(err, msg):
        now = time.time()
        if err is not None:
            errors.append((p, seq, err))
            acks.write(f"err {p} {seq} {err.str().replace(chr(10), ' ')}\n")
            return
        epoch = msg.leader_epoch()
        acked[p].append((msg.offset(), seq))
        acks.write(f"ack {p} {msg.offset()} {seq} {-1 if epoch is None else epoch} {now:.6f}\n")

    return cb


next_seq = [0] * partitions
start = time.monotonic()
while not os.path.exists(stop_path):
    if time.monotonic() - start > max_seconds:
        fail(f"no stop file {stop_path} after {max_seconds}s")
    if fatal:
        fail(f"fatal producer error: {fatal[0]}")
    # Pace: partition p gets record n at start + n / RATE.
    due = int((time.monotonic() - start) * RATE) + 1
    for p in range(partitions):
        while next_seq[p] < due and len(producer) < MAX_OUTSTANDING:
            seq = next_seq[p]
            try:
                producer.produce(topic, value=f"p{p}-{seq:08d}".encode(), partition=p, on_delivery=on_delivery(p, seq))
            except BufferError:
                break
            except KafkaException as e:
                fail(f"produce of p{p}-{seq}: {e}")
            next_seq[p] += 1
    producer.poll(0.01)

remaining = producer.flush(TIMEOUT + 30)
acks.close()
check(not fatal, f"fatal producer error: {fatal[:1]}")
check(remaining == 0, f"{remaining} records still undelivered after flush")
check(not errors, f"{len(errors)} delivery errors (first 5): {errors[:5]}")
for p in range(partitions):
    check(len(acked[p]) == next_seq[p], f"partition {p}: {len(acked[p])} reports for {next_seq[p]} records")
    # Idempotence keeps a partition's records in production order: offsets grow with seq.
    by_seq = sorted(acked[p], key=lambda r: r[1])
    offsets = [off for off, _ in by_seq]
    for a, b in zip(offsets, offsets[1:]):
        if b <= a:
            fail(f"partition {p}: offsets not increasing with the sequence ({a} then {b})")
log("produced " + ", ".join(f"p{p}={next_seq[p]}" for p in range(partitions)))
log("OK")
