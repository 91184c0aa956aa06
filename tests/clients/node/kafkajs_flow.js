// kafkajs against Rafka: admin createTopics (3 partitions) / listTopics / fetchTopicMetadata,
// producer.send (acks=-1, no compression and GZIP), fetchTopicOffsets and
// fetchTopicOffsetsByTimestamp (ListOffsets), a fetch of every partition, deleteTopics.
//
// kafkajs has no consumer without a group (consumer.run() always joins one). The fetch here uses
// kafkajs's own Cluster and Broker objects (what its consumer uses under the group logic):
// the cluster is made through the client's private createCluster, so it is configured exactly
// as the consumer's would be, and broker.fetch() encodes the request and decodes the record
// batches with kafkajs's code. These are internals of the pinned kafkajs version
// (package-lock.json); a kafkajs upgrade must re-check them.
//
// usage: node kafkajs_flow.js BOOTSTRAP TOPIC COUNT
'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')
const { fail, check, checkEq, makeWaitFor } = require('./common')

const TIMEOUT_MS = 30000
const PARTITIONS = 3

const waitFor = makeWaitFor({ timeoutMs: TIMEOUT_MS, intervalMs: 200 })

// Record i: partition i % 3, timestamp base + i seconds, binary value of varied size.
function record(i, base) {
  const size = (i * 37) % 3000
  const value = Buffer.alloc(size)
  for (let k = 0; k < size; k++) value[k] = k < 256 ? (i * 7 + k) % 256 : i % 256
  return {
    key: Buffer.from(`key-${i}`),
    value,
    headers: { seq: Buffer.from(String(i)) },
    partition: i % PARTITIONS,
    timestamp: String(base + i * 1000),
  }
}

