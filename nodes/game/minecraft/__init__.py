"""Minecraft: the mineflayer sidecar, asks read from chat, their checks, the skill library."""
