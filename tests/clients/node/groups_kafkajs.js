// kafkajs consumer groups against Rafka: two consumers in one group (kafkajs's own join,
// sync, heartbeat and commit logic, autoCommit after each batch) share a 4-partition topic and
// consume 600 messages exactly once; the committed offsets (admin.fetchOffsets, OffsetFetch)
// are the partitions' ends; admin.listGroups / describeGroups show the group Stable with two
// members and their assignments; once the consumers disconnect (LeaveGroup) the group is
// Empty and admin.deleteGroups removes it.
//
// usage: node groups_kafkajs.js BOOTSTRAP TOPIC GROUP
'use strict'

const { Kafka, logLevel, AssignerProtocol } = require('kafkajs')
const { fail, check, checkEq, makeWaitFor } = require('./common')

const TIMEOUT_MS = 30000
const PARTITIONS = 4
const TOTAL = 600

const waitFor = makeWaitFor({ timeoutMs: TIMEOUT_MS, intervalMs: 100 })

async function main() {
  const [bootstrap, topic, group] = process.argv.slice(2)
  if (!group) {
    process.stderr.write('usage: node groups_kafkajs.js BOOTSTRAP TOPIC GROUP\n')
    process.exit(2)
  }
  const kafka = new Kafka({
    clientId: 'kafkajs-groups',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true })

  const producer = kafka.producer()
  await producer.connect()
  const messages = []
  for (let i = 0; i < TOTAL; i++) messages.push({ value: `m-${i}`, partition: i % PARTITIONS })
  await producer.send({ topic, acks: -1, messages })
  await producer.disconnect()

  const received = new Map()
  const assignments = {}
  const consumers = []
  for (const name of ['js-0', 'js-1']) {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
    consumer.on(consumer.events.GROUP_JOIN, e => {
      assignments[name] = (e.payload.memberAssignment[topic] || []).slice().sort()
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    consumers.push(consumer)
  }
  for (const consumer of consumers) {
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ message }) => {
        const v = message.value.toString()
        received.set(v, (received.get(v) || 0) + 1)
      },
    })
  }
  await waitFor('two members with two partitions each and every message', () =>
    Object.keys(assignments).length === 2 &&
    Object.values(assignments).every(a => a.length === 2) &&
    received.size >= TOTAL)

  const dup = [...received.entries()].filter(([, n]) => n > 1)
  checkEq(dup.length, 0, 'messages consumed twice')
  checkEq(received.size, TOTAL, 'distinct messages consumed')

  // The commits of the last batches (autoCommit) reach the coordinator.
  const ends = Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, offset: String(TOTAL / PARTITIONS) }))
  await waitFor('committed offsets at the partition ends', async () => {
    const r = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const got = r[0].partitions.map(p => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition)
    return JSON.stringify(got) === JSON.stringify(ends)
  })

  const listed = await admin.listGroups()
  const mine = listed.groups.filter(g => g.groupId === group)
  checkEq(mine.map(g => g.protocolType), ['consumer'], 'listed group')
  const described = await admin.describeGroups([group])
  const g = described.groups[0]
  checkEq([g.errorCode, g.state, g.protocolType], [0, 'Stable', 'consumer'], 'described group')
  checkEq(g.members.length, 2, 'described members')
  const assigned = []
  for (const m of g.members) {
    check(m.clientHost.startsWith('/127.0.0.1'), `member host ${m.clientHost}`)
    const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
    assigned.push(...a.assignment[topic])
  }
  checkEq(assigned.sort(), [0, 1, 2, 3], 'described assignments')

  for (const consumer of consumers) await consumer.disconnect()
  await waitFor('an empty group', async () => {
    const d = await admin.describeGroups([group])
    return d.groups[0].state === 'Empty'
  })
  await admin.deleteGroups([group])
  const after = await admin.listGroups()
  check(after.groups.every(x => x.groupId !== group), 'the deleted group is still listed')
  await admin.disconnect()
  console.log('OK')
}

main().catch(e => fail(`${e.name}: ${e.message}\n${e.stack}`))
