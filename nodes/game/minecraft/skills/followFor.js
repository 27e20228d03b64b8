// Follow a player for a number of seconds, then stop and say so.
async function followFor(bot, player, seconds = 5) {
  await bot.follow(player, 2)
  await bot.wait(seconds * 1000)
  await bot.stop()
  await bot.chat(`I followed ${player} for ${seconds} seconds.`)
  return { followed: player, seconds }
}
