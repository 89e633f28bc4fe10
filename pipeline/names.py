"""Show-notes names put right after decoding, where the audio holds them.

A prompt full of names makes Whisper write them where they were not said ("Alvaro" for
"Anita"). Correcting afterwards only touches a word the model already heard as something
close: the same consonant skeleton (metaphone, `jellyfish`) and a similar spelling
(`rapidfuzz`). A word that is itself ordinary English must also have been decoded with low
confidence, and two words joined into one name must follow each other without a pause.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from .models import Episode, Transcript, Word

log = logging.getLogger(__name__)

# rapidfuzz ratios (0-100): letters and metaphone keys both close ("Simolecator", "Tokyo"),
# or (nearly) the same key and letters not far ("Century"), or a plain spelling slip.
MIN_LETTERS_WITH_SOUND = 72
MIN_SOUND = 75
MIN_LETTERS_SAME_SOUND = 60  # with a metaphone key at least CLOSE_SOUND alike ("Simple Cater")
CLOSE_SOUND = 85
MIN_LETTERS_ALONE = 86
COMMON_WORD_MAX_PROBABILITY = 0.55  # an ordinary word replaced only when Whisper doubted it
MAX_JOIN_GAP = 0.25  # seconds between two words heard as one name ("Simple Cater")
_CORE = re.compile(r"^([^\w]*)([\w'’.+#-]*?[\w+#])((?:['’]s)?[^\w]*)$")


@dataclass(frozen=True)
class Correction:
    start: float
    heard: str
    written: str


def vocabulary_names(episode: Episode, extra: Iterable[str] = ()) -> list[str]:
    """Single-word names from the speakers, links and running text of the show notes."""
    from . import vocabulary

    phrases = [*extra, *episode.speakers, *vocabulary.link_texts(episode),
               *vocabulary.proper_nouns(f"{episode.title}. {episode.description}\n{vocabulary.show_notes(episode)}")]
    names: dict[str, str] = {}
    for phrase in phrases:
        for word in re.findall(r"[A-Za-z][\w'’+#.-]*[\w+#]", phrase):
            if len(word) >= 3 and (word[0].isupper() or re.search(r"[a-z][A-Z]", word)):
                names.setdefault(word.lower(), word)
    return list(names.values())


@lru_cache(maxsize=4096)
def _metaphone(text: str) -> str:
    import jellyfish

    return jellyfish.metaphone(text)


@lru_cache(maxsize=4096)
def is_common(word: str) -> bool:
    """An everyday English word: one token of Whisper's vocabulary, in lower case."""
    from .vocabulary import count_tokens

    return count_tokens(word.lower()) == 1


def best_name(heard: str, names: Sequence[str]) -> str | None:
    """The one name `heard` is a near miss of, or None (no close name, or two equally close)."""
    from rapidfuzz import fuzz

    key = re.sub(r"[^a-z]", "", heard.lower())
    if len(key) < 3:
        return None
    scored = []
    for name in names:
        target = re.sub(r"[^a-z]", "", name.lower())
        if key == target:
            return name
        letters = fuzz.ratio(key, target)
        sound = fuzz.ratio(_metaphone(key), _metaphone(target))
        if ((letters >= MIN_LETTERS_WITH_SOUND and sound >= MIN_SOUND) or letters >= MIN_LETTERS_ALONE
                or (sound >= CLOSE_SOUND and letters >= MIN_LETTERS_SAME_SOUND)):
            scored.append((letters + sound, name))
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


def correct(transcript: Transcript, names: Sequence[str]) -> tuple[Transcript, list[Correction]]:
    """Near-miss words (and pairs of words) replaced by the show notes' spelling."""
    if not names:
        return transcript, []
    done: list[Correction] = []
    segments = []
    for seg in transcript.segments:
        words, fixes = _correct_words(list(seg.words), names)
        if fixes:
            done += fixes
            seg = replace(seg, words=tuple(words), text="".join(w.text for w in words))
        segments.append(seg)
    for c in done:
        log.info("name at %.1f s: %r -> %r", c.start, c.heard, c.written)
    return replace(transcript, segments=tuple(segments)), done


def _split(text: str) -> tuple[str, str, str] | None:
    lead = text[: len(text) - len(text.lstrip())]
    m = _CORE.match(text.strip())
    return (lead + m.group(1), m.group(2), m.group(3)) if m else None


def _correct_words(words: list[Word], names: Sequence[str]) -> tuple[list[Word], list[Correction]]:
    out: list[Word] = []
    fixes: list[Correction] = []
    i = 0
    while i < len(words):
        w = words[i]
        parts = _split(w.text)
        # Two words heard for one name: "Simple Cater" for "Symbolicator".
        if parts and i + 1 < len(words) and not parts[2]:
            nxt = words[i + 1]
            nparts = _split(nxt.text)
            if nparts and not nparts[0].strip() and nxt.start - w.end <= MAX_JOIN_GAP:
                joined = parts[1] + nparts[1]
                name = best_name(joined, names)
                common = is_common(parts[1]) and is_common(nparts[1])
                if (name and name.lower() != parts[1].lower() and name.lower() != nparts[1].lower()
                        and (not common or max(w.probability, nxt.probability) <= COMMON_WORD_MAX_PROBABILITY)):
                    text = f"{parts[0]}{name}{nparts[2]}"
                    out.append(Word(w.start, nxt.end, text, min(w.probability, nxt.probability), w.speaker))
                    fixes.append(Correction(w.start, (w.text + nxt.text).strip(), text.strip()))
                    i += 2
                    continue
        if parts:
            name = best_name(parts[1], names)
            if name and name != parts[1]:
                # an ordinary word ("flask", "production") keeps its case unless Whisper doubted it
                if not is_common(parts[1]) or w.probability <= COMMON_WORD_MAX_PROBABILITY:
                    text = f"{parts[0]}{name}{parts[2]}"
                    out.append(replace(w, text=text))
                    fixes.append(Correction(w.start, w.text.strip(), text.strip()))
                    i += 1
                    continue
        out.append(w)
        i += 1
    return out, fixes
