from bus.run import run
from nodes.llm.node import LlmNode

run(LlmNode)
