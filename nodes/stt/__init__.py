"""Speech to text: voice activity (Silero), streaming transcription (faster-whisper), echo
rejection of the personas' own voices, and who is speaking."""
