from bus.run import run
from nodes.tts.node import TtsNode

run(TtsNode)
