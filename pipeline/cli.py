"""The command line: a thin click layer over `pipeline.run` and friends."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import config
from .errors import ConfigError, PipelineError
from .sanitize import clean_line

log = logging.getLogger("pipeline")


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Flags shared by every command; each overrides the same key in [tool.pipeline]."""
    options = [
        click.option("--engine", type=click.Choice(["faster-whisper", "openai-whisper"]),
                     help="Transcription engine (default: faster-whisper)."),
        click.option("--model", help="Whisper model: tiny.en (bundled, offline), a model name such "
                     "as small.en (downloaded when online), or a local folder."),
        click.option("--transcripts-dir", type=click.Path(),
                     help="Drafts, sidecar files and the audio cache (default: transcripts/). "
                     "An empty folder redoes everything."),
        click.option("-v", "--verbose", count=True, help="More log output."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors and the summary."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(ctx_values: dict[str, Any]) -> config.Settings:
    level = logging.WARNING if ctx_values.pop("quiet", False) else (
        logging.DEBUG if ctx_values.pop("verbose", 0) else logging.INFO)
    ctx_values.pop("verbose", None)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_OneLineFormatter("%(levelname)s %(message)s"))
    try:
        return config.load(ctx_values)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


class _OneLineFormatter(logging.Formatter):
    """Log lines carry file names and server answers: no control character reaches the terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return clean_line(super().formatMessage(record))


def guarded(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Known failures become one clear line and exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = fn(*args, **kwargs)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
        except PipelineError as exc:
            click.echo(f"error: {clean_line(str(exc))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            # the lock is released on the way here; downloads run on daemon threads, engines in
            # child processes that are killed, so nothing holds the exit back
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code or 0)

    return wrapper


# The lab's commands, loaded by name only when invoked (or listed): the runtime never imports them.
LAB_COMMANDS = {"eval": "pipeline.lab.cli:eval_command", "bench": "pipeline.lab.cli:bench_command"}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAB_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAB_COMMANDS:
            module, attr = LAB_COMMANDS[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="podcast-transcripts")
def main() -> None:
    """Transcripts for podcast websites.

    Downloads each pending episode's audio, transcribes it with Whisper, lays the text out under
    the show notes' chapter headings and writes it into the episode file.

    \b
    Examples:
      python -m pipeline transcribe                  # every pending episode in episodes/
      python -m pipeline transcribe episodes/my-ep/index.md --model small.en
      python -m pipeline status
      python -m pipeline review my-ep && python -m pipeline approve my-ep
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@common_options
@click.option("--limit", type=click.IntRange(min=1), help="Process at most N episodes (N >= 1).")
@click.option("--only", multiple=True, metavar="SLUG", help="Only this episode (repeatable).")
@click.option("--retry-failed", is_flag=True, help="Only the episodes that failed in the last run.")
@click.option("--force", is_flag=True, default=None,
              help="Regenerate our own unreviewed drafts even when nothing changed. "
              "Edited, reviewed and human transcripts are never replaced.")
@click.option("--dry-run", is_flag=True, default=None, help="Print the diff instead of writing.")
@click.option("--diarize/--no-diarize", default=None, help="Label speakers (default: on).")
@click.option("--num-speakers", type=click.IntRange(min=1), help="How many speakers, when known (>= 1).")
@click.option("--mark-low-confidence", is_flag=True, default=None,
              help="Mark doubtful words inline with (_needs review_ MM:SS).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]),
              help="Where the model runs (default: auto, a GPU when there is one).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Episodes at once on this machine, the CPU threads shared out (default: 1).")
@click.option("--shard", metavar="K/N",
              help="Only the K-th of N parts of the pending episodes (CI matrix jobs).")
@click.option("--executor", type=click.Choice(["local", "ray"]),
              help="local (default), or ray: one Ray task per episode (pip install '.[ray]').")
@click.option("--ray-address", metavar="ADDRESS",
              help="auto (default: the running cluster, else one on this machine), local, "
              "or e.g. ray://head:10001.")
@guarded
def transcribe(paths: tuple[Path, ...], limit: int | None, only: tuple[str, ...],
               retry_failed: bool, **flags: Any) -> int:
    """Transcribe every pending episode under PATHS (files or folders; default: episodes/).

    \b
    Examples:
      python -m pipeline transcribe
      python -m pipeline transcribe --only 2019-09-13-rust-in-production-with-armin-ronacher
      python -m pipeline transcribe --engine openai-whisper --model small.en --dry-run
      python -m pipeline transcribe --workers 2             # two episodes at once
      python -m pipeline transcribe --shard 2/4             # CI matrix job 2 of 4
      python -m pipeline transcribe --executor ray --ray-address auto
    """
    from . import run, summary

    settings = _settings(flags)
    report = run.run_batch(paths or (settings.episodes_dir,), settings, only=only, limit=limit,
                           retry_failed=retry_failed)
    summary.print_report(report, settings)
    return 1 if report.failed else 0


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@common_options
@click.option("--only", multiple=True, metavar="SLUG", help="Only this episode (repeatable).")
@guarded
def download(paths: tuple[Path, ...], only: tuple[str, ...], **flags: Any) -> int:
    """Only fetch the audio of pending episodes into the audio cache.

    \b
    Example:
      python -m pipeline download episodes/
    """
    from . import run, summary

    settings = _settings(flags)
    report = run.run_batch(paths or (settings.episodes_dir,), settings, only=only, download_only=True)
    summary.print_report(report, settings)
    return 1 if report.failed else 0


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@common_options
@guarded
def status(paths: tuple[Path, ...], **flags: Any) -> int:
    """Every episode and its state: pending, transcribed, reviewed, human-written, failed...

    \b
    Example:
      python -m pipeline status episodes/
    """
    from . import summary

    settings = _settings(flags)
    return summary.print_status(paths or (settings.episodes_dir,), settings)


@main.command()
@click.argument("slugs", nargs=-1)
@common_options
@guarded
def review(slugs: tuple[str, ...], **flags: Any) -> int:
    """Write an HTML review page per transcribed episode (all of them when no SLUG is given).

    \b
    Example:
      python -m pipeline review 2019-09-13-rust-in-production-with-armin-ronacher
      xdg-open transcripts/2019-09-13-rust-in-production-with-armin-ronacher/review.html
    """
    from . import review as review_stage

    settings = _settings(flags)
    pages = review_stage.write_pages(
        slugs, settings.workspace, settings.episodes_dir, episode_options=settings.episodes,
        align_options=settings.align, flag_options=settings.flags, threshold=settings.align.review_threshold)
    for page in pages:
        click.echo(str(page))
    return 0


@main.command()
@click.argument("slugs", nargs=-1, required=True)
@common_options
@guarded
def approve(slugs: tuple[str, ...], **flags: Any) -> int:
    """Mark transcripts reviewed, so that no regeneration ever replaces them.

    \b
    Example:
      python -m pipeline approve 2019-09-13-rust-in-production-with-armin-ronacher
    """
    from . import episodes, run, writeback

    settings = _settings(flags)
    found = [f for f in episodes.discover([settings.episodes_dir], settings.episodes_dir) if not f.error]
    by_key = {f.key: f.path for f in found}
    for key in run.wanted_keys(found, slugs, [settings.episodes_dir]) or ():
        writeback.approve(by_key[key], settings.episodes)
        click.echo(f"{by_key[key]}: marked reviewed")
    return 0


@main.command()
@common_options
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".demo"),
              help="Where the demo's episode, audio and transcripts go (default: .demo/).")
@guarded
def demo(workdir: Path, **flags: Any) -> int:
    """Show the whole pipeline offline on a short synthesized two-voice episode."""
    from . import demo as demo_mod

    flags["transcripts_dir"] = flags.get("transcripts_dir") or workdir / "transcripts"
    settings = _settings(flags)
    return demo_mod.run_demo(workdir, settings)
