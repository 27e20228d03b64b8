"""Small helpers shared by the tests and the benchmarks, one copy each.

- `helpers.ports`: free loopback ports (one, a block of consecutive ones, a URL nobody answers).
- `helpers.audio`: test tones as float samples or 16-bit PCM.
- `helpers.chat`: chat lines as a platform source publishes them.
- `helpers.rates`: events counted in time windows (rate limits checked from outside).
- `helpers.director`: the director's turn state machine on a fake clock (`Show`), and a
  scripted LLM, TTS and speaker on a real bus (`VoiceStandIn`).
- `helpers.neuro_game`: a real Neuro-SDK game (the ``neuro-api`` client, trio in a thread),
  an instant stand-in player and `measure_overhead` (``neuro_overhead_p50_ms``).
- `helpers.llm_moves`: tic-tac-toe moves asked of the real LLM node as the director asks them,
  checked against the real game, and `measure_moves` (``valid_call_pct``,
  ``legal_first_try_pct``, ``llm_decision_p50_ms``...).

Peers that cannot run here (Twitch, YouTube, VTube Studio) are in `fakes`; the bus and node
harnesses are in `bus.testing`.
"""
