#!/usr/bin/env node
// The personas' Minecraft bots: one mineflayer bot per persona, driven by JSON lines on stdio.
//
// stdin: the config as the first line, then one request a line
//   {"id": 7, "op": "goto", "bot": "mika", "args": {...}, "timeout_ms": 20000}
// stdout: protocol lines only, replies {"id", "ok", "result" | "error", "code"} and events
//   {"event": "ready" | "spawned" | "state" | "chat" | "disconnected" | "error", ...}
// stderr: logs, one line each, prefixed [sidecar].
// The full protocol is in nodes/game/minecraft/README.md. The sidecar exits when stdin closes
// (its parent died), so it never outlives the game node.
'use strict'

const mineflayer = require('mineflayer')
const { ping } = require('minecraft-protocol')
const { pathfinder, Movements, goals } = require('mineflayer-pathfinder')
const collectBlock = require('mineflayer-collectblock').plugin
const { Vec3 } = require('vec3')

// ---------------------------------------------------------------------------------------------
// Output: stdout is the protocol channel, so every library's console.log goes to stderr.

const protocolOut = process.stdout.write.bind(process.stdout)
const log = (message) => process.stderr.write(`[sidecar] ${String(message).replace(/\s*\n\s*/g, ' ')}\n`)
console.log = (...args) => log(args.join(' '))
console.info = console.log
console.warn = console.log
console.error = console.log

function send (message) {
  protocolOut(JSON.stringify(message) + '\n')
}
const reply = (id, result) => send({ id, ok: true, result })
const fail = (id, code, error) => send({ id, ok: false, error, code })
const event = (name, fields = {}) => send({ event: name, ...fields })

// An op's failure with one of the protocol's codes; any other Error is reported as `failed`.
class OpError extends Error {
  constructor (code, message) {
    super(message)
    this.code = code
  }
}

// ---------------------------------------------------------------------------------------------
// Config and limits.

const DEFAULT_TIMEOUT_MS = 20000
const MAX_TIMEOUT_MS = 10 * 60 * 1000
const MAX_LINE_CHARS = 1024 * 1024 // a longer request line is dropped (bad_request)
const MAX_CHAT_CHARS = 256 // the server's limit for one chat message
const NEARBY_PLAYERS = 16 // blocks
const NEARBY_BOX = { dx: 4, dy: 2, dz: 4 } // a 9x5x9 box around the bot, for nearby_blocks
const MAX_COLLECT = 64
const RANGE = { min: 0, max: 64 } // how near a goal counts as there, blocks
const MAX_SEARCH = 128 // blocks: goto_block's search (it scans loaded chunks, growing as the cube)
const PICKUP_ROUNDS = 4 // of half a second each, after collecting
const COLLECT_ROUNDS = 3
const CROWD_DISTANCE = 3 // blocks: a block this near another player is not mined by collect
// A path may cost up to twice the straight distance plus this (A*'s cost bound): on an open,
// endless world an unreachable goal then ends in "noPath" once the bounded area is searched,
// instead of 5 s of search ending in "timeout"; real detours stay well inside it.
const SEARCH_MARGIN = 32
const PING_TIMEOUT_MS = 5000
const SUPPORTED = mineflayer.testedVersions

// Any Java-edition version mineflayer has data for, tested or not (1.20.3 speaks 1.20.4's protocol).
function knownVersion (version) {
  const data = typeof version === 'string' && require('minecraft-data')(version)
  if (!data || data.type !== 'pc') return false
  const oldest = require('minecraft-data')(mineflayer.oldestSupportedVersion).version
  const latest = require('minecraft-data')(mineflayer.latestSupportedVersion).version
  return data.version['>='](oldest.minecraftVersion) && data.version['<='](latest.minecraftVersion)
}

function readConfig (line) {
  const raw = JSON.parse(line)
  const config = {
    host: raw.host ?? '127.0.0.1',
    port: raw.port ?? 25565,
    version: raw.version ?? '1.21.4', // '' or false: take the server's version
    auth: raw.auth ?? 'offline',
    profilesFolder: raw.profiles_folder ?? '', // microsoft: where prismarine-auth caches tokens
    bots: raw.bots,
    statePeriodMs: raw.state_period_ms ?? 1000,
    skill: { timeoutMs: raw.skill?.timeout_ms ?? 10000, memoryMb: raw.skill?.memory_mb ?? 32 },
    reconnectMs: raw.reconnect_ms ?? [500, 5000]
  }
  const problems = []
  if (typeof config.host !== 'string' || !config.host) problems.push('host must be a host name')
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) problems.push('port must be 1..65535')
  if (config.version && !knownVersion(config.version)) {
    problems.push(`version ${config.version} is not supported; supported: ${SUPPORTED.join(', ')}`)
  }
  if (!['offline', 'microsoft'].includes(config.auth)) problems.push('auth must be "offline" or "microsoft"')
  if (config.auth === 'microsoft' && !config.profilesFolder) problems.push('auth "microsoft" needs profiles_folder (the token cache)')
  if (!Array.isArray(config.bots) || config.bots.length === 0 ||
      !config.bots.every(b => typeof b?.persona === 'string' && b.persona && typeof b?.username === 'string' && b.username)) {
    problems.push('bots must be a list of {"persona", "username"}')
  } else if (new Set(config.bots.map(b => b.persona)).size !== config.bots.length) {
    problems.push('bots: each persona once')
  }
  if (!(config.statePeriodMs >= 100)) problems.push('state_period_ms must be >= 100')
  const [low, high] = Array.isArray(config.reconnectMs) ? config.reconnectMs : []
  if (!(low > 0 && high >= low)) problems.push('reconnect_ms must be [min, max] with 0 < min <= max')
  if (problems.length) throw new Error(problems.join('; '))
  return config
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

