"""What a person reads at the end of a run: the summary table and `status`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from . import episodes
from .config import Settings
from .errors import PipelineError
from .sanitize import clean_line
from .timecode import format_timestamp
from .workspace import Report

STATE_TEXT = {
    "pending": "pending",
    "generated": "transcribed, not reviewed",
    "reviewed": "reviewed",
    "edited": "edited by a person",
    "human": "human-written",
    "no-transcript-section": "no transcript section",
}


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _short(text: str, width: int = 120) -> str:
    """The table stays readable; the full text is in the log above and in report.json."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _clock(seconds: float) -> str:
    return format_timestamp(round(seconds), pad_hours=False)


def print_report(report: Report, settings: Settings) -> None:
    for outcome in report.outcomes:
        if outcome.state == "dry-run" and outcome.diff:
            click.echo(outcome.diff)
    if not report.outcomes:
        click.echo("Nothing to do: no pending episodes.")
        return
    rows = [
        [clean_line(o.slug), o.state, _clock(o.audio_seconds) if o.audio_seconds else "-", f"{o.seconds:.1f}s",
         _short(clean_line(o.error or "; ".join(o.warnings) or ""))]
        for o in report.outcomes
    ]
    click.echo(_table(rows, ["episode", "state", "audio", "took", "warnings / error"]))
    failed = len(report.failed)
    click.echo(f"{len(report.outcomes) - failed} ok, {failed} failed"
               + (f"; report: {settings.workspace.report_path}" if report.command == "transcribe" else ""))


def print_status(paths: Sequence[Path], settings: Settings) -> int:
    failures = settings.workspace.last_failures()
    rows = []
    for found in episodes.discover(list(paths), settings.episodes_dir):
        path = found.path
        try:
            if found.error:
                raise PipelineError(found.error)
            ep = episodes.load(path, settings.episodes, key=found.key)
        except PipelineError as exc:
            rows.append([clean_line(found.key), "unreadable", _short(clean_line(str(exc)))])
            continue
        state = STATE_TEXT.get(ep.state, ep.state)
        detail = ""
        if ep.audio_url is None and ep.state == "pending":
            state = "no audio URL"
        elif ep.slug in failures and ep.state == "pending":
            state, detail = "failed", failures[ep.slug]
        rows.append([clean_line(ep.slug), state, clean_line(detail or str(path))])
    if not rows:
        click.echo(f"No episode files under {', '.join(map(str, paths))}.")
        return 0
    click.echo(_table(rows, ["episode", "state", "detail"]))
    return 0
