'use strict'
// Runs a skill (an LLM-written `async function main(bot, ...args)`) in an isolated-vm isolate.
//
// Node's own `vm` is not a security boundary; an isolate is: its own V8 heap with a memory
// limit, no require, process, fs, network or timers. The only way out is `bot`, whose methods
// are bridged to the sidecar's ops through `call(op, args)`. Each run gets a fresh isolate,
// disposed at the end or at the wall-clock deadline (which also stops a loop after an await:
// a CPU timeout alone would not). Every isolated-vm call used here is the async kind, so the
// sidecar keeps answering other requests while a skill loops.
const ivm = require('isolated-vm')

// The skill's `bot` methods: name -> (positional arguments) -> [op, op's args]. JSON carries
// the arguments out of the isolate, so an argument left out arrives as null.
const PRIMITIVES = {
  goTo: (x, y, z, range) => ['goto', given({ x, y, z, range })],
  goToPlayer: (player, range) => ['goto_player', given({ player, range })],
  goToBlock: (block, maxDistance) => ['goto_block', given({ block, max_distance: maxDistance })],
  follow: (player, range) => ['follow', given({ player, range })],
  stop: () => ['stop', {}],
  collect: (block, count) => ['collect', { block, count: count ?? 1 }],
  dig: (x, y, z) => ['dig', { x, y, z }],
  place: (item, x, y, z) => ['place', { item, x, y, z }],
  equip: (item, destination) => ['equip', given({ item, destination })],
  lookAt: (x, y, z) => ['look_at', typeof x === 'string' ? { player: x } : { x, y, z }],
  chat: (text) => ['chat', { text }],
  state: () => ['state', {}],
}
// `bot.wait(ms)` is answered here, not by the sidecar: a skill like followFor needs to wait,
// and polling bot.state() for it would spin a core.
const WAIT = 'wait'
const DEADLINE_GRACE_MS = 20

// Un-awaited bot.* calls at once: a sync loop of un-awaited calls queued a host task each and
// starved Node's event loop for 11 s (until the memory limit stopped it).
const MAX_IN_FLIGHT = 8
const MAX_ARGS_CHARS = 64 * 1024 // one primitive's arguments, as JSON
const MAX_VALUE_CHARS = 64 * 1024 // the skill's return value, as JSON (a sidecar line is <= 1 MiB)
const MAX_MESSAGE_CHARS = 300 // a skill's error message, kept for chat and the retry prompt
const MAX_SOURCE_CHARS = 256 * 1024 // the code and its library together
// After an isolate is disposed, isolated-vm tears it down on its own thread; a process.exit in
// that time crashed Node (SIGSEGV: 5 of 5 exits at once after a memory-limit disposal, 1 of 5
// 10 ms after, 0 of 5 at 20 ms). The exit hook below waits out the rest of this.
const SETTLE_MS = 200
// Isolates of the runs in progress, and when the last one was disposed (see SETTLE_MS).
const running = new Set()
let lastDisposedAt = -Infinity
const NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/
// Globals a skill may reach for that an isolate does not have: the error then says why.
const HOST_GLOBALS = new Set([
  'require', 'process', 'module', 'exports', 'global', 'Buffer', '__dirname', '__filename',
  'setTimeout', 'setInterval', 'setImmediate', 'fetch', 'XMLHttpRequest', 'WebSocket',
  'WebAssembly', 'mineflayer', 'pathfinder', 'Vec3',
])
const NOT_IN_SKILLS = 'skills can only use bot.* primitives and plain JavaScript'

