"""The LLM node: streamed, cancellable replies from vLLM or the embedded llama.cpp model."""
