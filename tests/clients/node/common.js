// Helpers shared by the kafkajs scripts: failing with a message (exit status 1), checks, and a
// bounded poll.
'use strict'

function fail(msg) {
  process.stderr.write(`FAIL: ${msg}\n`)
  process.exit(1)
}

function check(cond, msg) {
  if (!cond) fail(msg)
}

function checkEq(got, want, what) {
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g !== w) fail(`${what}: got ${g}, want ${w}`)
}

// A waitFor(what, fn) that calls fn every intervalMs until it returns a truthy value (returned)
// and fails once timeoutMs have passed; a throwing fn counts as "not yet".
function makeWaitFor({ timeoutMs, intervalMs }) {
  return async function waitFor(what, fn) {
    const deadline = Date.now() + timeoutMs
    let last
    for (;;) {
      try {
        const v = await fn()
        if (v) return v
        last = v
      } catch (e) {
        last = `${e.name}: ${e.message}`
      }
      if (Date.now() > deadline) fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`)
      await new Promise(r => setTimeout(r, intervalMs))
    }
  }
}

module.exports = { fail, check, checkEq, makeWaitFor }
