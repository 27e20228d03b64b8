// Walk to the nearest block of a kind (e.g. oak_log, water) within 64 blocks.
async function goToNearest(bot, block) {
  return await bot.goToBlock(block, 64)
}
