from bus.run import run
from nodes.speaker.node import SpeakerNode

run(SpeakerNode)