// Runs in the isolate before any skill code. `__bridge` (a Reference to the host's bridge) is
// kept in a closure and removed from the global, so a skill reaches the host only through
// `bot`. WebAssembly is removed: its memory is outside the isolate's limit (measured: a loop of
// 6.4 MB WebAssembly.Memory grew the process to 2.3 GB in 2.5 s with a 32 MB limit).
const BOOTSTRAP = `(function (bridge, names, maxInFlight) {
  'use strict'
  const stringify = JSON.stringify
  const parse = JSON.parse
  const HostError = Error
  let inFlight = 0
  async function primitive(name, args) {
    inFlight++
    let reply
    try {
      reply = parse(await bridge.apply(undefined, [name, stringify(args)],
        { arguments: { copy: true }, result: { promise: true, copy: true } }))
    } finally {
      inFlight--
    }
    if (reply.ok) return reply.result
    const error = new HostError(reply.error)
    if (reply.code) error.code = reply.code
    throw error
  }
  const bot = {}
  for (const name of names) {
    // Thrown synchronously, so a loop of un-awaited calls stops here.
    bot[name] = (...args) => {
      if (inFlight >= maxInFlight) throw new HostError('more than ' + maxInFlight + ' bot.* calls at once: await each call')
      return primitive(name, args)
    }
  }
  Object.freeze(bot)
  function described(error) {
    if (error === null || typeof error !== 'object') return { name: 'Error', message: String(error), stack: '' }
    const field = (key) => { try { return String(error[key]) } catch (e) { return '' } }
    return { name: field('name'), message: field('message'), stack: field('stack') }
  }
  async function run(main, argsJson) {
    if (typeof main !== 'function') return stringify({ ok: false, missing: true })
    let value
    try {
      value = await main(bot, ...parse(argsJson))
    } catch (error) {
      return stringify({ ok: false, error: described(error) })
    }
    let json
    try {
      json = stringify(value === undefined ? null : value)
    } catch (error) {
      return stringify({ ok: false, error: { name: 'TypeError', message: 'the return value is not JSON: ' + described(error).message, stack: '' } })
    }
    return '{"ok":true,"value":' + (json === undefined ? 'null' : json) + '}'
  }
  Object.defineProperty(globalThis, '__sandboxRun', { value: run })
})(globalThis.__bridge, ${JSON.stringify([...Object.keys(PRIMITIVES), WAIT])}, ${MAX_IN_FLIGHT})
delete globalThis.__bridge
delete globalThis.WebAssembly
`

/**
 * Run a skill in a fresh isolate.
 *
 * @param {object} request
 * @param {string} request.code - source declaring `async function <main>(bot, ...args)`
 * @param {string} request.main - the function to call
 * @param {Array} [request.args] - JSON arguments after `bot`
 * @param {string[]} [request.library] - sources of library skills, evaluated first
 * @param {(op: string, args: object) => Promise<object>} request.call - runs one sidecar op
 *   for this bot; rejects with an Error (its `code` kept) when the op fails
 * @param {number} [request.timeoutMs] - wall-clock limit for the whole run, awaits included
 * @param {number} [request.memoryMb] - the isolate's heap limit (isolated-vm's minimum is 8)
 * @param {AbortSignal} [request.signal] - aborting it stops the skill at once (its isolate is
 *   disposed): a newer task replaced it, or the op's deadline passed
 * @returns {Promise<{value: any, calls: number, ms: number}>} value is plain JSON
 * @throws {Error} with `code` "bad_request", "cancelled" (the signal) or "skill_error", and a
 *   message for a streamer and an LLM retry prompt ("skill ran past its 10000 ms limit",
 *   "Error: boom at line 3")
 */
async function runSkill({ code, main, args = [], library = [], call, timeoutMs = 10000, memoryMb = 32, signal }) {
  checkRequest({ code, main, args, library, call, timeoutMs, memoryMb })
  if (signal?.aborted) throw Object.assign(new Error('skill was cancelled'), { code: 'cancelled' })
  const started = performance.now()
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError })
  running.add(isolate)
  const run = { calls: 0, inFlight: 0, finished: false, timedOut: false, cancelled: false }
  const cancel = () => {
    run.cancelled = true
    isolate.dispose()
  }
  signal?.addEventListener('abort', cancel, { once: true })
  const deadline = Date.now() + timeoutMs
  const timer = setTimeout(() => {
    run.timedOut = true
    isolate.dispose()
  }, timeoutMs)
  const bridge = async (name, argsJson) => bridged(name, argsJson, call, run, deadline)
  const files = new Set(['skill', ...library.map(libraryName)])
  const limits = { timeoutMs, memoryMb, files }
  try {
    const context = await isolate.createContext()
    // Reference.apply with a result promise: 33 us a call from the isolate, against 23 us for
    // applySyncPromise (5,000 calls each, 2-core machine shared with other jobs); apply leaves
    // the isolate free while an op runs (bot.wait beside a walk, Promise.all) and cannot
    // deadlock it. An async ivm.Callback cannot return a promise ("could not be cloned").
    await context.global.set('__bridge', new ivm.Reference(bridge))
    await context.eval(BOOTSTRAP, { filename: 'sandbox-bridge' })
    for (const [index, source] of library.entries()) {
      await runScript(isolate, context, source, `${libraryName(source, index)}.js`)
    }
    await runScript(isolate, context, code, 'skill.js')
    const reply = JSON.parse(await context.eval(
      `__sandboxRun(typeof ${main} === 'function' ? ${main} : null, ${JSON.stringify(JSON.stringify(args))})`,
      { filename: 'sandbox-run', promise: true, copy: true }))
    if (reply.missing) {
      throw explained(`the code defines no function named ${main} (write \`async function ${main}(bot, ...args)\`)`)
    }
    if (!reply.ok) throw explained(skillError(reply.error, limits))
    const valueJson = JSON.stringify(reply.value)
    if (valueJson.length > MAX_VALUE_CHARS) {
      throw explained(`the skill returned ${valueJson.length} characters of JSON; at most ${MAX_VALUE_CHARS}`)
    }
    return { value: reply.value, calls: run.calls, ms: Math.round(performance.now() - started) }
  } catch (error) {
    throw failure(error, run, limits, started, isolate.isDisposed)
  } finally {
    run.finished = true
    clearTimeout(timer)
    signal?.removeEventListener('abort', cancel)
    if (!isolate.isDisposed) isolate.dispose()
    running.delete(isolate)
    lastDisposedAt = performance.now()
  }
}

