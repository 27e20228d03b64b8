from bus.run import run
from nodes.stt.node import SttNode

run(SttNode)
