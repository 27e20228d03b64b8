"""supervisord, with each program's passed environment read from standard input.

``python -m launch.supervise -c CONFIG`` runs supervisord's own main loop. vtlaunch starts it
with the base environment only (`launch.environment`) and writes on its standard input one
JSON object, program name -> the variables its ``env_pass`` names, with their values. They
are added to that program's configured environment, so a secret reaches the one program that
asked for it: supervisord would hand its own environment to every program, and a value in the
config file would be a secret on disk.
"""

from __future__ import annotations

import json
import os
import sys

from supervisor.options import ServerOptions
from supervisor.states import SupervisorStates
from supervisor.supervisord import go

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    passed: dict[str, dict[str, str]] = json.loads(sys.stdin.read() or "{}")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, sys.stdin.fileno())
    os.close(devnull)
    first = True
    while True:  # a SIGHUP makes supervisord read its config again: as supervisord.main does
        options = ServerOptions()
        options.realize(sys.argv[1:] if argv is None else argv)
        for group in options.process_group_configs:
            for config in group.process_configs:
                # the launch file's own `env` wins: it was written for this program
                config.environment = {**passed.get(config.name, {}),
                                      **(config.environment or {})}
        options.first = first
        options.test = False
        go(options)
        options.close_httpservers()
        options.close_logger()
        first = False
        if options.mood < SupervisorStates.RESTARTING:
            break


if __name__ == "__main__":
    main()
