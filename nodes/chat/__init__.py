"""The chat node: Twitch, YouTube, console and bus chat in; triage, commands, replies out."""
