"""Speech input for menus: Vosk grammar recognition of the caller's recorded utterance."""

from ivr.speech.recognizer import SPEECH, Recognition, Recognizer, SpeechError, Word

__all__ = ["SPEECH", "Recognition", "Recognizer", "SpeechError", "Word"]
