"""Small helpers shared by the tests and the benchmarks, one copy each.

- `helpers.ports`: free loopback ports (one, a block of consecutive ones, a URL nobody answers).
- `helpers.audio`: test tones as float samples or 16-bit PCM.
- `helpers.chat`: chat lines as a platform source publishes them.
- `helpers.rates`: events counted in time windows (rate limits checked from outside).

Peers that cannot run here (Twitch, YouTube, VTube Studio) are in `fakes`; the bus and node
harnesses are in `bus.testing`.
"""
