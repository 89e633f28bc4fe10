"""Reading Zola episode files: front matter, chapters, and where the transcript goes.

An episode is a flat file `<slug>.md` or a page bundle `<slug>/index.md` that starts with TOML
front matter between `+++` lines. `load()` never changes anything; it also works out the
file's layout (front matter lines, the transcript heading, the placeholder line, our own
transcript block) so that `writeback` can replace exactly those lines and nothing else.

Decisions worth knowing:
- `Episode.text` is the file's exact decoded content, byte-order mark and CRLF included, so
  `episode.text.encode("utf-8")` are the bytes `load()` read. Everything else (`body`, chapter
  parsing, states) works on a copy with the BOM dropped and CRLF turned into LF.
- The transcript section starts at the first heading (any level, outside code fences) whose
  text is "Transcript" and runs to the end of the file (the site's own transcripts put
  chapter headings of the same level inside it, so the next heading cannot end it).
- `Episode.show_notes` is everything between the front matter and that heading, without the
  timestamp list's lines: the text the vocabulary prompt is built from.
- A file without such a heading has state "no-transcript-section": the runner reports it as
  an error naming the file, and write-back never invents a section.
- The placeholder is the first line of the transcript section, outside code fences, whose
  whole text is one of `Options.placeholders`. A placeholder quoted in the show notes, in a
  sentence or in a code block does not count; a second placeholder line in the section is
  left as it is (it becomes ordinary text after the transcript). A transcript section with
  no text at all is pending too: the transcript goes right under the heading.
- Our transcript is recognised by its hash (`[extra.transcript] transcript_sha256`), not by
  the wrapper, so a customised wrapper cannot make the pipeline overwrite a person's text.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EpisodeError
from .models import Chapter, Episode, EpisodeState, Provenance

PLACEHOLDERS = (
    "Transcript for this episode is coming soon.",
    "The transcript for this episode is coming soon.",
)
NO_TIMESTAMPS = "Timestamps for this episode are coming soon."
BOM = "\ufeff"


@dataclass(frozen=True)
class Options:
    placeholders: tuple[str, ...] = PLACEHOLDERS


# --- layout -----------------------------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TIMESTAMP_ITEM = re.compile(
    r"^\s*[-*+]\s+\[?@?(?P<ts>\d+(?::\d+){1,2}(?:\.\d+)?)\]?\s*(?:[-\u2013\u2014:|]\s*)?(?P<title>.*?)\s*$"
)


@dataclass(frozen=True)
class Layout:
    """Where things are in a file, as 0-based indexes into `lines` (split on LF, CR kept)."""

    lines: tuple[str, ...]  # the decoded text split on "\n"; each but the last had a "\n"
    fm_start: int  # the opening "+++" line
    fm_end: int  # the closing "+++" line
    heading: int | None  # the transcript heading
    placeholder: int | None  # the placeholder line; == heading for an empty section
    body: tuple[int, int] | None  # first and last line of our transcript (hash matched)
    provenance: dict[str, Any] | None

    @property
    def newline(self) -> str:
        crlf = sum(1 for line in self.lines[:-1] if line.endswith("\r"))
        return "\r\n" if crlf * 2 > len(self.lines) - 1 else "\n"


def content(line: str) -> str:
    """A line without the CR of its CRLF ending."""
    return line[:-1] if line.endswith("\r") else line


def canonical(body: str) -> str:
    """The form a transcript body is hashed in: LF endings, no blank lines around it."""
    lines = body.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def sha256_text(body: str) -> str:
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def _heading_text(line: str) -> tuple[int, str] | None:
    m = _HEADING.match(line)
    if not m:
        return None
    text = re.sub(r"[ \t]+#+$", "", m.group(2) or "").strip()
    return len(m.group(1)), text


def _outside_fences(lines: tuple[str, ...], start: int) -> list[int]:
    """Indexes from `start` on that are not inside (or delimiting) a fenced code block."""
    keep: list[int] = []
    fence: str | None = None
    for i in range(start, len(lines)):
        m = _FENCE.match(content(lines[i]))
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not content(lines[i]).strip().strip(fence[0]):
                fence = None
        else:
            keep.append(i)
    return keep


def _front_matter_bounds(path: Path, lines: tuple[str, ...]) -> tuple[int, int]:
    first = content(lines[0]).removeprefix(BOM).rstrip() if lines else ""
    if first != "+++":
        seen = f" (found {first[:20]!r}" + (": YAML front matter is not supported)" if first == "---" else ")")
        raise EpisodeError(f"{path}: no TOML front matter; the file must start with a '+++' line{seen}")
    for i in range(1, len(lines)):
        if content(lines[i]).rstrip() == "+++":
            return 0, i
    raise EpisodeError(f"{path}: unterminated front matter (no closing '+++' line)")


def _parse_toml(path: Path, lines: tuple[str, ...], start: int, end: int) -> dict[str, Any]:
    text = "\n".join(content(line) for line in lines[start + 1 : end])
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib counts lines from the start of the front matter; name the file's line
        message = re.sub(
            r"at line (\d+)", lambda m: f"at line {int(m.group(1)) + start + 1}", str(exc)
        )
        raise EpisodeError(f"{path}: broken TOML front matter: {message}") from exc


def _provenance(front_matter: dict[str, Any]) -> dict[str, Any] | None:
    extra = front_matter.get("extra")
    table = extra.get("transcript") if isinstance(extra, dict) else None
    return table if isinstance(table, dict) else None


def _find_body(lines: tuple[str, ...], after: int, digest: str) -> tuple[int, int] | None:
    """Our transcript: the lines whose hash is the recorded one.

    It starts at one of the first few text lines of the section (a wrapper line or a note may
    come before it) and ends at one of the last few (a closing wrapper line may follow).
    """
    text_lines = [i for i in range(after + 1, len(lines)) if content(lines[i]).strip()]
    for s in text_lines[:8]:
        for e in reversed(text_lines[-4:]):
            if e < s:
                continue
            block = "\n".join(content(line) for line in lines[s : e + 1])
            if hashlib.sha256(block.encode("utf-8")).hexdigest() == digest:
                return s, e
    return None


def layout(path: Path, text: str, placeholders: tuple[str, ...] = PLACEHOLDERS) -> tuple[Layout, dict[str, Any]]:
    """The layout of a decoded episode file, and its parsed front matter."""
    lines = tuple(text.split("\n"))
    fm_start, fm_end = _front_matter_bounds(path, lines)
    front_matter = _parse_toml(path, lines, fm_start, fm_end)
    provenance = _provenance(front_matter)

    heading = None
    visible = _outside_fences(lines, fm_end + 1)
    for i in visible:
        found = _heading_text(content(lines[i]))
        if found and found[1].rstrip(":").strip().lower() == "transcript":
            heading = i
            break

    placeholder = body = None
    if heading is not None:
        wanted = {p.strip() for p in placeholders}
        in_section = [i for i in visible if i > heading]
        placeholder = next((i for i in in_section if content(lines[i]).strip() in wanted), None)
        if placeholder is None and not any(content(lines[i]).strip() for i in range(heading + 1, len(lines))):
            placeholder = heading  # an empty section: the transcript goes under the heading
        digest = (provenance or {}).get("transcript_sha256")
        if isinstance(digest, str):
            body = _find_body(lines, heading, digest)
    return Layout(lines, fm_start, fm_end, heading, placeholder, body, provenance), front_matter


def state_of(lay: Layout) -> EpisodeState:
    """Provenance first: a stray placeholder line after our own transcript is not a new job."""
    if lay.heading is None:
        return EpisodeState.NO_TRANSCRIPT_SECTION
    if lay.provenance is not None:
        if lay.provenance.get("reviewed") is True:
            return EpisodeState.REVIEWED
        if lay.body is not None:
            return EpisodeState.GENERATED
        return EpisodeState.PENDING if lay.placeholder is not None else EpisodeState.EDITED
    return EpisodeState.PENDING if lay.placeholder is not None else EpisodeState.HUMAN


def transcript_section(episode: Episode) -> str:
    """The file's text from the transcript heading on (all of it when there is no heading)."""
    lay, _ = layout(episode.path, episode.text, episode.placeholders)
    return "\n".join(content(line) for line in lay.lines[lay.heading or 0:])