// process.exit while an isolate loops hung for ever (isolated-vm issue #260: seen here for 10
// minutes, until killed), and one right after a disposal crashed: so on exit, every running
// isolate is disposed and the exit waits (synchronously: 'exit' handlers cannot await) until
// SETTLE_MS after the last disposal.
process.on('exit', () => {
  for (const isolate of running) if (!isolate.isDisposed) isolate.dispose()
  if (running.size) lastDisposedAt = performance.now()
  const settle = lastDisposedAt + SETTLE_MS - performance.now()
  if (settle > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, settle)
})

// One bot.* call from the isolate: answered here (wait) or by the sidecar (`call`). Always
// resolves to a JSON string {ok, result} | {ok: false, error, code}; never rejects into the isolate.
async function bridged(name, argsJson, call, run, deadline) {
  if (run.finished) return reply({ ok: false, error: 'the skill has ended' })
  if (typeof argsJson !== 'string' || argsJson.length > MAX_ARGS_CHARS) {
    return reply({ ok: false, error: `bot.${name}: arguments over ${MAX_ARGS_CHARS} characters of JSON`, code: 'bad_request' })
  }
  run.calls++
  try {
    const args = JSON.parse(argsJson)
    if (name === WAIT) {
      await waitFor(args[0], deadline)
      return reply({ ok: true, result: {} })
    }
    if (!Object.hasOwn(PRIMITIVES, name)) return reply({ ok: false, error: `bot.${name} is not a primitive`, code: 'unknown_op' })
    const [op, opArgs] = PRIMITIVES[name](...args)
    run.inFlight++
    try {
      return reply({ ok: true, result: (await call(op, opArgs)) ?? {} })
    } finally {
      run.inFlight--
    }
  } catch (error) {
    return reply({ ok: false, error: String(error?.message ?? error), code: error?.code })
  }
}

function explained(message) {
  return Object.assign(new Error(message), { explained: true })
}

function reply(object) {
  return JSON.stringify(object)
}

async function waitFor(ms, deadline) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw Object.assign(new Error(`bot.wait(ms) needs a number of milliseconds >= 0, got ${JSON.stringify(ms)}`), { code: 'bad_request' })
  }
  // A wait the deadline cuts ends just after it: the deadline's timer (due first) ends the
  // run as past its limit. Capped at the deadline itself, the wait could resolve first and
  // the skill return ok at its limit (within a few runs at limits of 5-40 ms; once in CI at 300).
  const remaining = Math.max(0, deadline - Date.now())
  const wait = ms > remaining ? remaining + DEADLINE_GRACE_MS : ms
  await new Promise((resolve) => setTimeout(resolve, wait))
}

async function runScript(isolate, context, source, filename) {
  const script = await isolate.compileScript(source, { filename })
  await script.run(context, { release: true })
}

// A library skill's file name is its function's name, so an error can say which skill failed.
function libraryName(source, index) {
  const declared = /async\s+function\s+([A-Za-z_$][A-Za-z0-9_$]*)/.exec(source)
  return declared ? declared[1] : `library${index}`
}

function checkRequest({ code, main, args, library, call, timeoutMs, memoryMb }) {
  const bad = (message) => Object.assign(new Error(message), { code: 'bad_request' })
  if (typeof code !== 'string') throw bad('code must be a string of JavaScript')
  if (typeof main !== 'string' || !NAME.test(main)) throw bad(`main must be a function name (${NAME}), got ${JSON.stringify(main)}`)
  if (!Array.isArray(args)) throw bad('args must be a list')
  if (!Array.isArray(library) || !library.every((source) => typeof source === 'string')) {
    throw bad('library must be a list of JavaScript sources')
  }
  const chars = library.reduce((total, source) => total + source.length, code.length)
  if (chars > MAX_SOURCE_CHARS) throw bad(`code and library are ${chars} characters; at most ${MAX_SOURCE_CHARS}`)
  if (typeof call !== 'function') throw bad('call must be a function (op, args) -> Promise')
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600000) throw bad(`timeoutMs must be 1..600000, got ${timeoutMs}`)
  if (!Number.isInteger(memoryMb) || memoryMb < 8 || memoryMb > 4096) throw bad(`memoryMb must be 8..4096 (isolated-vm's minimum is 8), got ${memoryMb}`)
}

