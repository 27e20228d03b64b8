from bus.run import run
from nodes.game.node import GameNode

run(GameNode)
