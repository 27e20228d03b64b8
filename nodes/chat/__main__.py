from bus.run import run
from nodes.chat.node import ChatNode

run(ChatNode)