// Any way a run ends badly -> one Error with code "skill_error" (the op's code) and a message
// that says what to change.
function failure(error, run, limits, started, disposed) {
  let message
  let code = 'skill_error'
  if (run.cancelled) {
    message = 'skill was cancelled'
    code = 'cancelled'
  } else if (run.timedOut) {
    message = `skill ran past its ${limits.timeoutMs} ms limit`
  } else if (disposed) {
    // Disposed, not by the deadline: by the memory limit. Pending at the time, the run's
    // promise says only "Promise was abandoned"; running, "...due to memory limit".
    message = `skill used more than ${limits.memoryMb} MB of memory`
  } else if (error.explained) {
    message = error.message
  } else {
    // Thrown by isolated-vm: a compile error, a library's top level, a disposed isolate.
    message = skillError({ name: error.name, message: error.message, stack: error.stack ?? '' }, limits)
  }
  return Object.assign(new Error(message), {
    code,
    calls: run.calls,
    inFlight: run.inFlight,
    ms: Math.round(performance.now() - started),
  })
}

// "Error: boom at line 3", "Error: boom at line 5 of library skill collectBlocks (called from
// line 2)", "ReferenceError: require is not defined at line 1: skills can only use bot.* ..."
function skillError({ name, message, stack }, limits) {
  // A compile error: isolated-vm appends "[skill.js:3:5]" to the message.
  const compiled = /^(.*) \[([\w$]+)\.js:(\d+):(\d+)\]$/.exec(message)
  let where = ''
  if (compiled) {
    message = compiled[1]
    where = ` at line ${compiled[3]} column ${compiled[4]}${compiled[2] === 'skill' ? '' : ` of library skill ${compiled[2]}`}`
  } else {
    const frames = [...String(stack).matchAll(/([\w$]+)\.js:(\d+):(\d+)/g)]
      .map(([, file, line]) => ({ file, line }))
      .filter(({ file }) => limits.files.has(file))
    const skill = frames.find(({ file }) => file === 'skill')
    if (frames.length && frames[0].file !== 'skill') {
      where = ` at line ${frames[0].line} of library skill ${frames[0].file}${skill ? ` (called from line ${skill.line})` : ''}`
    } else if (skill) {
      where = ` at line ${skill.line}`
    }
  }
  const undefinedName = /^([\w$]+) is not defined$/.exec(message)
  const hint = undefinedName && HOST_GLOBALS.has(undefinedName[1]) ? `: ${NOT_IN_SKILLS}` : ''
  const text = `${name}: ${oneLine(message)}${where}${hint}`
  // An ArrayBuffer over the limit is refused with a RangeError rather than a disposed isolate.
  if (/Array buffer allocation failed/.test(message)) return `skill used more than ${limits.memoryMb} MB of memory (${text})`
  return text
}

// Errors go to game chat and LLM prompts: one line, bounded.
function oneLine(text) {
  const line = String(text).split('\n')[0]
  return line.length > MAX_MESSAGE_CHARS ? `${line.slice(0, MAX_MESSAGE_CHARS)}...` : line
}

function onCatastrophicError(message) {
  // isolated-vm's advice: V8 has lost control of the isolate; the process cannot be trusted.
  process.stderr.write(`[sidecar] isolated-vm catastrophic error, aborting: ${message}\n`)
  process.abort()
}

/**
 * Measure the overhead of one bot.* call from inside the isolate: a skill awaits
 * `bot.state()` `n` times against a `call` that answers at once, timed inside the isolate.
 *
 * @param {number} [n] - calls to time
 * @returns {Promise<{us_per_call: number, n: number}>}
 */
async function measureCallOverhead(n = 2000) {
  const code = `async function overhead(bot, n) {
  await bot.state()
  const started = Date.now()
  for (let i = 0; i < n; i++) await bot.state()
  return Date.now() - started
}`
  const answered = async () => ({})
  const { value } = await runSkill({ code, main: 'overhead', args: [n], call: answered, timeoutMs: 60000 })
  return { us_per_call: (value * 1000) / n, n }
}

function given(object) {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== null && value !== undefined))
}

module.exports = { runSkill, measureCallOverhead, PRIMITIVES: [...Object.keys(PRIMITIVES), WAIT] }
