from bus.run import run
from nodes.director.node import Director

run(Director)
