"""Speech input for menus: Vosk grammar recognition of the caller's recorded utterance."""

from ivr.speech.recognizer import Recognition, Recognizer, SpeechError, Word

__all__ = ["Recognition", "Recognizer", "SpeechError", "Word"]
