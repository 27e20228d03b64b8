from bus.run import run
from nodes.avatar.node import AvatarNode

run(AvatarNode)
