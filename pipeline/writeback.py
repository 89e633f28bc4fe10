"""Writing the transcript into the episode file: only the transcript and its provenance change.

What `write()` touches, and nothing else:
- the placeholder line (or, for a regeneration, our previous transcript block with its wrapper
  lines), replaced by `wrapper_open`, a blank line, the body, a blank line, `wrapper_close`
  (no wrapper when `wrapper_open` is empty), in the file's own line ending;
- the `[extra.transcript]` table in the front matter: appended before the closing `+++` (after a
  blank line) the first time, its own lines replaced in place later. When the front matter
  cannot take such a table (`extra = { ... }` inline), that one `extra = ...` line is rewritten
  with the table inside it, its trailing comment kept. Every result is parsed with tomllib and
  must equal the original front matter plus the new table, or nothing is written.

Whose text it is decides everything (see `episodes.state_of`): a person's transcript, an edited
or a reviewed one is never replaced, `force` included (force only rewrites our own unedited
transcript when the new one is identical). A byte-identical rerun writes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import os
import re
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from . import episodes
from .episodes import Layout, canonical, content, sha256_text
from .errors import ConcurrentEditError, HumanTranscriptError, WritebackError
from .models import Episode


@dataclass(frozen=True)
class Options:
    """The wrapper around the transcript is `episodes.Options`': the parser must recognise it."""

    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class WriteResult:
    path: Path
    action: str  # "written", "unchanged" or "dry-run"
    diff: str
    message: str


_OWN_KEYS = ("engine", "model", "generated", "audio_sha256", "transcript_sha256", "reviewed")
_TABLE_HEADER = re.compile(r"^\s*\[\s*extra\s*\.\s*transcript\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_\-.\"' ]+?)\s*\]\]?\s*(#.*)?$")


# --- front matter -----------------------------------------------------------------------------


def _roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    """What tomllib will read back for a table we write (tuples become lists, and so on)."""
    return tomllib.loads(tomli_w.dumps({"t": value}))["t"]


def _table_region(lines: list[str], lay: Layout) -> tuple[int, int] | None:
    """First and last line of an `[extra.transcript]` table (its sub-tables included)."""
    start = next(
        (i for i in range(lay.fm_start + 1, lay.fm_end) if _TABLE_HEADER.match(content(lines[i]))), None
    )
    if start is None:
        return None
    end = start
    for i in range(start + 1, lay.fm_end):
        m = _ANY_HEADER.match(content(lines[i]))
        if m and not re.sub(r"[\s\"']", "", m.group(1)).startswith("extra.transcript."):
            break
        end = i
    while end > start and (not content(lines[end]).strip() or content(lines[end]).lstrip().startswith("#")):
        end -= 1
    return start, end


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return tomli_w.dumps({"x": value}).removeprefix("x = ").rstrip("\n")


def _inline_extra_line(lines: list[str], lay: Layout, extra: dict[str, Any]) -> list[str] | None:
    """Rewrite the one `extra = { ... }` line with `extra` in it, keeping its comment."""
    for i in range(lay.fm_start + 1, lay.fm_end):
        line = content(lines[i])
        m = re.match(r"^(\s*extra\s*=\s*)\{", line)
        if not m:
            continue
        start = m.end(1)
        ends = [j for j, ch in enumerate(line) if ch == "#" and j > start] + [len(line)]
        for end in ends:
            try:
                tomllib.loads("v = " + line[start:end])
            except tomllib.TOMLDecodeError:
                continue
            tail = line[start + len(line[start:end].rstrip()) :]
            out = list(lines)
            out[i] = line[:start] + _inline(extra) + tail + ("\r" if lines[i].endswith("\r") else "")
            return out
    return None


def _front_matter(lines: list[str], lay: Layout) -> dict[str, Any] | None:
    try:
        return tomllib.loads("\n".join(content(x) for x in lines[lay.fm_start + 1 : lay.fm_end]))
    except tomllib.TOMLDecodeError:
        return None


