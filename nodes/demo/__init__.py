"""Demo nodes: a talker publishing a counter and a listener echoing it; the smallest real
graph, used by the launch tests, benchmarks/launch.py and launch/examples/."""
