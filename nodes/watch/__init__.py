"""Watch mode: the screen, its scene changes and what is on it."""
