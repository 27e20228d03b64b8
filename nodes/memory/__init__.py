"""Long-term memory of viewers, personas and past streams, with retrieval for every reply."""
