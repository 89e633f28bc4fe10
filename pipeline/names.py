"""Show-notes names put right after decoding, where the audio holds them.

A prompt full of names makes Whisper write them where they were not said ("Alvaro" for
"Anita"). Correcting afterwards only touches a word the model already heard as something
close: the same consonant skeleton (metaphone, `jellyfish`) and a similar spelling
(`rapidfuzz`). A word that is itself ordinary English must also have been decoded with low
confidence, and two words joined into one name must follow each other without a pause.

A full name ("Alvaro Leiva") is also matched against a window of one to three words heard
without a pause ("El Mero Leave", "Alvarolaiva"), its letters and sounds joined; a loose match
there needs the surname's own sound in the last word and a window Whisper doubted.
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
# A full name heard as other words: letters and sounds this close when the last word sounds like
# the surname ("El Mero Leave": 55 and 67, "Leave" ~ "Leiva"), in a window this doubtful.
MIN_LETTERS_FULL = 50
MIN_SOUND_FULL = 60
FULL_NAME_MAX_PROBABILITY = 0.5  # mean over the window
_SENTENCE_END = re.compile(r"[.!?;:,]$")
_CORE = re.compile(r"^([^\w]*)([\w'’.+#-]*?[\w+#])((?:['’]s)?[^\w]*)$")


@dataclass(frozen=True)
class Correction:
    start: float
    heard: str
    written: str


def full_names(episode: Episode, extra: Iterable[str] = ()) -> list[str]:
    """Names of two or three words ("Alvaro Leiva") from the speakers and the show notes."""
    from . import vocabulary

    phrases = [*extra, *episode.speakers,
               *vocabulary.proper_nouns(f"{episode.title}. {episode.description}\n{vocabulary.show_notes(episode)}")]
    out: dict[str, str] = {}
    for phrase in phrases:
        parts = phrase.split()
        if 2 <= len(parts) <= 3 and all(re.fullmatch(r"[A-Z][\w'’-]*[a-z]", p) for p in parts):
            out.setdefault(phrase.lower(), phrase)
    return list(out.values())


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


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def _close(letters: float, sound: float) -> bool:
    """Spelling and sound close enough for a name (rapidfuzz ratios of letters and metaphone)."""
    return ((letters >= MIN_LETTERS_WITH_SOUND and sound >= MIN_SOUND) or letters >= MIN_LETTERS_ALONE
            or (sound >= CLOSE_SOUND and letters >= MIN_LETTERS_SAME_SOUND))


def _unique_best(scored: list[tuple[float, str]]) -> str | None:
    """The best-scored name, or None when there is none or two share the best score."""
    scored.sort(reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


def best_name(heard: str, names: Sequence[str]) -> str | None:
    """The one name `heard` is a near miss of, or None (no close name, or two equally close)."""
    from rapidfuzz import fuzz

    key = _letters(heard)
    if len(key) < 3:
        return None
    scored = []
    for name in names:
        target = _letters(name)
        if key == target:
            return name
        letters = fuzz.ratio(key, target)
        sound = fuzz.ratio(_metaphone(key), _metaphone(target))
        if _close(letters, sound):
            scored.append((letters + sound, name))
    return _unique_best(scored)


def _onset(text: str) -> str:
    """The first sound: a consonant's metaphone, or any vowel ("El Mero" may start "Alvaro")."""
    key = _metaphone(text)[:1]
    return "V" if key in "AEIOU" else key


def best_full_name(heard: Sequence[str], names: Sequence[str]) -> str | None:
    """The one full name the words `heard` (one to three, said without a pause) are a near miss
    of, or None. Joined, they must pass `best_name`'s test; or, for two or more words, come
    looser but with the last word sounding like the surname."""
    from rapidfuzz import fuzz

    key = "".join(_letters(h) for h in heard)
    if len(key) < 5:
        return None
    last = _letters(heard[-1])
    heard_parts = {_letters(h) for h in heard}
    scored = []
    for name in names:
        parts = [_letters(p) for p in name.split()]
        target = "".join(parts)
        if key == target:
            return name
        if not 0.75 <= len(key) / len(target) <= 1.35 or _onset(key) != _onset(target):
            continue  # a part of the name, or a word before it ("to Anita Zhang")
        if len(heard) > len(parts) and heard_parts & set(parts):
            continue  # the name heard right, beside another word ("and Alvaro Leiva")
        letters = fuzz.ratio(key, target)
        sound = fuzz.ratio(_metaphone(key), _metaphone(target))
        loose = (len(heard) >= 2 and letters >= MIN_LETTERS_FULL and sound >= MIN_SOUND_FULL
                 and len(last) >= 3 and _metaphone(last) == _metaphone(parts[-1]))
        if _close(letters, sound) or loose:
            scored.append((letters + sound, name))
    return _unique_best(scored)


def correct(transcript: Transcript, names: Sequence[str],
            full: Sequence[str] = ()) -> tuple[Transcript, list[Correction]]:
    """Near-miss words (and pairs of words) replaced by the show notes' spelling; with `full`
    names, windows of up to three words heard for one of them too."""
    if not names and not full:
        return transcript, []
    done: list[Correction] = []
    segments = []
    for seg in transcript.segments:
        words, fixes = _correct_words(list(seg.words), names, full)
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


def _full_name_at(words: list[Word], i: int, full: Sequence[str]) -> tuple[int, list[Word]] | None:
    """A full name heard as the 1, 2 or 3 words from `i` on: how many, and the name's words
    (the window's span shared out by letters), or None (also when the name is already there)."""
    for n in (1, 2, 3):
        window = words[i:i + n]
        if len(window) < n:
            continue
        split = [_split(w.text) for w in window]
        if any(p is None for p in split):
            continue
        parts = [p for p in split if p is not None]
        inner_ok = all(not _SENTENCE_END.search(p[2]) for p in parts[:-1]) and all(
            not p[0].strip() for p in parts[1:])
        if not inner_ok or any(b.start - a.end > MAX_JOIN_GAP for a, b in zip(window, window[1:])):
            continue
        name = best_full_name([p[1] for p in parts], full)
        if name is not None and " ".join(p[1] for p in parts) == name:
            return None
        if name is None:
            continue
        mean_p = sum(w.probability for w in window) / n
        heard_common = all(is_common(p[1]) for p in parts)
        if mean_p > FULL_NAME_MAX_PROBABILITY and (n > 1 or heard_common):
            continue  # heard with confidence: those words were said
        pieces = name.split()
        start, end = window[0].start, window[-1].end
        total = sum(len(x) for x in pieces)
        out, t = [], start
        for k, piece in enumerate(pieces):
            stop = end if k == len(pieces) - 1 else t + (end - start) * len(piece) / total
            text = (parts[0][0] if k == 0 else " ") + piece + (parts[-1][2] if k == len(pieces) - 1 else "")
            out.append(Word(t, stop, text, min(w.probability for w in window), window[0].speaker))
            t = stop
        return n, out
    return None


def _correct_words(words: list[Word], names: Sequence[str],
                   full: Sequence[str] = ()) -> tuple[list[Word], list[Correction]]:
    out: list[Word] = []
    fixes: list[Correction] = []
    i = 0
    while i < len(words):
        w = words[i]
        if full and (hit := _full_name_at(words, i, full)):
            n, named = hit
            out += named
            fixes.append(Correction(w.start, "".join(x.text for x in words[i:i + n]).strip(),
                                    "".join(x.text for x in named).strip()))
            i += n
            continue
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
