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
- A file without such a heading has state "no-transcript-section": the runner reports it as
  an error naming the file, and write-back never invents a section.
- Whose text the section holds is decided by content, never by position:
  * pending: nothing in the section but placeholder lines (outside code fences) and blank
    lines, or nothing at all (the transcript then goes right under the heading). A placeholder
    quoted in the show notes, in a sentence or in a code block does not count, and a page with
    anything else in its section (a person's transcript, a note, a second "Transcript"
    heading, a code block) is a person's page.
  * generated: the section is exactly what write-back put there: the configured wrapper lines
    around a body whose hash is `[extra.transcript] transcript_sha256`, then at most blank or
    placeholder lines. A line added inside or around the wrapper, a deleted `</div>`, a nested
    wrapper: all make it "edited", which is never replaced.
- `reviewed` in `[extra.transcript]` is a TOML boolean or the file is refused with a clear error;
  a string such as "yes" is never read as false.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EpisodeError
from .models import Chapter, Episode

PLACEHOLDERS = (
    "Transcript for this episode is coming soon.",
    "The transcript for this episode is coming soon.",
)
NO_TIMESTAMPS = "Timestamps for this episode are coming soon."
STATES = ("pending", "generated", "edited", "reviewed", "human", "no-transcript-section")
BOM = "\ufeff"


WRAPPER = ('<div class="transcript">', "</div>")


@dataclass(frozen=True)
class Options:
    placeholders: tuple[str, ...] = PLACEHOLDERS
    # What surrounds a generated transcript; the parser must know it to recognise its own output.
    wrapper_open: str = WRAPPER[0]
    wrapper_close: str = WRAPPER[1]

    @property
    def wrapper(self) -> tuple[str, str]:
        return self.wrapper_open, self.wrapper_close


@dataclass(frozen=True)
class LoadedEpisode(Episode):
    """An `Episode` that remembers the placeholders and wrapper it was read with, for write-back."""

    placeholders: tuple[str, ...] = PLACEHOLDERS
    wrapper: tuple[str, str] = WRAPPER


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
    block: tuple[int, int] | None = None  # `body` with its wrapper lines

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


