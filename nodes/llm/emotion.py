"""Emotion tags the model writes (``[happy] Hi!``), parsed out of the spoken text.

The show prompt asks the model to start a sentence with one tag from `EMOTIONS`. A tag sets
the emotion of its sentence and of the sentences after it, until the next tag. Models also
write emoji and stray brackets; emoji are never spoken (a TTS reads them as their names), and
a face emoji in a sentence without a tag gives the emotion instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EMOTIONS", "NEUTRAL", "EmotionTracker", "Spoken", "emotion_of_words", "normalise",
           "parse"]

NEUTRAL = "neutral"
EMOTIONS: frozenset[str] = frozenset(
    {"neutral", "happy", "excited", "sad", "angry", "surprised", "scared", "confused", "smug",
     "embarrassed", "thinking", "laughing"}
)
_SYNONYMS = {
    "joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy",
    "laugh": "laughing", "lol": "laughing", "mad": "angry", "annoyed": "angry",
    "shocked": "surprised", "surprise": "surprised", "afraid": "scared", "fear": "scared",
    "worried": "scared", "puzzled": "confused", "shy": "embarrassed", "blush": "embarrassed",
    "think": "thinking", "curious": "thinking", "calm": "neutral", "proud": "smug",
}
# what small models write in stage directions ("(smiling mischievously)", "*sighs*"): the
# first such word of a direction gives its emotion (`emotion_of_words`)
_ACTIONS = {
    "smile": "happy", "smiles": "happy", "smiling": "happy", "grin": "happy",
    "grins": "happy", "grinning": "happy", "beams": "happy", "beaming": "happy",
    "happily": "happy", "cheerfully": "happy", "warmly": "happy", "nods": "happy",
    "laughs": "laughing", "giggle": "laughing", "giggles": "laughing", "giggling": "laughing",
    "chuckle": "laughing", "chuckles": "laughing", "chuckling": "laughing",
    "cackles": "laughing", "snickers": "laughing", "haha": "laughing", "hehe": "laughing",
    "excitedly": "excited", "cheers": "excited", "cheering": "excited", "jumps": "excited",
    "jumping": "excited", "bounces": "excited", "bouncing": "excited", "claps": "excited",
    "clapping": "excited", "squeals": "excited", "dances": "excited", "dancing": "excited",
    "sighs": "sad", "sigh": "sad", "sighing": "sad", "sadly": "sad", "cries": "sad",
    "crying": "sad", "sobs": "sad", "sniffles": "sad", "frowns": "sad", "frowning": "sad",
    "pouts": "sad", "pouting": "sad",
    "gasps": "surprised", "gasp": "surprised", "gasping": "surprised", "blinks": "surprised",
    "wide-eyed": "surprised",
    "winks": "smug", "winking": "smug", "wink": "smug", "smirks": "smug", "smirking": "smug",
    "mischievously": "smug", "slyly": "smug", "teasingly": "smug", "smugly": "smug",
    "blushes": "embarrassed", "blushing": "embarrassed", "sheepishly": "embarrassed",
    "nervously": "scared", "shivers": "scared", "trembles": "scared", "gulps": "scared",
    "shudders": "scared", "screams": "scared",
    "growls": "angry", "angrily": "angry", "glares": "angry", "huffs": "angry",
    "scowls": "angry", "grumbles": "angry",
    "thinks": "thinking", "thinking": "thinking", "ponders": "thinking", "hmm": "thinking",
    "thoughtfully": "thinking", "wonders": "thinking", "considers": "thinking",
    "shrugs": "confused", "tilts": "confused", "scratches": "confused",
    "confusedly": "confused",
}
_EMOJI_EMOTION = {
    "😀": "happy", "😃": "happy", "😄": "happy", "😊": "happy", "🙂": "happy", "😁": "happy",
    "😂": "laughing", "🤣": "laughing", "😆": "laughing", "😢": "sad", "😭": "sad",
    "😞": "sad", "😠": "angry", "😡": "angry", "😮": "surprised", "😲": "surprised",
    "😱": "scared", "😨": "scared", "😕": "confused", "🤔": "thinking", "😏": "smug",
    "😳": "embarrassed", "🤩": "excited", "🥳": "excited",
}
# a tag is one short word (letters, maybe _ or -) in square brackets, or asterisks (*sighs*)
_TAG = re.compile(r"\[\s*([A-Za-z][A-Za-z_-]{0,23})\s*\]|\*([A-Za-z][A-Za-z ]{0,23})\*")
# pictographs, dingbats, flags, variation selectors and zero-width joiners
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u2b00-\u2bff"
    "\ufe0e\ufe0f\u200d\u20e3]+"
)
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:…])")


@dataclass(frozen=True)
class Spoken:
    """A sentence as the TTS should say it, and the emotion found in it (None: no cue)."""

    text: str
    emotion: str | None


def normalise(tag: str) -> str | None:
    """The known emotion a tag names, or None for a tag that is no emotion (``[laughs]``...)."""
    word = tag.strip().lower().replace("-", "_")
    if word in EMOTIONS:
        return word
    return _SYNONYMS.get(word)


def emotion_of_words(words: str) -> str | None:
    """The emotion the first telling word of ``words`` names (a stage direction: "smiling
    mischievously" -> happy, "sighs deeply" -> sad), or None."""
    for word in re.findall(r"[a-z][a-z'-]*", words.lower()):
        emotion = normalise(word) or _ACTIONS.get(word)
        if emotion is not None:
            return emotion
    return None


def parse(sentence: str) -> Spoken:
    """Remove tags and emoji from ``sentence``; the first known tag (else a face emoji) wins."""
    emotion: str | None = None
    for match in _TAG.finditer(sentence):
        emotion = normalise(match.group(1) or match.group(2))
        if emotion is not None:
            break
    if emotion is None:
        emotion = next((_EMOJI_EMOTION[ch] for ch in sentence if ch in _EMOJI_EMOTION), None)
    text = _EMOJI.sub(" ", _TAG.sub(" ", sentence))
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()
    return Spoken(text, emotion)


class EmotionTracker:
    """Carries the last emotion forward: a reply usually tags only its first sentence."""

    def __init__(self, initial: str = NEUTRAL):
        self.current = initial

    def spoken(self, sentence: str) -> Spoken:
        """The sentence's spoken text with the emotion in force for it."""
        found = parse(sentence)
        if found.emotion is not None:
            self.current = found.emotion
        return Spoken(found.text, self.current)
