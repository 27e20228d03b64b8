from bus.run import run
from nodes.watch.node import WatchNode

run(WatchNode)
