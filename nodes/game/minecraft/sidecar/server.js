#!/usr/bin/env node
// The show's local Minecraft server: flying-squid (a Minecraft server written in Node) on a
// superflat world with a fixed seed, offline mode, survival, peaceful.
//
//   node server.js --host 127.0.0.1 --port 25565 --version 1.21.4 --seed 1234 --world DIR
//
// `--world ''` keeps the world in memory. stdout carries one JSON line,
// {"event":"listening","port":N,"version":V}, once the server accepts players; everything else
// (flying-squid's log) goes to stderr. An unsupported --version exits 2 naming the tested ones.
'use strict'

const { format, parseArgs } = require('node:util')

// 1.21.4: the newest version both flying-squid 1.12.0 and mineflayer 4.39.0 list as tested.
// 1.20.4 works too, but flying-squid writes its item-pickup sound packet wrongly for it (a
// "partial packet sound_effect" parse error in the bot on every pickup, measured 3 of 3; 0-1
// per 3 with 1.21.4).
const DEFAULTS = { host: '127.0.0.1', port: '25565', version: '1.21.4', seed: '1234', world: '' }
// Players join one after another along x, two blocks apart, at a fixed place: paths and digging
// start from the same cells on every run (flying-squid picks a random cell in 0..30 otherwise).
const SPAWN = { x: 0, z: 0, spacing: 2, slots: 8 }
// 4 chunks (64 blocks) is enough for goto_block's 64-block search and sends each joining bot
// 81 columns instead of the default 441.
const VIEW_DISTANCE = 4

// flying-squid prints its log with console.log, and its console prompt ("> ") and cursor moves
// on stdout: move all of it to stderr, without the terminal codes (a log file is not a terminal),
// so stdout stays a protocol channel. Done before flying-squid is loaded.
const TERMINAL_CODES = /\x1b\[[0-9;]*[A-Za-z]|^> /g
const protocolOut = process.stdout.write.bind(process.stdout)
const logOut = process.stderr.write.bind(process.stderr)
process.stdout.write = (chunk, ...rest) => logOut(String(chunk).replace(TERMINAL_CODES, ''), ...rest)
console.log = (...args) => process.stdout.write(format(...args) + '\n')

function emit (message) {
  protocolOut(JSON.stringify(message) + '\n')
}

function parseFlags (argv) {
  const options = Object.fromEntries(Object.keys(DEFAULTS).map(name => [name, { type: 'string' }]))
  const { values } = parseArgs({ args: argv, options, strict: true })
  const flags = { ...DEFAULTS, ...values }
  const port = Number(flags.port)
  const seed = Number(flags.seed)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${flags.port}: not a port`)
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed ${flags.seed}: not an integer`)
  return { ...flags, port, seed }
}

// The surface at (x, z): the first air cell above the highest block below y=100.
async function surface (world, x, z) {
  const { Vec3 } = require('vec3')
  let y = 100
  while (y > -64 && (await world.getBlockType(new Vec3(x, y, z))) === 0) y -= 1
  return new Vec3(x, y + 1, z)
}

// Three flying-squid 1.12.0 faults with players, each of which left goto_player, follow and
// nearby_players finding nobody; mended as each player joins (its login plugin defines
// _sendPlayerList anew for every player, so the mends are made after that):
// - a player is spawned for the others with entity type 0 (an allay in 1.20.4, a boat in
//   1.21.4): mineflayer saw the other bots and players as mobs;
// - _sendPlayerList(toPlayer) writes the player list to everybody but toPlayer: whoever joined
//   later saw nobody who was there before. It goes to toPlayer too now (the others still need
//   it: it is how they learn of the newcomer);
// - a player counts as present while it still reads its saved data, before its login packet
//   and its spawn point: two joining at once were spawned for each other too early (before
//   the other's login, which makes mineflayer forget them, or before their list entry, which
//   leaves a nameless entity) or at 0,0,0. Seen in 2 to 4 of 12 joins of two at once; 0 of 30
//   since each player is introduced again once it has spawned.
function mendPlayers (serv) {
  const bitfield = serv.supportFeature('playerInfoActionIsBitfield')
  const listed = (players) => ({
    action: bitfield ? { add_player: true } : 'add_player',
    data: players.map(p => bitfield
      ? { uuid: p.uuid, player: { name: p.username, properties: p.profileProperties }, gamemode: p.gameMode, latency: p._client.latency }
      : { uuid: p.uuid, name: p.username, properties: p.profileProperties, gamemode: p.gameMode, ping: p._client.latency })
  })
  const sendPlayerList = (toPlayer) => {
    const packet = listed(serv.players)
    toPlayer._client.write('player_info', packet)
    toPlayer._writeOthers('player_info', packet)
  }
  serv.on('newPlayer', player => {
    if (player.entityType == null) player.entityType = serv.registry.entitiesByName.player.id
    serv._sendPlayerList = sendPlayerList
    player.once('spawned', () => introduce(player))
  })
  // Once a player stands at its spawn point, everyone near is spawned for it, and it for them,
  // again.
  const introduce = (player) => {
    for (const other of serv.players) other.nearbyEntities = other.nearbyEntities.filter(e => e !== player)
    player.nearbyEntities = []
    player.updateAndSpawn()
  }
}

function main () {
  let flags
  try {
    flags = parseFlags(process.argv.slice(2))
  } catch (err) {
    console.error(`[server] ${err.message}`)
    process.exit(2)
  }
  const mcServer = require('flying-squid')
  let serv
  try {
    serv = mcServer.createMCServer({
      motd: 'vtshow',
      host: flags.host,
      port: flags.port,
      version: flags.version,
      'online-mode': false,
      'max-players': 10,
      logging: false, // true writes ./logs/*.log; its console output comes to stderr anyway
      gameMode: 0, // survival: a dug block drops an item (creative drops nothing)
      difficulty: 0, // peaceful: no mobs to kill the bots mid-task
      worldFolder: flags.world || undefined,
      generation: { name: 'superflat', options: { seed: flags.seed } },
      // 30 s as vanilla: a bot held up on a loaded machine (10 s kicked bots mid-task in CI)
      kickTimeout: 30000,
      plugins: {},
      modpe: false,
      'view-distance': VIEW_DISTANCE,
      'player-list-text': { header: { text: 'vtshow' }, footer: { text: '' } },
      'everybody-op': false,
      'max-entities': 100
    })
  } catch (err) {
    console.error(`[server] ${err.message}`)
    console.error(`[server] --version ${flags.version}: tested versions are ${mcServer.testedVersions.join(', ')}`)
    process.exit(2)
  }
  let joined = 0
  serv.getSpawnPoint = async (world) => {
    const slot = joined++ % SPAWN.slots
    return surface(world, SPAWN.x + slot * SPAWN.spacing, SPAWN.z)
  }
  mendPlayers(serv)
  serv.on('error', err => console.error(`[server] ${err.stack || err}`))
  serv.once('listening', port => emit({ event: 'listening', port, version: flags.version }))
  // A parent that stops us with SIGTERM/SIGINT gets a prompt exit (flying-squid's exit hook
  // kicks the players first, so the bots see a clean end).
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
}

main()
