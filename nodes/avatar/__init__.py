"""The avatar node: VTube Studio avatars with lip sync, emotions and idle life, one per persona."""