const round1 = (v) => Math.round(v * 10) / 10
const where = (v) => `(${round1(v.x)}, ${round1(v.y)}, ${round1(v.z)})`
const vecOf = (v) => [round1(v.x), round1(v.y), round1(v.z)]

// Chat components (kick reasons, messages) as plain text.
function chatText (value) {
  if (value == null) return ''
  if (typeof value === 'string') {
    try { return chatText(JSON.parse(value)) } catch { return value }
  }
  if (typeof value !== 'object') return String(value)
  // 1.20.3+ sends chat components as NBT ({type: 'string', value: 'Server closed'}, compounds).
  if (typeof value.type === 'string' && 'value' in value) return chatText(fromNbt(value))
  if (typeof value.toString === 'function' && value.constructor?.name === 'ChatMessage') return value.toString()
  let text = value.text ?? value.translate ?? ''
  if (Array.isArray(value.with)) text += ' ' + value.with.map(chatText).join(' ')
  if (Array.isArray(value.extra)) text += value.extra.map(chatText).join('')
  return String(text).trim()
}

function fromNbt (tag) {
  if (tag.type === 'compound') return Object.fromEntries(Object.entries(tag.value).map(([k, v]) => [k, fromNbt(v)]))
  if (tag.type === 'list') return (tag.value.value ?? []).map(v => fromNbt({ type: tag.value.type, value: v }))
  return tag.value
}

// Argument readers: a wrong argument is the caller's fault (bad_request), named in words.
function number (args, name, fallback, { min = -Infinity, max = Infinity } = {}) {
  const value = args[name] ?? fallback
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OpError('bad_request', `${name} must be a number, got ${JSON.stringify(args[name])}`)
  }
  if (value < min || value > max) throw new OpError('bad_request', `${name} must be in ${min}..${max}, got ${value}`)
  return value
}
function text (args, name, fallback) {
  const value = args[name] ?? fallback
  if (typeof value !== 'string' || !value) {
    throw new OpError('bad_request', `${name} must be a non-empty string, got ${JSON.stringify(args[name])}`)
  }
  return value
}
function position (args) {
  return new Vec3(number(args, 'x'), number(args, 'y'), number(args, 'z'))
}

