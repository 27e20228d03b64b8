from bus.run import run
from nodes.memory.node import MemoryNode

run(MemoryNode)