# --- chapters ---------------------------------------------------------------------------------


def parse_timestamp(value: str) -> float:
    """Seconds from `M:SS`, `MM:SS`, `H:MM:SS` (minutes may pass 59 in `M:SS`, as in `64:55`)."""
    m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d\d?(?:\.\d+)?)", value.strip())
    if not m:
        raise ValueError(f"not a timestamp: {value!r}")
    hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
    if seconds >= 60 or (m.group(1) is not None and minutes >= 60):
        raise ValueError(f"not a timestamp: {value!r} (seconds, and minutes after hours, must be below 60)")
    return hours * 3600 + minutes * 60 + seconds


def _chapters(path: Path, lines: tuple[str, ...], start: int, stop: int) -> tuple[Chapter, ...]:
    """The list under the first "Timestamps" heading, up to the next heading or `---`.

    Only the show notes are searched (`stop` is the transcript heading): a heading inside a
    transcript is not a timestamps list, whatever its title.
    """
    visible = [i for i in _outside_fences(lines, start) if i < stop]
    head = next(
        (i for i in visible if (h := _heading_text(content(lines[i]))) and "timestamps" in h[1].lower()),
        None,
    )
    if head is None:
        return ()
    chapters: list[Chapter] = []
    for i in visible:
        if i <= head:
            continue
        line = content(lines[i])
        if _heading_text(line) or re.fullmatch(r" {0,3}([-*_])[ \t]*(\1[ \t]*){2,}", line):
            break
        if line.strip() == NO_TIMESTAMPS:
            return ()
        m = _TIMESTAMP_ITEM.match(line)
        if not m:
            continue
        try:
            start_s = parse_timestamp(m.group("ts"))
        except ValueError as exc:
            raise EpisodeError(f"{path}: line {i + 1}: {exc}") from None
        chapters.append(Chapter(start=start_s, title=m.group("title"), line=i + 1))
    return tuple(chapters)