// Rejects when the op is cancelled, times out or its bot leaves; `promise` is left to settle
// on its own (its rejection is swallowed so it cannot crash the process).
function untilAborted (promise, signal) {
  promise.catch(() => {})
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

// Run `stop` when the op is cancelled, times out or its bot leaves; not when it finishes.
function onCancel (ctx, stop) {
  ctx.signal.addEventListener('abort', () => { if (!ctx.finished) stop() }, { once: true })
}

// ---------------------------------------------------------------------------------------------
// One bot per persona: connects, reconnects with backoff, and keeps its running task.

class BotSlot {
  constructor (sidecar, persona, username) {
    this.sidecar = sidecar
    this.persona = persona
    this.username = username
    this.bot = null
    this.online = false
    this.delayMs = sidecar.config.reconnectMs[0]
    this.retry = null // the reconnect timer
    this.stateTimer = null
    this.task = null // the top-level task (an AbortController with a .label)
    this.mover = null // the op driving the pathfinder now (the task or an op of its skill)
    this.running = new Set() // controllers of every op in flight, aborted when the bot leaves
    this.closed = false
  }

  get address () {
    return `${this.sidecar.config.host}:${this.sidecar.config.port}`
  }

  // Ask the server its version first: a refused connection and a version mismatch are then
  // named before mineflayer tries to log in (it would only say "ECONNREFUSED" or time out).
  async connect () {
    this.retry = null
    if (this.closed) return
    const { host, port, version, auth, profilesFolder } = this.sidecar.config
    let status
    try {
      status = await ping({ host, port, closeTimeout: PING_TIMEOUT_MS, noPongTimeout: PING_TIMEOUT_MS })
    } catch (err) {
      const why = err.code || err.message
      return this.later(`no server at ${this.address} (${why})`)
    }
    const wanted = version && require('minecraft-data')(version)
    if (wanted && status?.version?.protocol !== undefined && status.version.protocol !== wanted.version.version) {
      return this.later(`the server at ${this.address} speaks ${status.version.name} (protocol ` +
        `${status.version.protocol}), not ${version}; supported: ${SUPPORTED.join(', ')}`, true)
    }
    log(`${this.persona}: joining ${this.address} as ${this.username}`)
    const signIn = auth === 'microsoft'
      ? {
          profilesFolder,
          // The first start of an account: the streamer opens the page and types the code once;
          // the tokens are then cached in profilesFolder. Only the page and the code are logged.
          onMsaCode: (code) => log(`${this.persona}: sign in ${this.username} at ${code.verification_uri} with the code ${code.user_code}`)
        }
      : {}
    const bot = mineflayer.createBot({
      host, port, auth, username: this.username, version: version || false, hideErrors: true, logErrors: false, ...signIn
    })
    this.bot = bot
    bot.loadPlugin(pathfinder)
    bot.loadPlugin(collectBlock)
    let lastWords = ''
    bot.on('kicked', (reason) => { lastWords = `kicked: ${chatText(reason)}` })
    bot.on('error', (err) => { lastWords = lastWords || `${err.code || ''} ${err.message}`.trim() })
    bot.on('spawn', () => this.spawned(bot))
    bot.on('chat', (username, message) => this.sidecar.heard(this, username, message))
    bot.once('end', (reason) => this.ended(bot, lastWords || chatText(reason) || 'connection ended'))
  }

  spawned (bot) {
    if (this.online) return // a respawn after death: same connection
    this.online = true
    this.delayMs = this.sidecar.config.reconnectMs[0]
    // Goto walks and never digs: a walk across the world must not tear it up; the pathfinder's
    // status then says plainly why a goal cannot be reached.
    const walking = new Movements(bot)
    walking.canDig = false
    bot.walking = walking
    log(`${this.persona}: spawned at ${where(bot.entity.position)}`)
    event('spawned', { bot: this.persona, position: vecOf(bot.entity.position) })
    this.stateTimer = setInterval(() => this.publishState(), this.sidecar.config.statePeriodMs)
  }

  ended (bot, reason) {
    if (bot !== this.bot) return
    const wasOnline = this.online
    this.online = false
    this.bot = null
    clearInterval(this.stateTimer)
    for (const controller of this.running) controller.abort(new OpError('offline', `${this.persona} left the world (${reason})`))
    this.task = null
    this.mover = null
    if (wasOnline) event('disconnected', { bot: this.persona, reason })
    // minecraft-protocol's login answer to a wrong version: "Wrong protocol version, expected: 765"
    const versionKick = /protocol version|outdated (client|server)/i.test(reason)
    const why = versionKick ? `${reason}; supported: ${SUPPORTED.join(', ')}` : `${this.persona} lost ${this.address}: ${reason}`
    this.later(why, versionKick, !wasOnline || versionKick)
  }

  // Reconnect after a delay that doubles up to reconnect_ms[1]; a version mismatch waits the
  // longest (only a server restart with another version can fix it).
  later (why, slowest = false, isError = true) {
    if (this.closed || this.retry) return
    const [, high] = this.sidecar.config.reconnectMs
    const delay = slowest ? high : this.delayMs
    this.delayMs = Math.min(this.delayMs * 2, high)
    const message = `${why}; retrying in ${round1(delay / 1000)} s`
    log(`${this.persona}: ${message}`)
    if (isError) event('error', { bot: this.persona, message })
    this.retry = setTimeout(() => this.connect().catch(err => this.later(`connect failed: ${err.message}`)), delay)
  }

  publishState () {
    if (this.online) event('state', { bot: this.persona, state: this.state() })
  }

  state () {
    const bot = this.bot
    const here = bot.entity.position
    const inventory = {}
    for (const item of bot.inventory.items()) inventory[item.name] = (inventory[item.name] ?? 0) + item.count
    const nearbyBlocks = {}
    const base = here.floored()
    for (let dx = -NEARBY_BOX.dx; dx <= NEARBY_BOX.dx; dx++) {
      for (let dy = -NEARBY_BOX.dy; dy <= NEARBY_BOX.dy; dy++) {
        for (let dz = -NEARBY_BOX.dz; dz <= NEARBY_BOX.dz; dz++) {
          const block = bot.blockAt(base.offset(dx, dy, dz), false)
          if (block && block.name !== 'air' && block.name !== 'cave_air') {
            nearbyBlocks[block.name] = (nearbyBlocks[block.name] ?? 0) + 1
          }
        }
      }
    }
    const nearbyPlayers = Object.values(bot.players)
      .filter(p => p.username !== bot.username && p.entity)
      .map(p => ({ name: p.username, position: vecOf(p.entity.position), distance: round1(p.entity.position.distanceTo(here)) }))
      .filter(p => p.distance <= NEARBY_PLAYERS)
      .sort((a, b) => a.distance - b.distance)
    return {
      username: bot.username,
      online: this.online,
      position: vecOf(here),
      health: bot.health ?? 20,
      food: bot.food ?? 20,
      inventory,
      held: bot.heldItem?.name ?? '',
      nearby_blocks: nearbyBlocks,
      nearby_players: nearbyPlayers,
      task: this.task?.label ?? ''
    }
  }

  // An op that drives the pathfinder takes it from whatever op drove it before (cancelled).
  takeMovement (ctx, label) {
    if (this.mover && this.mover !== ctx.controller && !this.mover.signal.aborted) {
      this.mover.abort(new OpError('cancelled', `replaced by ${label}`))
    }
    this.mover = ctx.controller
  }

  close () {
    this.closed = true
    clearTimeout(this.retry)
    clearInterval(this.stateTimer)
    if (this.bot) this.bot.quit()
  }
}

// ---------------------------------------------------------------------------------------------
// Movement: the pathfinder with a plain result. Its own goto() resolves when a search finds no
// path and returns an empty one, so the goal's events are read here instead.

function pathTo (slot, ctx, goal, { movements, dynamic = false } = {}) {
  const bot = ctx.bot
  bot.pathfinder.setMovements(movements ?? bot.walking)
  const distance = goal.heuristic ? goal.heuristic(bot.entity.position.floored()) : 0
  bot.pathfinder.searchRadius = Math.max(SEARCH_MARGIN, distance)
  return new Promise((resolve, reject) => {
    const done = (err) => {
      bot.removeListener('goal_reached', onReached)
      bot.removeListener('path_update', onUpdate)
      bot.removeListener('path_stop', onStop)
      ctx.signal.removeEventListener('abort', onAbort)
      if (err) {
        if (bot.pathfinder.goal === goal) bot.pathfinder.setGoal(null)
        reject(err)
      } else {
        resolve()
      }
    }
    const onReached = (reached) => { if (reached === goal) done() }
    const onUpdate = (results) => {
      if (results.status === 'noPath' || results.status === 'timeout') {
        done(new OpError('no_path', `${results.status}: searched ${results.visitedNodes} positions`))
      }
    }
    const onStop = () => done(new OpError('cancelled', 'the path was stopped'))
    const onAbort = () => done(ctx.signal.reason)
    if (ctx.signal.aborted) return reject(ctx.signal.reason)
    bot.on('goal_reached', onReached)
    bot.on('path_update', onUpdate)
    bot.on('path_stop', onStop)
    ctx.signal.addEventListener('abort', onAbort, { once: true })
    bot.pathfinder.setGoal(goal, dynamic)
  })
}

function outsideWorld (bot, cell) {
  const { minY, height } = bot.game
  return cell.y < minY || cell.y >= minY + height ? `the goal is outside the world (y ${minY}..${minY + height - 1})` : null
}

// Why a cell cannot be stood in, in words ("the goal is inside a block (bedrock)").
function blockedReason (bot, cell) {
  const outside = outsideWorld(bot, cell)
  if (outside) return outside
  const block = bot.blockAt(cell.floored())
  if (!block) return 'the goal is in a part of the world not loaded (too far)'
  if (block.boundingBox === 'block') return `the goal is inside a block (${block.name})`
  const above = bot.blockAt(cell.floored().offset(0, 1, 0))
  if (above && above.boundingBox === 'block') return `the goal has no room to stand (${above.name} above)`
  return 'no walkable way there without digging'
}

async function walk (slot, ctx, goal, target, label, options) {
  const outside = outsideWorld(ctx.bot, target)
  if (outside) throw new OpError('no_path', `no path to ${where(target)}: ${outside}`)
  slot.takeMovement(ctx, label)
  const started = Date.now()
  try {
    await pathTo(slot, ctx, goal, options)
  } catch (err) {
    if (err.code === 'no_path') {
      throw new OpError('no_path', `no path to ${where(target)}: ${blockedReason(ctx.bot, target)} (pathfinder ${err.message})`)
    }
    throw err
  }
  const here = ctx.bot.entity.position
  return { position: vecOf(here), distance: round1(here.distanceTo(target)), ms: Date.now() - started }
}

function findPlayer (bot, name) {
  const wanted = name.toLowerCase()
  const player = Object.values(bot.players).find(p => p.username.toLowerCase() === wanted)
  if (!player) {
    const names = Object.keys(bot.players).filter(n => n !== bot.username)
    throw new OpError('unknown_player', `no player named ${name} is online (online: ${names.join(', ') || 'nobody'})`)
  }
  if (!player.entity) throw new OpError('not_found', `${player.username} is too far away to see`)
  return player
}

function blockType (bot, name) {
  const type = bot.registry.blocksByName[name]
  if (!type) throw new OpError('unknown_item', `unknown block ${JSON.stringify(name)}`)
  return type
}

// minecraft-data lists a block's drops as item ids, or as {drop: id | {id}} in some versions.
const dropIds = (block) => (block.drops ?? []).map(d => (typeof d === 'number' ? d : d.drop?.id ?? d.drop ?? d.id))

// The blocks that give `name` when mined, and the items they drop: the block itself and any
// block dropping that item (on a superflat world dirt lies under grass_block, which drops dirt).
function blocksGiving (bot, name) {
  const ids = new Set()
  const item = bot.registry.itemsByName[name]
  if (bot.registry.blocksByName[name]) ids.add(bot.registry.blocksByName[name].id)
  if (item) {
    for (const block of bot.registry.blocksArray) if (dropIds(block).includes(item.id)) ids.add(block.id)
  }
  if (ids.size === 0) throw new OpError('unknown_item', `unknown block or item ${JSON.stringify(name)}`)
  const drops = new Set([name])
  for (const id of ids) for (const drop of dropIds(bot.registry.blocks[id])) drops.add(bot.registry.items[drop]?.name)
  return { ids, drops }
}

// A block with air on some side: reachable without digging through others.
function exposed (bot, block) {
  const sides = [[0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1], [0, -1, 0]]
  return sides.some(([x, y, z]) => bot.blockAt(block.position.offset(x, y, z), false)?.boundingBox === 'empty')
}

function nearOthers (bot, cell) {
  const center = cell.offset(0.5, 0.5, 0.5)
  return Object.values(bot.players).some(p => p.entity && p.username !== bot.username &&
    p.entity.position.distanceTo(center) < CROWD_DISTANCE)
}

function inventoryItem (bot, name) {
  if (!bot.registry.itemsByName[name]) throw new OpError('unknown_item', `unknown item ${JSON.stringify(name)}`)
  const item = bot.inventory.items().find(i => i.name === name)
  if (!item) throw new OpError('not_found', `${bot.username} has no ${name}`)
  return item
}

function countItems (bot, names) {
  return bot.inventory.items().filter(i => names.has(i.name)).reduce((sum, i) => sum + i.count, 0)
}

// The item a dropped-item entity holds; null when unknown (flying-squid 1.12.0 sends the item in
// a metadata slot mineflayer does not read for 1.20+, and getDroppedItem throws).
function droppedName (entity) {
  try {
    return entity.getDroppedItem()?.name ?? null
  } catch {
    return null
  }
}

// collectblock returns when it has dug the last block, sometimes before that block's item is
// picked up (seen: 2 of 3 dirt in the reply, 3 a moment later): wait a little, then walk onto
// what still lies near.
async function pickUp (slot, ctx, drops, wanted) {
  const bot = ctx.bot
  for (let round = 0; round < PICKUP_ROUNDS && countItems(bot, drops) < wanted; round++) {
    await untilAborted(bot.waitForTicks(10), ctx.signal)
    const item = bot.nearestEntity(e => e.name === 'item' && e.position.distanceTo(bot.entity.position) < 8 &&
      [null, ...drops].includes(droppedName(e)))
    if (item && countItems(bot, drops) < wanted) {
      await pathTo(slot, ctx, new goals.GoalBlock(...item.position.floored().toArray())).catch(() => {})
    }
  }
}

// Walk until the block at `cell` is within reach (digging or placing), unless it is already.
async function reach (slot, ctx, cell, label) {
  const eye = ctx.bot.entity.position.offset(0, ctx.bot.entity.height * 0.9, 0)
  if (eye.distanceTo(cell.offset(0.5, 0.5, 0.5)) <= 4) return
  await walk(slot, ctx, new goals.GoalNear(cell.x, cell.y, cell.z, 3), cell, label)
}

// ---------------------------------------------------------------------------------------------
// The ops: name -> async (slot, args, ctx) -> result. ctx: {bot, signal, controller, deadline}.
// `task: true` ops replace the bot's running task (it answers `cancelled`).

const OPS = {
  ping: { offline: true, run: async () => ({}) },

  state: { run: async (slot) => slot.state() },

  goto: {
    task: true,
    run: async (slot, args, ctx) => {
      const target = position(args)
      const range = number(args, 'range', 1, RANGE)
      return walk(slot, ctx, new goals.GoalNear(target.x, target.y, target.z, range), target, `goto ${where(target)}`)
    }
  },

  goto_player: {
    task: true,
    run: async (slot, args, ctx) => {
      const player = findPlayer(ctx.bot, text(args, 'player'))
      const range = number(args, 'range', 2, RANGE)
      const target = player.entity.position
      return walk(slot, ctx, new goals.GoalFollow(player.entity, range), target, `goto ${player.username}`)
    }
  },

  goto_block: {
    task: true,
    run: async (slot, args, ctx) => {
      const name = text(args, 'block')
      const maxDistance = number(args, 'max_distance', 64, { min: 1, max: MAX_SEARCH })
      const type = blockType(ctx.bot, name)
      const block = ctx.bot.findBlock({ matching: type.id, maxDistance })
      if (!block) throw new OpError('not_found', `no ${name} within ${maxDistance} blocks`)
      const p = block.position
      return walk(slot, ctx, new goals.GoalGetToBlock(p.x, p.y, p.z), p, `goto ${name}`)
    }
  },

  follow: {
    task: true,
    run: async (slot, args, ctx) => {
      const player = findPlayer(ctx.bot, text(args, 'player'))
      const range = number(args, 'range', 2, RANGE)
      slot.takeMovement(ctx, `follow ${player.username}`)
      // Keeps following after this reply, until `stop` or another task aborts ctx.
      // The task ends when the player leaves or goes out of sight: the pathfinder's follow goal
      // keeps a gone entity and would walk on to its last place for ever.
      const onGone = (entity) => {
        if (entity === player.entity) ctx.controller.abort(new OpError('not_found', `${player.username} left or went out of sight`))
      }
      ctx.bot.on('entityGone', onGone)
      ctx.signal.addEventListener('abort', () => ctx.bot.removeListener('entityGone', onGone), { once: true })
      pathTo(slot, ctx, new goals.GoalFollow(player.entity, range), { dynamic: true })
        .catch(err => {
          log(`${slot.persona}: follow ${player.username} ended: ${err.message}`)
          ctx.controller.abort(err)
        })
      ctx.keep = true
      return {}
    }
  },

  stop: {
    run: async (slot, args, ctx) => {
      // From a skill, bot.stop() stops its moves, not the skill itself.
      if (slot.task && !ctx.inSkill) slot.task.abort(new OpError('cancelled', 'stopped'))
      if (slot.mover) slot.mover.abort(new OpError('cancelled', 'stopped'))
      slot.bot.pathfinder.setGoal(null)
      slot.bot.clearControlStates()
      return {}
    }
  },

  collect: {
    task: true,
    run: async (slot, args, ctx) => {
      const bot = ctx.bot
      const name = text(args, 'block')
      const count = number(args, 'count', 1)
      if (!Number.isInteger(count) || count < 1 || count > MAX_COLLECT) {
        throw new OpError('bad_request', `count must be a whole number 1..${MAX_COLLECT}, got ${count}`)
      }
      const { ids, drops } = blocksGiving(bot, name)
      const before = countItems(bot, drops)
      const wanted = before + count
      slot.takeMovement(ctx, `collect ${name}`)
      onCancel(ctx, () => bot.collectBlock.cancelTask().catch(() => {}))
      // Rounds: a drop can land by another player, who picks it up first (flying-squid gives an
      // item to whoever is within 1.75 blocks), so blocks next to other players are left alone
      // and what is still missing is mined in the next round.
      for (let round = 0; round < COLLECT_ROUNDS && countItems(bot, drops) < wanted; round++) {
        const positions = bot.findBlocks({
          matching: [...ids],
          maxDistance: 64,
          count: wanted - countItems(bot, drops),
          useExtraInfo: (block) => exposed(bot, block) && !nearOthers(bot, block.position)
        })
        if (positions.length === 0) {
          if (round === 0) throw new OpError('not_found', `no block giving ${name} within 64 blocks`)
          break
        }
        // collectblock sets its own movements (digging allowed: mining is the point); its goals
        // are next to the blocks found, so the search is left unbounded (5 s think limit).
        bot.pathfinder.searchRadius = -1
        try {
          await untilAborted(bot.collectBlock.collect(positions.map(p => bot.blockAt(p))), ctx.signal)
        } catch (err) {
          if (err instanceof OpError) throw err
          throw new OpError(err.name === 'NoPath' ? 'no_path' : 'failed', `collect ${name}: ${err.message}`)
        }
        await pickUp(slot, ctx, drops, wanted)
      }
      return { collected: countItems(bot, drops) - before, inventory: slot.state().inventory }
    }
  },

  dig: {
    task: true,
    run: async (slot, args, ctx) => {
      const bot = ctx.bot
      const cell = position(args).floored()
      const block = bot.blockAt(cell)
      if (!block) throw new OpError('not_found', `${where(cell)} is not loaded (too far)`)
      if (block.boundingBox === 'empty') throw new OpError('failed', `nothing to dig at ${where(cell)} (${block.name})`)
      if (block.hardness === null || block.hardness < 0) throw new OpError('failed', `${block.name} cannot be dug`)
      await reach(slot, ctx, cell, `dig ${where(cell)}`)
      onCancel(ctx, () => bot.stopDigging())
      await untilAborted(bot.dig(block, true), ctx.signal)
      return { before: block.name, after: bot.blockAt(cell)?.name ?? '' }
    }
  },

  place: {
    task: true,
    run: async (slot, args, ctx) => {
      const bot = ctx.bot
      const name = text(args, 'item')
      const cell = position(args).floored()
      const item = inventoryItem(bot, name)
      const current = bot.blockAt(cell)
      if (!current) throw new OpError('not_found', `${where(cell)} is not loaded (too far)`)
      if (current.boundingBox !== 'empty') throw new OpError('failed', `${where(cell)} is not empty (${current.name})`)
      const faces = [[0, -1, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]].map(f => new Vec3(...f))
      const face = faces.find(f => bot.blockAt(cell.plus(f))?.boundingBox === 'block')
      if (!face) throw new OpError('failed', `no solid block next to ${where(cell)} to place against`)
      await reach(slot, ctx, cell, `place ${name}`)
      const feet = bot.entity.position.floored()
      if (feet.equals(cell) || feet.offset(0, 1, 0).equals(cell)) {
        throw new OpError('failed', `${bot.username} is standing in ${where(cell)}`)
      }
      await untilAborted(bot.equip(item, 'hand'), ctx.signal)
      await untilAborted(bot.placeBlock(bot.blockAt(cell.plus(face)), face.scaled(-1)), ctx.signal)
      return { block: bot.blockAt(cell)?.name ?? '' }
    }
  },

  equip: {
    run: async (slot, args, ctx) => {
      const destination = args.destination ?? 'hand'
      const places = ['hand', 'off-hand', 'head', 'torso', 'legs', 'feet']
      if (!places.includes(destination)) {
        throw new OpError('bad_request', `destination must be one of ${places.join(', ')}, got ${JSON.stringify(destination)}`)
      }
      const item = inventoryItem(ctx.bot, text(args, 'item'))
      await untilAborted(ctx.bot.equip(item, destination), ctx.signal)
      return {}
    }
  },

  look_at: {
    run: async (slot, args, ctx) => {
      const target = args.player !== undefined
        ? findPlayer(ctx.bot, text(args, 'player')).entity.position.offset(0, 1.6, 0)
        : position(args)
      await untilAborted(ctx.bot.lookAt(target, true), ctx.signal)
      return {}
    }
  },

  chat: {
    run: async (slot, args, ctx) => {
      // One line, no control characters or section signs (a vanilla server kicks for them),
      // and never a command: a persona's line starting with "/" would run it on the server.
      const line = text(args, 'text').replace(/[\u0000-\u001f\u007f§]+/g, ' ').replace(/^[\s/]+/, '').trim()
      if (!line) throw new OpError('bad_request', 'text has nothing to say')
      ctx.bot.chat(line.slice(0, MAX_CHAT_CHARS))
      return {}
    }
  },

  run_skill: {
    task: true,
    run: async (slot, args, ctx) => {
      const sandbox = loadSandbox()
      const { skill } = slot.sidecar.config
      // A primitive called from the skill runs as an op of this bot inside the skill's task:
      // cancelling the skill cancels it, and its moves replace each other, not the skill.
      const call = (op, opArgs) => slot.sidecar.run(slot, op, opArgs ?? {}, { parent: ctx })
      try {
        return await untilAborted(sandbox.runSkill({
          code: args.code,
          main: args.main,
          args: args.args ?? [],
          library: args.library ?? [],
          call,
          timeoutMs: args.timeout_ms ?? skill.timeoutMs,
          memoryMb: args.memory_mb ?? skill.memoryMb,
          signal: ctx.signal // a replaced, stopped or timed-out skill's isolate is disposed at once
        }), ctx.signal)
      } catch (err) {
        if (err instanceof OpError) throw err
        throw new OpError(['bad_request', 'cancelled'].includes(err.code) ? err.code : 'skill_error', err.message)
      }
    }
  },

  quit: { offline: true, run: async () => ({}) }
}

// sandbox.js (isolated-vm) is loaded on first use: the bots work without it.
function loadSandbox () {
  try {
    return require('./sandbox')
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND' && /sandbox/.test(err.message)) {
      throw new OpError('skill_error', `sandbox not installed (${__dirname}/sandbox.js is missing)`)
    }
    throw new OpError('skill_error', `sandbox failed to load: ${err.message}`)
  }
}

