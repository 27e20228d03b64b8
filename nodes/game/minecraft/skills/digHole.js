// Dig a hole `depth` blocks deep in the ground next to the bot; the dug blocks are picked up.
async function digHole(bot, depth = 2) {
  const { position } = await bot.state()
  // Feet level is rounded: a bot just landed reads y 4.8 on ground whose top is at 5.
  const [x, y, z] = [Math.floor(position[0]), Math.round(position[1]), Math.floor(position[2])]
  const dug = []
  for (let level = 1; level <= depth; level++) {
    const { before } = await bot.dig(x + 1, y - level, z)
    dug.push(before)
  }
  return { top: [x + 1, y - 1, z], dug }
}
