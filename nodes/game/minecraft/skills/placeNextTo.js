// Place one block of an item (e.g. dirt) on the ground in the first free cell around the bot.
async function placeNextTo(bot, item) {
  const { position } = await bot.state()
  // Feet level is rounded: a bot just landed reads y 4.8 on ground whose top is at 5.
  const [x, y, z] = [Math.floor(position[0]), Math.round(position[1]), Math.floor(position[2])]
  await bot.equip(item)
  const reasons = []
  for (const [dx, dz] of [[2, 0], [-2, 0], [0, 2], [0, -2], [2, 2], [-2, -2]]) {
    for (const level of [y, y + 1, y - 1]) {
      try {
        return await bot.place(item, x + dx, level, z + dz)
      } catch (error) {
        reasons.push(error.message)
      }
    }
  }
  throw new Error(`no free cell to place ${item} around (${x}, ${y}, ${z}): ${reasons[0]}`)
}
