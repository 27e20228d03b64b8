"""Twitch chat over IRC: the line parser (pure) and the transports."""