def with_provenance(
    path: Path, lines: list[str], lay: Layout, front_matter: dict[str, Any], table: dict[str, Any]
) -> list[str]:
    """`lines` with `[extra.transcript]` set to `table`; the rest of the front matter untouched."""
    cr = "\r" if lay.newline == "\r\n" else ""
    expected = copy.deepcopy(front_matter)
    extra = expected.setdefault("extra", {})
    if not isinstance(extra, dict):
        raise WritebackError(f"{path}: 'extra' in the front matter is not a table")
    extra["transcript"] = _roundtrip(table)

    dumped = tomli_w.dumps({"extra": {"transcript": table}}).rstrip("\n").split("\n")
    new_table = [line + cr for line in dumped]
    region = _table_region(lines, lay)
    if region is not None:
        first, last = region
        out = lines[:first] + new_table + lines[last + 1 :]
    else:
        gap = [cr] if content(lines[lay.fm_end - 1]).strip() and lay.fm_end - 1 > lay.fm_start else []
        out = lines[: lay.fm_end] + gap + new_table + lines[lay.fm_end :]
    shift = len(out) - len(lines)
    moved = Layout(tuple(out), lay.fm_start, lay.fm_end + shift, None, None, None, None)
    if _front_matter(out, moved) == expected:
        return out

    # `[extra.transcript]` is not allowed here (an inline `extra = {...}`, for one)
    out2 = _inline_extra_line(lines, lay, extra)
    if out2 is not None and _front_matter(out2, lay) == expected:
        return out2
    raise WritebackError(
        f"{path}: cannot add [extra.transcript] to this front matter without rewriting it; "
        "make [extra] a normal table"
    )


# --- the transcript block ---------------------------------------------------------------------


def _block(body: str, wrapper: tuple[str, str]) -> list[str]:
    lines = body.split("\n")
    if not wrapper[0]:
        return lines
    return [wrapper[0], "", *lines, "", wrapper[1]]


def _put_block(lay: Layout, block: list[str], first: int, last: int, empty_section: bool) -> list[str]:
    cr = "\r" if lay.newline == "\r\n" else ""
    lines = list(lay.lines)
    if empty_section:  # under the heading, keeping the heading and whatever followed it
        after = lines[first + 1 :]
        head = lines[first] if after else lines[first] + cr
        inserted = [cr] + [b + cr for b in block[:-1]] + [block[-1] + (cr if after else "")]
        return lines[:first] + [head] + inserted + after
    ending = "\r" if lines[last].endswith("\r") else ""  # the replaced line's own ending
    inserted = [b + cr for b in block[:-1]] + [block[-1] + ending]
    return lines[:first] + inserted + lines[last + 1 :]


