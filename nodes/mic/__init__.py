"""Microphone capture from a sound device (PulseAudio included) or a WAV file: ``audio/mic``."""
