// kafkajs partition reassignment against a Rafka cluster: COUNT records produced to partition 0
// of TOPIC (acks=-1), admin.alterPartitionReassignments moves the partition to TARGET,
// admin.listPartitionReassignments is polled until the move is done, metadata must show the
// new replicas and a leader among them, COUNT more records are produced to the new leader, and a
// consumer group reads all 2 × COUNT back in order. Prints the final partition metadata as JSON,
// then OK.
//
// usage: node kafkajs_reassign.js BOOTSTRAP TOPIC COUNT TARGET   (TARGET: broker ids, "2,3")
'use strict'

const { Kafka, logLevel } = require('kafkajs')
const { fail, checkEq, makeWaitFor } = require('./common')

const TIMEOUT_MS = 60000

const waitFor = makeWaitFor({ timeoutMs: TIMEOUT_MS, intervalMs: 200 })

async function produce(producer, topic, from, count) {
  const messages = []
  for (let i = from; i < from + count; i++) {
    messages.push({ key: `k-${i}`, value: `record-${i}`, partition: 0 })
  }
  // Several requests, so the partition holds several batches.
  for (let i = 0; i < messages.length; i += 50) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 50) })
  }
}

async function main() {
  const [bootstrap, topic, countArg, targetArg] = process.argv.slice(2)
  if (!targetArg) {
    process.stderr.write('usage: node kafkajs_reassign.js BOOTSTRAP TOPIC COUNT TARGET\n')
    process.exit(2)
  }
  const count = parseInt(countArg, 10)
  const target = targetArg.split(',').map(s => parseInt(s, 10))
  const kafka = new Kafka({
    clientId: 'rafka-kafkajs-reassign',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    connectionTimeout: 5000,
    requestTimeout: TIMEOUT_MS,
    retry: { retries: 8 },
  })
  const admin = kafka.admin()
  await admin.connect()
  await waitFor('the topic in metadata', async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    return topics[0].partitions.some(p => p.partitionId === 0 && p.leader >= 0)
  })

  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  await produce(producer, topic, 0, count)

  await admin.alterPartitionReassignments({
    topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: target }] }],
  })
  await waitFor('the reassignment to finish', async () => {
    const { topics } = await admin.listPartitionReassignments({
      topics: [{ topic, partitions: [0] }],
    })
    return topics.every(t => t.partitions.length === 0)
  })
  const moved = await waitFor('metadata with the new replicas', async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
    const p = topics[0].partitions.find(p => p.partitionId === 0)
    const done =
      JSON.stringify(p.replicas) === JSON.stringify(target) &&
      target.includes(p.leader) &&
      JSON.stringify([...p.isr].sort()) === JSON.stringify([...target].sort())
    return done && p
  })

  // The producer learns the new leader from NOT_LEADER_OR_FOLLOWER and retries.
  await produce(producer, topic, count, count)
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `${topic}-check`, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const seen = []
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      seen.push([partition, Number(message.offset), message.value.toString()])
    },
  })
  await waitFor(`${2 * count} records consumed`, async () => seen.length >= 2 * count)
  await consumer.disconnect()
  checkEq(seen.length, 2 * count, 'records consumed')
  seen.forEach(([partition, offset, value], i) => {
    checkEq([partition, offset, value], [0, i, `record-${i}`], `record ${i}`)
  })

  await admin.disconnect()
  console.log(JSON.stringify({ leader: moved.leader, replicas: moved.replicas, isr: moved.isr }))
  console.log('OK')
}

main().then(
  () => process.exit(0),
  e => fail(`${e.name}: ${e.message}\n${e.stack}`)
)
