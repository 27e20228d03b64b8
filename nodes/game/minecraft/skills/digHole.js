// Dig a hole `depth` blocks deep in the ground next to the bot; the dug blocks are picked up.
async function digHole(bot, depth = 2) {
  const [x, y, z] = (await bot.state()).position.map(Math.floor)
  const dug = []
  for (let level = 1; level <= depth; level++) {
    const { before } = await bot.dig(x + 1, y - level, z)
    dug.push(before)
  }
  return { top: [x + 1, y - 1, z], dug }
}
