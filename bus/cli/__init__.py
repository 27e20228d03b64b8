"""The command-line tools: vttopic, vtnode, vtparam, vtbag (and vtlaunch in `launch`)."""
