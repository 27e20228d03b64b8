"""LLM backends behind one Protocol (`nodes.llm.backends.base.Backend`), one file each."""
