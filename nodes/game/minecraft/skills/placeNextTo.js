// Place one block of an item (e.g. dirt) on the ground in the first free cell around the bot.
async function placeNextTo(bot, item) {
  const [x, y, z] = (await bot.state()).position.map(Math.floor)
  await bot.equip(item)
  const reasons = []
  for (const [dx, dz] of [[2, 0], [-2, 0], [0, 2], [0, -2], [2, 2], [-2, -2]]) {
    try {
      return await bot.place(item, x + dx, y, z + dz)
    } catch (error) {
      reasons.push(error.message)
    }
  }
  throw new Error(`no free cell to place ${item} around (${x}, ${y}, ${z}): ${reasons[0]}`)
}
