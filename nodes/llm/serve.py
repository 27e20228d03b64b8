"""Serve a GGUF model over an OpenAI-compatible HTTP API, as its own process (llama.cpp through
xllamacpp): a CPU stand-in for ``vllm serve`` in launch files and tests.

    python -m nodes.llm.serve --port 8000            # the bundled SmolLM2-135M-Instruct
    python -m nodes.llm.serve --model my.gguf --port 8000

It prints ``listening on http://127.0.0.1:PORT`` once the model is loaded and serves until
SIGTERM or Ctrl-C. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nodes.llm.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--model", default="", help="GGUF file; default: the bundled model")
    parser.add_argument("--context", type=int, default=4096, help="tokens per slot")
    parser.add_argument("--slots", type=int, default=2, help="parallel requests")
    parser.add_argument("--threads", type=int, default=0, help="0: half the cores (1 to 8)")
    args = parser.parse_args(argv)
    backend = LlamaCppBackend(
        LlamaCppSettings(model_path=args.model, context=args.context, slots=args.slots,
                         threads=args.threads),
        port=args.port,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"listening on {backend.listening_address}", flush=True)
    stop.wait()
    backend.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
