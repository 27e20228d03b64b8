// Build a pillar `height` blocks tall of an item (e.g. dirt) on the ground beside the bot.
async function buildPillar(bot, item, height = 3) {
  const { position, inventory } = await bot.state()
  if ((inventory[item] || 0) < height) throw new Error(`need ${height} ${item} for the pillar, have ${inventory[item] || 0}`)
  // Feet level is rounded: a bot just landed reads y 4.8 on ground whose top is at 5.
  const [x, y, z] = [Math.floor(position[0]), Math.round(position[1]), Math.floor(position[2])]
  await bot.equip(item)
  const reasons = []
  for (const [dx, dz] of [[2, 0], [-2, 0], [0, 2], [0, -2]]) {
    for (const base of [y, y + 1, y - 1]) {
      try {
        await bot.place(item, x + dx, base, z + dz)
      } catch (error) {
        reasons.push(error.message)
        continue
      }
      for (let level = 1; level < height; level++) await bot.place(item, x + dx, base + level, z + dz)
      return { base: [x + dx, base, z + dz], height }
    }
  }
  throw new Error(`no room for a pillar around (${x}, ${y}, ${z}): ${reasons[0]}`)
}
