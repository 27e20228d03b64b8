// Say in game chat what the bot is carrying and holding.
async function tellInventory(bot) {
  const { inventory, held } = await bot.state()
  const items = Object.entries(inventory).map(([name, count]) => `${count} ${name}`)
  await bot.chat(items.length ? `I have ${items.join(', ')}${held ? `, holding ${held}` : ''}.` : 'My inventory is empty.')
  return inventory
}
