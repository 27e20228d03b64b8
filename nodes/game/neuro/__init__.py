"""The Neuro-API-compatible game server: games written for Neuro-sama's SDK, played by a persona
(the ``neuro`` game; see README.md)."""
