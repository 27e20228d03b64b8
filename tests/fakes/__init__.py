"""Loopback fakes of peers that cannot run here (Twitch, YouTube)."""
