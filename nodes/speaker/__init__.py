"""The speaker: owns the audio output, plays ``tts/audio`` and publishes ``audio/playhead``."""