// ---------------------------------------------------------------------------------------------
// The sidecar: reads requests, runs ops with deadlines, relays chat.

class Sidecar {
  constructor (config) {
    this.config = config
    this.slots = new Map(config.bots.map(b => [b.persona, new BotSlot(this, b.persona, b.username)]))
    this.usernames = new Set(config.bots.map(b => b.username.toLowerCase()))
  }

  start () {
    for (const slot of this.slots.values()) slot.connect().catch(err => slot.later(`connect failed: ${err.message}`))
  }

  // Chat from players that are not our bots, relayed once: by the first of our bots online.
  heard (slot, username, message) {
    const first = [...this.slots.values()].find(s => s.online)
    if (slot !== first || this.usernames.has(String(username).toLowerCase())) return
    event('chat', { username, message })
  }

  // One request line -> one reply line, whatever the line holds.
  async handle (line) {
    let request
    try {
      request = JSON.parse(line)
    } catch (err) {
      return fail(null, 'bad_request', `not JSON: ${err.message}`)
    }
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      return fail(null, 'bad_request', 'a request is a JSON object {"id", "op", "bot", "args"}')
    }
    const id = typeof request.id === 'number' || typeof request.id === 'string' ? request.id : null
    if (id === null) return fail(null, 'bad_request', 'the request has no "id" (a number or a string)')
    const spec = OPS[request.op]
    if (!spec) return fail(id, 'unknown_op', `unknown op ${JSON.stringify(request.op)}; ops: ${Object.keys(OPS).join(', ')}`)
    const args = request.args ?? {}
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return fail(id, 'bad_request', 'args must be a JSON object')
    const timeoutMs = request.timeout_ms ?? DEFAULT_TIMEOUT_MS
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
      return fail(id, 'bad_request', `timeout_ms must be a number of milliseconds in 1..${MAX_TIMEOUT_MS}`)
    }
    const slot = this.slots.get(request.bot)
    if (!slot && !spec.offline) {
      return fail(id, 'bad_request', `unknown bot ${JSON.stringify(request.bot)}; bots: ${[...this.slots.keys()].join(', ')}`)
    }
    try {
      reply(id, await this.run(slot, request.op, args, { deadline: Date.now() + timeoutMs }))
    } catch (err) {
      const code = err instanceof OpError ? err.code : 'failed'
      if (!(err instanceof OpError)) log(`${request.op} for ${request.bot}: ${err.stack || err}`)
      fail(id, code, err.message)
    }
    if (request.op === 'quit') this.quit()
  }

  // Run one op for a bot, by its deadline. A skill's primitive runs with `parent` (the skill's
  // ctx): the skill's deadline, cancelled with it. A task replaces the bot's running task.
  async run (slot, op, args, { parent = null, deadline = parent?.deadline } = {}) {
    const spec = OPS[op]
    if (!spec) throw new OpError('unknown_op', `unknown op ${JSON.stringify(op)}`)
    if (!spec.offline && !slot.online) {
      throw new OpError('offline', `${slot.persona} is not in the world (joining ${slot.address})`)
    }
    const controller = new AbortController()
    const ctx = { bot: slot?.bot, controller, signal: controller.signal, deadline, inSkill: parent !== null }
    const withParent = () => controller.abort(parent.signal.reason)
    if (parent) {
      if (parent.signal.aborted) throw parent.signal.reason
      parent.signal.addEventListener('abort', withParent, { once: true })
    } else if (spec.task) {
      controller.label = op === 'run_skill' ? `skill ${args.main ?? ''}`.trim() : `${op} ${describe(args)}`.trim()
      if (slot.task) slot.task.abort(new OpError('cancelled', `replaced by ${controller.label}`))
      slot.task = controller
    }
    // When the op ends, however it ends (its reply, a newer task, `stop`, the bot leaving).
    controller.signal.addEventListener('abort', () => {
      parent?.signal.removeEventListener('abort', withParent) // a skill makes many calls
      slot?.running.delete(controller)
      if (slot?.mover === controller) slot.mover = null
      if (slot?.task === controller) {
        slot.task = null
        slot.publishState()
      }
    }, { once: true })
    const budget = Math.max(0, deadline - Date.now())
    const timer = setTimeout(() => controller.abort(new OpError('timeout', `${op} ran past its ${budget} ms limit`)), budget)
    slot?.running.add(controller)
    try {
      return await untilAborted(spec.run(slot, args, ctx), ctx.signal)
    } finally {
      clearTimeout(timer)
      // follow goes on after its reply, until `stop` or another task aborts it.
      if (!ctx.keep) {
        ctx.finished = true
        controller.abort(new OpError('cancelled', `${op} finished`))
      }
    }
  }

  quit () {
    for (const slot of this.slots.values()) slot.close()
    // Let the quit packets and the last reply leave before exiting.
    setTimeout(() => process.exit(0), 200)
  }
}

