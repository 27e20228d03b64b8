// Walk up to a player (by in-game name) and look at them.
async function comeTo(bot, player) {
  const reached = await bot.goToPlayer(player, 2)
  await bot.lookAt(player)
  return reached
}
