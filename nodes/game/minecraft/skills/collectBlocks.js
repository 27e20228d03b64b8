// Collect `count` blocks of a kind (e.g. dirt, oak_log) and check that the inventory holds them.
async function collectBlocks(bot, block, count = 1) {
  const before = (await bot.state()).inventory[block] || 0
  await bot.collect(block, count)
  const held = (await bot.state()).inventory[block] || 0
  if (held - before < count) throw new Error(`collected ${held - before} ${block} of ${count}`)
  return { block, held }
}