// A task's label for state.task: "goto Alice", "collect dirt", "goto (10, 64, -3)".
function describe (args) {
  if (typeof args.player === 'string') return args.player
  if (typeof args.block === 'string') return args.block
  if (typeof args.item === 'string') return args.item
  if ([args.x, args.y, args.z].every(v => typeof v === 'number')) return where(args)
  return ''
}

// ---------------------------------------------------------------------------------------------
// stdin: the config line, then requests; a line over MAX_LINE_CHARS is dropped unread.

function readLines (onLine, onClose) {
  let buffer = ''
  let skipping = false
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => {
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (skipping) {
        skipping = false
      } else if (line.trim()) {
        onLine(line)
      }
    }
    if (buffer.length > MAX_LINE_CHARS) {
      if (!skipping) fail(null, 'bad_request', `a request line over ${MAX_LINE_CHARS} characters was dropped`)
      skipping = true
      buffer = ''
    }
  })
  process.stdin.on('end', onClose)
  process.stdin.on('close', onClose)
}

function main () {
  event('ready', { versions: SUPPORTED, node: process.version })
  let sidecar = null
  readLines((line) => {
    if (sidecar) return sidecar.handle(line)
    try {
      sidecar = new Sidecar(readConfig(line))
    } catch (err) {
      event('error', { message: `config: ${err.message}` })
      log(`config: ${err.message}`)
      process.exit(2)
    }
    sidecar.start()
  }, () => {
    log('stdin closed: quitting')
    if (sidecar) sidecar.quit()
    else process.exit(0)
  })
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => (sidecar ? sidecar.quit() : process.exit(0)))
  // A library's stray rejection or throw is logged; the bots go on (a dead sidecar would drop
  // every bot and task at once).
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err?.stack || err}`))
  process.on('uncaughtException', (err) => log(`uncaught exception: ${err?.stack || err}`))
}

main()
