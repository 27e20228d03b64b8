// Build a pillar `height` blocks tall of an item (e.g. dirt) on the ground next to the bot.
async function buildPillar(bot, item, height = 3) {
  const { position, inventory } = await bot.state()
  if ((inventory[item] || 0) < height) throw new Error(`need ${height} ${item} for the pillar, have ${inventory[item] || 0}`)
  const [x, y, z] = position.map(Math.floor)
  await bot.equip(item)
  for (let level = 0; level < height; level++) await bot.place(item, x + 2, y + level, z)
  return { base: [x + 2, y, z], height }
}
