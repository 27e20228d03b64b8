"""The game node: turn-based games the personas play through tool calls, chat votes, and a
Neuro-API-compatible server for games written for Neuro-sama's SDK."""
