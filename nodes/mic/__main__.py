from bus.run import run
from nodes.mic.node import MicNode

run(MicNode)
