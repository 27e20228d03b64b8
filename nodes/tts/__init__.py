"""Text to speech: each sentence of a reply becomes small chunks of audio on ``tts/audio``."""