async function main() {
  const [bootstrap, topic, countArg] = process.argv.slice(2)
  if (!countArg) {
    process.stderr.write('usage: node kafkajs_flow.js BOOTSTRAP TOPIC COUNT\n')
    process.exit(2)
  }
  const count = parseInt(countArg, 10)
  const kafka = new Kafka({
    clientId: 'rafka-kafkajs-test',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    connectionTimeout: 5000,
    requestTimeout: TIMEOUT_MS,
    retry: { retries: 5 },
  })

  // --- admin: create, list, metadata ----------------------------------------------------------
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true,
    timeout: TIMEOUT_MS,
  })
  checkEq(created, true, 'createTopics result')
  check((await admin.listTopics()).includes(topic), `listTopics has no ${topic}`)
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  checkEq(md.topics.length, 1, 'topics in fetchTopicMetadata')
  const parts = md.topics[0].partitions.slice().sort((a, b) => a.partitionId - b.partitionId)
  checkEq(parts.map(p => p.partitionId), [0, 1, 2], 'partition ids')
  for (const p of parts) {
    check(p.leader >= 0, `partition ${p.partitionId} has no leader`)
    checkEq(p.replicas, [p.leader], `replicas of partition ${p.partitionId}`)
    checkEq(p.isr, [p.leader], `isr of partition ${p.partitionId}`)
  }
  console.log(`created ${topic}`)

  // --- produce: half uncompressed, half GZIP, acks=-1 ------------------------------------------
  const base = (Math.floor(Date.now() / 1000) - 3600) * 1000
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const half = Math.floor(count / 2)
  const expected = { 0: [], 1: [], 2: [] }
  for (const [from, to, compression] of [
    [0, half, CompressionTypes.None],
    [half, count, CompressionTypes.GZIP],
  ]) {
    // Several sends of up to 50 records: several batches per partition.
    for (let start = from; start < to; start += 50) {
      const messages = []
      for (let i = start; i < Math.min(to, start + 50); i++) messages.push(record(i, base))
      const meta = await producer.send({ topic, acks: -1, compression, messages, timeout: TIMEOUT_MS })
      for (const m of meta) {
        checkEq(m.errorCode, 0, `produce error on partition ${m.partition}`)
        const n = messages.filter(r => r.partition === m.partition).length
        checkEq(parseInt(m.baseOffset, 10), expected[m.partition].length, `baseOffset of partition ${m.partition}`)
        for (const r of messages.filter(r => r.partition === m.partition)) expected[m.partition].push(r)
        check(n > 0, `metadata for partition ${m.partition} without records`)
      }
    }
  }
  await producer.disconnect()
  console.log(`produced ${count} records`)

  // --- ListOffsets: earliest/latest and by timestamp -------------------------------------------
  const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)
  for (const o of offsets) {
    const n = expected[o.partition].length
    checkEq([o.low, o.high, o.offset], ['0', String(n), String(n)], `fetchTopicOffsets of partition ${o.partition}`)
  }
  // Partition p holds records p, p + 3, p + 6, ...: the first at or after base + 4.5 s is
  // record 6 (offset 2) in partition 0, record 7 (offset 2) in 1, record 5 (offset 1) in 2.
  const byTs = (await admin.fetchTopicOffsetsByTimestamp(topic, base + 4500)).sort((a, b) => a.partition - b.partition)
  checkEq(byTs.map(o => o.offset), ['2', '2', '1'], 'fetchTopicOffsetsByTimestamp(base + 4.5 s)')
  // After the last record: the log end offset (kafkajs maps -1 to the high watermark).
  const late = (await admin.fetchTopicOffsetsByTimestamp(topic, base + count * 1000 + 1)).sort(
    (a, b) => a.partition - b.partition
  )
  checkEq(late.map(o => o.offset), [0, 1, 2].map(p => String(expected[p].length)), 'offsets after the last timestamp')
  console.log('ListOffsets ok')

  // --- fetch every partition through kafkajs's cluster/broker objects ---------------------------
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  check(sym, 'kafkajs internals changed: no private:Kafka:createCluster on the client')
  const cluster = kafka[sym]({ metadataMaxAge: 300000, allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  const leaders = cluster.findLeaderForPartitions(topic, [0, 1, 2])
  const got = { 0: [], 1: [], 2: [] }
  const deadline = Date.now() + TIMEOUT_MS
  for (const [nodeId, partitions] of Object.entries(leaders)) {
    const broker = await cluster.findBroker({ nodeId })
    while (partitions.some(p => got[p].length < expected[p].length)) {
      if (Date.now() > deadline) fail(`fetch: got ${JSON.stringify([0, 1, 2].map(p => got[p].length))} records`)
      const { responses } = await broker.fetch({
        maxWaitTime: 100,
        minBytes: 1,
        maxBytes: 10485760,
        topics: [
          {
            topic,
            partitions: partitions.map(p => ({ partition: p, fetchOffset: String(got[p].length), maxBytes: 65536 })),
          },
        ],
      })
      for (const { topicName, partitions: pdata } of responses) {
        checkEq(topicName, topic, 'topic in fetch response')
        for (const pd of pdata) {
          checkEq(pd.errorCode, 0, `fetch error on partition ${pd.partition}`)
          checkEq(pd.highWatermark, String(expected[pd.partition].length), `high watermark of ${pd.partition}`)
          for (const m of pd.messages) {
            // A batch may start before the fetch offset: skip what we already have.
            if (parseInt(m.offset, 10) === got[pd.partition].length) got[pd.partition].push(m)
          }
        }
      }
    }
  }
  await cluster.disconnect()
  for (const p of [0, 1, 2]) {
    checkEq(got[p].length, expected[p].length, `records fetched from partition ${p}`)
    got[p].forEach((m, k) => {
      const r = expected[p][k]
      const where = `partition ${p} offset ${k}`
      checkEq(m.offset, String(k), `offset at ${where}`)
      check(m.key.equals(r.key), `key at ${where}: ${m.key} != ${r.key}`)
      check(m.value.equals(r.value), `value at ${where} (${m.value.length} bytes, want ${r.value.length})`)
      check(m.headers.seq && m.headers.seq.equals(r.headers.seq), `headers at ${where}`)
      checkEq(m.timestamp, r.timestamp, `timestamp at ${where}`)
    })
  }
  console.log(`fetched ${count} records back`)

  // --- delete -----------------------------------------------------------------------------------
  await admin.deleteTopics({ topics: [topic], timeout: TIMEOUT_MS })
  await waitFor(`${topic} to leave listTopics`, async () => !(await admin.listTopics()).includes(topic))
  await admin.disconnect()
  console.log(`deleted ${topic}`)
  console.log('OK')
}

main().then(
  () => process.exit(0),
  e => fail(`${e.name}: ${e.message}\n${e.stack}`)
)
