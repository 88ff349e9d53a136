"""Text to speech: script text (sentences, pauses, pronunciations), timed cues, the voice catalogue,
Piper synthesis with word timings and its cache, and the speech WAV writer.
"""