def _provenance(path: Path, front_matter: dict[str, Any]) -> dict[str, Any] | None:
    """`[extra.transcript]`, checked: a value we cannot read for sure is an error, never a guess."""
    extra = front_matter.get("extra")
    table = extra.get("transcript") if isinstance(extra, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise EpisodeError(f"{path}: [extra] transcript must be a table ([extra.transcript]), not {table!r}")
    reviewed = table.get("reviewed", False)
    if not isinstance(reviewed, bool):
        raise EpisodeError(
            f"{path}: [extra.transcript] reviewed = {reviewed!r} must be true or false (no quotes); "
            "left alone until it is fixed"
        )
    return table


def _find_block(
    lines: tuple[str, ...], text: list[int], digest: str, wanted: set[str], wrapper: tuple[str, str]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Our transcript (body, and body with wrapper) when the section is exactly what we wrote.

    `text` are the section's non-blank lines. Placeholder lines may follow the block (a second
    placeholder of the original page stays where it was); nothing else may be around it.
    """
    while text and content(lines[text[-1]]).strip() in wanted:
        text = text[:-1]
    if not text:
        return None
    first, last = text[0], text[-1]
    opening, closing = wrapper
    if opening.strip():
        # exactly the lines write-back puts there: an indent or a space added is an edit too
        if len(text) < 3 or content(lines[first]) != opening or content(lines[last]) != closing:
            return None
        body = (text[1], text[-2])
    else:
        body = (first, last)
    block = "\n".join(content(line) for line in lines[body[0] : body[1] + 1])
    if hashlib.sha256(block.encode("utf-8")).hexdigest() != digest:
        return None
    return body, (first, last)


def layout(
    path: Path, text: str, placeholders: tuple[str, ...] = PLACEHOLDERS, wrapper: tuple[str, str] = WRAPPER
) -> tuple[Layout, dict[str, Any]]:
    """The layout of a decoded episode file, and its parsed front matter."""
    lines = tuple(text.split("\n"))
    fm_start, fm_end = _front_matter_bounds(path, lines)
    front_matter = _parse_toml(path, lines, fm_start, fm_end)
    provenance = _provenance(path, front_matter)

    heading = None
    visible = _outside_fences(lines, fm_end + 1)
    for i in visible:
        found = _heading_text(content(lines[i]))
        if found and found[1].rstrip(":").strip().lower() == "transcript":
            heading = i
            break

    placeholder: int | None = None
    body: tuple[int, int] | None = None
    block: tuple[int, int] | None = None
    if heading is not None:
        wanted = {p.strip() for p in placeholders if p.strip()}
        text_lines = [i for i in range(heading + 1, len(lines)) if content(lines[i]).strip()]
        if not text_lines:
            placeholder = heading  # an empty section: the transcript goes under the heading
        elif all(content(lines[i]).strip() in wanted for i in text_lines):
            placeholder = text_lines[0]  # (a fence around it would be text of its own)
        digest = (provenance or {}).get("transcript_sha256")
        if isinstance(digest, str) and placeholder is None:
            ours = _find_block(lines, text_lines, digest, wanted, wrapper)
            if ours is not None:
                body, block = ours
    return Layout(lines, fm_start, fm_end, heading, placeholder, body, provenance, block), front_matter


def state_of(lay: Layout) -> str:
    """Provenance first: a reviewed transcript stays reviewed even with the placeholder put back."""
    if lay.heading is None:
        return "no-transcript-section"
    if lay.provenance is not None:
        if lay.provenance.get("reviewed") is True:
            return "reviewed"
        if lay.body is not None:
            return "generated"
        return "pending" if lay.placeholder is not None else "edited"
    return "pending" if lay.placeholder is not None else "human"


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


# Names the pipeline uses at the top of transcripts/: an episode keyed so would share them.
RESERVED = ("audio", "cache", "report.json", ".lock", "README.md")


@dataclass(frozen=True)
class Found:
    """An episode file and its key, or why it is refused.

    The key names every per-episode file (drafts, sidecars, downloaded audio): the file's path
    under the episodes folder without `.md` or `/index.md`, so `season-1/pilot.md` and
    `season-2/pilot.md` never share one, and a flat `episodes/x.md` keeps the key `x`.
    """

    path: Path
    key: str
    error: str | None = None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def key_problem(key: str) -> str | None:
    """Why `key` cannot name files under transcripts/, or None."""
    parts = key.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return f"its name {key!r} cannot name a folder (empty, '.' or '..', or hidden); rename the file"
    if parts[0] in RESERVED:
        return f"its name {key!r} is taken by the pipeline's own {parts[0]!r} in the transcripts folder; rename the file"
    if any(ord(c) < 32 or c in "\\\x7f" for c in key):
        return f"its name {key!r} holds control characters or backslashes; rename the file"
    return None


def _found(candidate: Path, folder: Path | None, base: Path | None) -> Found:
    lexical = Path(os.path.normpath(candidate.absolute()))
    if base is not None and _inside(lexical, base):
        root = base
    elif folder is not None:
        root = Path(os.path.normpath(folder.absolute()))
    else:
        root = lexical.parent.parent if lexical.name == "index.md" else lexical.parent
    rel = lexical.relative_to(root).as_posix()
    key = rel[: -len("/index.md")] if rel.endswith("/index.md") else rel.removesuffix(".md")
    real = candidate.resolve()
    if not _inside(real, root.resolve()):
        return Found(candidate, key, f"{candidate}: a link to {real}, outside {root}; refused")
    problem = key_problem(key)
    return Found(candidate, key, f"{candidate}: {problem}" if problem else None)


def discover(paths: list[Path], episodes_dir: Path | None = None) -> list[Found]:
    """Every episode file under `paths` with its key (see `Found`), sorted by path.

    Keys are relative to `episodes_dir` for files inside it, else to the folder named on the
    command line (a file named alone keys by its slug). Links that lead out of that folder,
    names that cannot be folder names, and two files with one key are refused, each naming
    the file.
    """
    base = Path(os.path.normpath(Path(episodes_dir).absolute())) if episodes_dir is not None else None
    found: dict[Path, Found] = {}
    for given in map(Path, paths):
        if given.is_dir():
            for candidate in given.rglob("*.md"):
                rel = candidate.relative_to(given).parts
                if candidate.name == "_index.md" or any(p.startswith(".") for p in rel):
                    continue
                if candidate.is_file() and _starts_with_front_matter(candidate):
                    found.setdefault(candidate.resolve(), _found(candidate, given, base))
        elif given.exists() or given.is_symlink():
            found.setdefault(given.resolve(), _found(given, None, base))
        else:
            raise EpisodeError(f"{given}: no such file or folder")
    by_key: dict[str, list[Found]] = {}
    for f in found.values():
        by_key.setdefault(f.key, []).append(f)
    out = []
    for f in found.values():
        twins = [o.path for o in by_key[f.key] if o is not f]
        if twins and f.error is None:
            f = Found(f.path, f.key, f"{f.path}: {twins[0]} has the same name {f.key!r}; rename one of them")
        out.append(f)
    return sorted(out, key=lambda f: f.path)


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
    are skipped. `discover()` adds keys and refuses links out of the folder.
    """
    return [f.path for f in discover(paths)]


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


def parse(path: Path, text: str, options: Options = Options(), key: str | None = None) -> LoadedEpisode:
    lay, front_matter = layout(path, text, options.placeholders, options.wrapper)
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
    return LoadedEpisode(
        path=path,
        slug=key or slug_of(path),
        title=str(front_matter.get("title", "")),
        description=str(front_matter.get("description", "")),
        audio_url=url.strip() or None if url else None,
        front_matter=front_matter,
        body=body,
        chapters=_chapters(
            path, lay.lines, lay.fm_end + 1, len(lay.lines) if lay.heading is None else lay.heading
        ),
        speakers=tuple(speakers),
        state=state_of(lay),
        text=text,
        placeholders=options.placeholders,
        wrapper=options.wrapper,
    )


def load(path: Path, options: Options = Options(), key: str | None = None) -> Episode:
    """Read and parse one episode file; `EpisodeError` (one line, naming the file) if it is bad.

    `key` (from `discover`) becomes `Episode.slug`, the name of its files under transcripts/.
    """
    path = Path(path)
    return parse(path, read_text(path), options, key)