def _provenance(given: dict[str, Any], body: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """Our keys set from `given`; keys a person added to the table (`author = ...`) kept, in place."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ours: dict[str, Any] = {k: given[k] for k in ("engine", "model") if given.get(k) is not None}
    ours["generated"] = given.get("generated") or now
    if given.get("audio_sha256") is not None:
        ours["audio_sha256"] = given["audio_sha256"]
    ours["transcript_sha256"] = sha256_text(body)
    ours["reviewed"] = False
    ours.update({k: v for k, v in given.items() if k not in _OWN_KEYS and v is not None})
    owned = set(_OWN_KEYS) | set(given)
    table: dict[str, Any] = {}
    for key, value in (old or {}).items():
        if key in ours:
            table[key] = ours[key]
        elif key not in owned:
            table[key] = value
    table.update({k: v for k, v in ours.items() if k not in table})
    return table


def _without_time(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if k != "generated"}


def _diff(path: Path, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (now)", f"{path} (with transcript)"
    )
    # as diff(1) does, so that a missing final newline does not glue two lines together
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)


def _refuse(path: Path, state: str) -> None:
    reasons = {
        "no-transcript-section": "no '## Transcript' heading to write under; add one with the placeholder line",
        "human": "the transcript section holds text the pipeline did not write; left alone",
        "edited": "the generated transcript was edited since it was written; left alone (--force does not override)",
        "reviewed": "the transcript is marked reviewed; left alone (--force does not override)",
    }
    error = WritebackError if state == "no-transcript-section" else HumanTranscriptError
    raise error(f"{path}: {reasons[state]}")


def write(episode: Episode, body: str, provenance: dict[str, Any], options: Options = Options()) -> WriteResult:
    """Put `body` (rendered markdown, no wrapper) into the episode file, or say why not."""
    path = episode.path
    placeholders = getattr(episode, "placeholders", episodes.PLACEHOLDERS)
    wrapper = getattr(episode, "wrapper", episodes.WRAPPER)
    lay, front_matter = episodes.layout(path, episode.text, placeholders, wrapper)
    state = episodes.state_of(lay)
    new_body = canonical(body)
    if not new_body:
        raise WritebackError(f"{path}: the transcript is empty; nothing written")
    table = _provenance(provenance, new_body, lay.provenance)

    if state == "generated":
        assert lay.body is not None and lay.block is not None and lay.provenance is not None
        old_body = "\n".join(content(x) for x in lay.lines[lay.body[0] : lay.body[1] + 1])
        same = old_body == new_body and _without_time(lay.provenance) == _without_time(_roundtrip(table))
        if same and not options.force:
            return WriteResult(path, "unchanged", "", f"{path}: unchanged (same transcript already written)")
        first, last = lay.block
        lines = _put_block(lay, _block(new_body, wrapper), first, last, empty_section=False)
        what = "regenerated (replaced the pipeline's own unreviewed transcript)"
    elif state == "pending":
        assert lay.placeholder is not None
        empty = lay.placeholder == lay.heading
        lines = _put_block(lay, _block(new_body, wrapper), lay.placeholder, lay.placeholder, empty)
        what = "transcript written"
    else:
        _refuse(path, state)
        raise AssertionError("unreachable")

    lines = with_provenance(path, lines, lay, front_matter, table)
    new_text = "\n".join(lines)
    _check_recognisable(path, new_text, placeholders, wrapper)
    diff = _diff(path, episode.text, new_text)
    count = new_body.count("\n") + 1
    if options.dry_run:
        return WriteResult(path, "dry-run", diff, f"{path}: dry run, would write {count} transcript lines")
    _replace_atomically(path, episode.text.encode("utf-8"), new_text.encode("utf-8"))
    return WriteResult(path, "written", diff, f"{path}: {what} ({count} lines)")


def _check_recognisable(path: Path, text: str, placeholders: tuple[str, ...], wrapper: tuple[str, str]) -> None:
    """What we write must read back as our own transcript, or a rerun could not replace it."""
    lay, _ = episodes.layout(path, text, placeholders, wrapper)
    if episodes.state_of(lay) != "generated":
        raise WritebackError(f"{path}: the written transcript would not be recognised; nothing written")


def approve(path: Path, options: episodes.Options = episodes.Options()) -> None:
    """Mark the generated transcript reviewed, so that no later run replaces it."""
    path = Path(path)
    text = episodes.read_text(path)
    lay, front_matter = episodes.layout(path, text, options.placeholders, options.wrapper)
    state = episodes.state_of(lay)
    if state == "reviewed":
        return
    if state not in ("generated", "edited") or lay.provenance is None:
        raise WritebackError(f"{path}: no generated transcript to approve (state: {state})")
    table = dict(lay.provenance, reviewed=True)
    lines = with_provenance(path, list(lay.lines), lay, front_matter, table)
    _replace_atomically(path, text.encode("utf-8"), "\n".join(lines).encode("utf-8"))


def transcript_body(episode: Episode, options: Options = Options()) -> str | None:
    """The transcript text in the file (between the wrapper lines), None when there is none."""
    placeholders = getattr(episode, "placeholders", episodes.PLACEHOLDERS)
    wrapper = getattr(episode, "wrapper", episodes.WRAPPER)
    lay, _ = episodes.layout(episode.path, episode.text, placeholders, wrapper)
    state = episodes.state_of(lay)
    if lay.heading is None or state == "pending":
        return None
    if lay.body is not None:
        return "\n".join(content(x) for x in lay.lines[lay.body[0] : lay.body[1] + 1])
    section = [content(x) for x in lay.lines[lay.heading + 1 :]]
    if wrapper[0]:
        opens = [i for i, x in enumerate(section) if x.strip() == wrapper[0].strip()]
        closes = [i for i, x in enumerate(section) if x.strip() == wrapper[1].strip()]
        if opens and closes and closes[-1] > opens[0]:
            section = section[opens[0] + 1 : closes[-1]]
    return canonical("\n".join(section)) or None


# --- the file ---------------------------------------------------------------------------------


def _replace_atomically(path: Path, expected: bytes, data: bytes) -> None:
    """Temp file beside it, fsync, rename; only if the file still holds what we read."""
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
        current = real.read_bytes()
    except OSError as exc:
        raise WritebackError(f"{path}: cannot read it again before writing: {exc.strerror or exc}") from exc
    # root may write anyway; a file without write bits is someone's "do not touch"
    if not st.st_mode & 0o222 or not os.access(real, os.W_OK):
        raise WritebackError(f"{path}: the file is read-only; not written")
    if current != expected:
        raise ConcurrentEditError(f"{path}: changed on disk since it was read; not written, run again")
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, real)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WritebackError(f"{path}: could not write: {exc.strerror or exc}") from exc
    try:
        dir_fd = os.open(real.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # the rename happened; a folder that cannot be fsynced is not an error
