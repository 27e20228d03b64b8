"""Demo nodes, like ROS 2's demo_nodes: a talker and a listener, to try the bus by hand
(``python -m nodes.demo.talker``, ``vttopic echo demo/count``) and to test the runtime."""
