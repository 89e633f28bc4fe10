"""Names for the speakers the voices were split into, and only with evidence.

A published transcript that gives a guest's words to the host is worse than none, so a name is
shown only when something backs it: the front matter's `speakers` list (or the setting), a
known voice (see `voices`), or a self-introduction ("I'm Kim Porter") whose name is also in the
title, the show notes or the front matter. When exactly one voice and one name from the notes
are left, the name goes to that voice. Everyone else is "Speaker N", and the episode is flagged
for review. A word found nowhere but in the talk (a misheard "Emerald" for Alvaro) never
becomes a name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .models import Episode, Word

_NAME = r"[A-Z][a-z]+(?:['-][A-Za-z][a-z]+)?"
_FULL = rf"(?P<name>{_NAME}(?: {_NAME})?)"
# The speaker says their own name.
_SELF = [
    re.compile(rf"\bmy name is {_FULL}"),
    re.compile(rf"\b(?:[Hh]i|[Hh]ey|[Hh]ello)(?: everyone| everybody| there| folks| all)?[,.!]? (?:I'm|I am|this is|it's) {_FULL}"),
    re.compile(rf"\bI'm your host,? {_FULL}"),
    re.compile(rf"(?:^|[.!?,])\s*(?:and )?I'm (?P<name>{_NAME} {_NAME})\b"),
]
# The speaker names the person who talks next (the guest being welcomed, the host thanked).
_NEXT = [
    re.compile(rf"\b[Ww]elcome (?:back )?to the (?:show|podcast|program),? {_FULL}"),
    re.compile(rf"(?:^|[.!?])\s*[Ww]elcome,? {_FULL}[.!,]"),
    re.compile(
        rf"\b(?:[Tt]hanks|[Tt]hank you)(?: so much| very much)? for (?:having me|coming on|joining (?:me|us)|being here|being on the show)"
        rf"(?: today)?,? {_FULL}"
    ),
    re.compile(rf"\b(?:talking|speaking) (?:to|with) (?P<name>{_NAME} {_NAME})"),
    re.compile(rf"\bmy guest (?:today )?is (?P<name>{_NAME} {_NAME})"),
    re.compile(rf"\bjoined (?:today )?by (?P<name>{_NAME} {_NAME})"),
]
# A turn that opens by thanking someone by name answers the one who spoke before.
_PREVIOUS = [re.compile(rf"(?:^|[.!?])\s*(?:Thanks|Thank you)(?: so much| very much)?,? {_FULL}[.!,]")]
# Capitalised words these patterns catch that are not names.
_NOT_NAMES = {
    "Everyone", "Everybody", "Back", "Today", "Here", "The", "This", "That", "Thanks", "Thank",
    "Yeah", "Yes", "So", "Well", "And", "But", "Okay", "Ok", "Oh", "Hi", "Hey", "Hello", "Not",
    "Just", "Really", "Very", "Glad", "Happy", "Excited", "Sure", "Going", "Doing", "Good",
    "Great", "Also", "Actually", "Still", "Now", "Currently", "Always", "Sorry", "All", "Folks",
    "Guys", "Friends", "Listeners", "Show", "Podcast", "Episode", "American", "English", "Canadian",
    "A", "An", "In", "On", "Of", "For", "With", "About", "At", "To", "From", "How", "What", "Why",
    "When", "Where", "Who", "Two", "Three", "Four", "Part", "Special", "Live", "Interview",
}
# People named in a title: "... with Armin Ronacher", "Anita Zhang and Alvaro Leiva on systemd".
_PERSON = rf"{_NAME}(?: (?:van|von|de|der|da|di|del|la|le) {_NAME}| {_NAME}){{1,2}}"
_TITLE_PEOPLE = [
    re.compile(rf"\b(?:with|featuring|feat\.|ft\.|guest|guests|and|&)\s+(?P<name>{_PERSON})"),
    re.compile(rf"(?:^|[,:|-]\s*)(?P<name>{_PERSON})(?=\s*(?:,|&|:| and | on | talks| about| -))"),
]
_NOTES_PEOPLE = re.compile(rf"(?<![.!?]\s)(?<!^)\b(?P<name>{_PERSON})|^(?P<lead>{_PERSON})(?= (?:talks|joins|explains|and|on|is|was|shares|discusses|tells)\b)")


TOO_ALIKE = "the voices are too alike to tell apart here"


@dataclass(frozen=True)
class Cue:
    """A name the talk gives a speaker: `kind` is "self", "next" or "previous"."""

    label: int
    name: str
    kind: str


@dataclass(frozen=True)
class Notes:
    """People named around the episode: `guests` in the title, `people` anywhere in it."""

    guests: tuple[str, ...] = ()
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class Naming:
    """A display name per label, why each named one got its name, and whether to review."""

    names: dict[int, str]
    evidence: dict[str, str] = field(default_factory=dict)
    source: str = "generic"
    weak: bool = False


def _clean_name(raw: str) -> str | None:
    parts = raw.split()
    while parts and parts[-1] in _NOT_NAMES:
        parts.pop()
    if not parts or any(p in _NOT_NAMES for p in parts):
        return None
    return " ".join(parts)


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    """One entry per person: "Jeremy" and "Jeremy Jung" are one, the longer form kept."""
    out: list[str] = []
    for name in sorted(names, key=len, reverse=True):
        if not any(name == o or name == o.split()[0] for o in out):
            out.append(name)
    return tuple(sorted(out, key=list(names).index))


def notes_people(episode: Episode | None) -> Notes:
    """Who the title and show notes name (guests: the title's people)."""
    if episode is None:
        return Notes()
    found: list[tuple[int, str]] = []
    for pattern in _TITLE_PEOPLE:
        for m in pattern.finditer(episode.title or ""):
            name = _clean_name(m.group("name"))
            if name and len(name.split()) >= 2:
                found.append((m.start("name"), name))
    guests_u = _unique([name for _, name in sorted(found)])
    people = list(guests_u)
    fm = episode.front_matter or {}
    text = " ".join(str(x) for x in (episode.description, fm.get("description", "")) if x)
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for m in _NOTES_PEOPLE.finditer(sentence):
            name = _clean_name(m.group("name") or m.group("lead"))
            if name and len(name.split()) >= 2:
                people.append(name)
    return Notes(guests_u, _unique(people))


def count_bounds(notes: Notes, max_speakers: int) -> tuple[int, int]:
    """How many voices the episode can have: the title's guests plus a host at least; at most
    everyone the notes name plus a host. An interview with a named guest is never one voice."""
    if not notes.people:
        return 1, max_speakers
    low = len(notes.guests) + 1 if notes.guests else 2
    high = max(low, len(notes.people) + 1)
    return min(low, max_speakers), min(high, max_speakers)


def text_cues(words: Sequence[Word], labels: Sequence[int]) -> list[Cue]:
    """Every name the talk gives a speaker, and how: saying it of oneself, or to the other."""
    text, owner = "", []
    for i, w in enumerate(words):
        owner.extend([i] * len(w.text))
        text += w.text
    cues: list[Cue] = []
    for patterns, kind in ((_SELF, "self"), (_NEXT, "next"), (_PREVIOUS, "previous")):
        for pattern in patterns:
            for m in pattern.finditer(text):
                name = _clean_name(m.group("name"))
                if not name:
                    continue
                at = owner[m.start("name")]
                speaker = labels[at]
                if kind == "self":
                    cues.append(Cue(speaker, name, kind))
                    continue
                # The one addressed is the next (or the previous) other voice.
                span = range(at, len(labels)) if kind == "next" else range(at, -1, -1)
                other = next((labels[j] for j in span if labels[j] != speaker), None)
                if other is not None:
                    cues.append(Cue(other, name, kind))
    return cues


def _match(cue: str, names: Sequence[str]) -> str | None:
    """The listed name `cue` stands for: the full name or the first name, exactly."""
    for n in names:
        if cue.lower() in (n.lower(), n.split()[0].lower()):
            return n
    return None


def _assign_listed(cues: Sequence[Cue], names: Sequence[str], order: Sequence[int]) -> dict[int, str]:
    """A names list given for the episode: cues matching it pin names, order gives the rest."""
    votes: Counter[tuple[int, str]] = Counter()
    for cue in cues:
        listed = _match(cue.name, names)
        if listed:
            votes[(cue.label, listed)] += 2 if cue.kind == "self" else 1
    chosen: dict[int, str] = {}
    for (label, name), _ in votes.most_common():
        if name not in chosen.values() and label not in chosen:
            chosen[label] = name
    rest = [n for n in names if n not in chosen.values()]
    for label in order:
        if label not in chosen and rest:
            chosen[label] = rest.pop(0)
    return chosen


def _self_introduced(cues: Sequence[Cue], people: Sequence[str], taken: Mapping[int, str]) -> dict[int, str]:
    """Self-introductions whose name the notes also give, unless the talk contradicts them: a
    name claimed by two voices is nobody's, and so is one that another cue gives to another
    voice. One mislabelled sentence, the host's "I'm Casey Moore, ..." heard in the guest's
    voice, otherwise swapped the names for the whole episode, while the guest's "Thanks for
    having me, Casey" pointed the other way."""
    claims: dict[str, set[int]] = {}
    for cue in cues:
        listed = _match(cue.name, people)
        if listed and cue.label not in taken and listed not in taken.values():
            claims.setdefault(listed, set()).add(cue.label)
    selves = {(cue.label, _match(cue.name, people)) for cue in cues if cue.kind == "self"}
    out: dict[int, str] = {}
    for name, labels in claims.items():
        if len(labels) == 1 and (label := next(iter(labels))) not in out and (label, name) in selves:
            out[label] = name
    return out


def name_speakers(
    words: Sequence[Word],
    labels: Sequence[int],
    listed: Sequence[str] = (),
    listed_from: str = "episode",
    notes: Notes = Notes(),
    known: Mapping[int, str] | None = None,
    apart: bool = True,
) -> Naming:
    """Display names for `labels` (numbered by first appearance), from the strongest evidence
    down: a names list, known voices, self-introductions the notes confirm, elimination.

    `apart`: whether the voices came out clearly apart. If not, who said what is a guess, and a
    name put on a guess is wrong on a third of the words: only a names list still names them,
    and the episode goes to review either way."""
    order = list(dict.fromkeys(labels))
    cues = text_cues(words, labels)
    if listed:
        names = _assign_listed(cues, listed, order)
        why = f"listed in the {listed_from}" + ("" if apart else f"; {TOO_ALIKE}: check who said what")
        return Naming(names, {n: why for n in names.values()}, listed_from, weak=not apart and len(order) > 1)
    if not apart:
        names = {label: f"Speaker {number}" for number, label in enumerate(order, start=1)}
        return Naming(names, {n: f"{TOO_ALIKE}: no name given" for n in names.values()}, "generic", weak=True)
    chosen: dict[int, str] = {}
    evidence: dict[str, str] = {}
    for label, name in (known or {}).items():
        if label in order and name not in chosen.values():
            chosen[label] = name
            evidence[name] = "known voice"
    for label, name in _self_introduced(cues, notes.people, chosen).items():
        chosen[label] = name
        evidence[name] = "introduces themselves; named in the show notes"
    left = [label for label in order if label not in chosen]
    unused = [n for n in notes.people if n not in chosen.values()]
    if chosen and len(left) == 1 and len(unused) == 1:
        chosen[left[0]] = unused[0]
        evidence[unused[0]] = "the one voice left; the one name left in the show notes"
    unnamed = [label for label in order if label not in chosen]
    for number, label in enumerate(unnamed, start=1):
        chosen[label] = f"Speaker {number}"
    source = "known voices" if known and any(v == "known voice" for v in evidence.values()) else (
        "text" if evidence else "generic")
    return Naming(chosen, evidence, source, weak=bool(unnamed) and len(order) > 1)