# --- files ------------------------------------------------------------------------------------


def slug_of(path: Path) -> str:
    return path.parent.name if path.name == "index.md" else path.stem


def _starts_with_front_matter(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return True  # let load() report why it cannot be read
    return head.removeprefix(BOM.encode()).startswith(b"+++")


def find_episodes(paths: list[Path]) -> list[Path]:
    """Episode files named or found under folders, sorted and without duplicates.

    A named file is always returned (load() says what is wrong with it); in folders only
    `.md` files starting with `+++` count, Zola section files `_index.md` and hidden folders
    are skipped.
    """
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        if path.is_dir():
            for candidate in path.rglob("*.md"):
                rel = candidate.relative_to(path).parts
                if candidate.name == "_index.md" or any(p.startswith(".") for p in rel):
                    continue
                if candidate.is_file() and _starts_with_front_matter(candidate):
                    found.setdefault(candidate.resolve(), candidate)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise EpisodeError(f"{path}: no such file or folder")
    return sorted(found.values())


def read_text(path: Path) -> str:
    """The decoded file, exactly (BOM and line endings kept); one-line errors."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EpisodeError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EpisodeError(
            f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from exc


def _show_notes(lines: tuple[str, ...], start: int, stop: int) -> str:
    """The notes' lines from `start` up to the transcript heading, without timestamp items."""
    outside = set(_outside_fences(lines, start))
    return "\n".join(content(lines[i]) for i in range(start, stop)
                     if not (i in outside and _TIMESTAMP_ITEM.match(content(lines[i]))))


def _diarize(path: Path, front_matter: dict[str, Any], extra: dict[str, Any]) -> bool:
    """False when `diarize = false` is in [extra] (or, as some sites write it, at the top)."""
    value = extra.get("diarize", True)
    if not isinstance(value, bool):
        raise EpisodeError(f"{path}: [extra] diarize must be true or false, not {value!r}")
    return value and front_matter.get("diarize") is not False


def parse(path: Path, text: str, options: Options = Options()) -> Episode:
    lay, front_matter = layout(path, text, options.placeholders)
    extra = front_matter.get("extra", {})
    if not isinstance(extra, dict):
        raise EpisodeError(f"{path}: 'extra' in the front matter must be a table")
    url = extra.get("episode_url")
    if url is not None and not isinstance(url, str):
        raise EpisodeError(f"{path}: [extra] episode_url must be a string")
    speakers = extra.get("speakers", [])
    if not isinstance(speakers, list) or not all(isinstance(s, str) for s in speakers):
        raise EpisodeError(f"{path}: [extra] speakers must be a list of names")
    body = "\n".join(content(line) for line in lay.lines[lay.fm_end + 1 :])
    notes_end = len(lay.lines) if lay.heading is None else lay.heading
    return Episode(
        path=path,
        slug=slug_of(path),
        title=str(front_matter.get("title", "")),
        description=str(front_matter.get("description", "")),
        audio_url=url.strip() or None if url else None,
        front_matter=front_matter,
        body=body,
        chapters=_chapters(path, lay.lines, lay.fm_end + 1, notes_end),
        speakers=tuple(speakers),
        state=state_of(lay),
        text=text,
        show_notes=_show_notes(lay.lines, lay.fm_end + 1, notes_end),
        provenance=Provenance.from_table(lay.provenance) if lay.provenance is not None else None,
        diarize=_diarize(path, front_matter, extra),
        placeholders=options.placeholders,
    )


def load(path: Path, options: Options = Options()) -> Episode:
    """Read and parse one episode file; `EpisodeError` (one line, naming the file) if it is bad."""
    path = Path(path)
    return parse(path, read_text(path), options)
