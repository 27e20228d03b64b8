"""The director: who speaks next, interruptions, and what the show remembers it said."""
