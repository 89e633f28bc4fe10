"""`python -m pipeline eval` and `python -m pipeline bench`: click commands, no logic.

The main command line loads these by name only when one is invoked, so the runtime never
imports the lab.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

ENGINE_CHOICE = click.Choice(["faster-whisper", "openai-whisper"])


def _batch_size(batch_size: int | None, batched: bool | None) -> int | None:
    if batch_size is not None:
        return batch_size
    return None if batched is None else (4 if batched else 0)


def _write_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))


def _decoding_options(command: Callable[..., None]) -> Callable[..., None]:
    """The decoding flags eval and bench share, so both describe them the same way."""
    for option in reversed([
        click.option("--model", help="Whisper model (default: the project's, tiny.en)."),
        click.option("--beam-size", type=int, help="Decoding beam (default: the project's, 5)."),
        click.option("--batch-size", type=int,
                     help="faster-whisper batched inference with this batch (0: off)."),
        click.option("--batched/--no-batched", default=None,
                     help="Batched inference with batch 4, or sequential decoding (default: the "
                     "project's batch_size, 4)."),
    ]):
        command = option(command)
    return command


@click.command("eval")
@click.option("--quick", is_flag=True, help="One short episode and one real clip (a smoke run).")
@click.option("--engine", type=ENGINE_CHOICE, help="Default: the project's setting.")
@_decoding_options
@click.option("--diarize/--no-diarize", default=None, help="Label speakers (default: on).")
@click.option("--vocabulary/--no-vocabulary", default=None,
              help="Prompt with the show notes' vocabulary (default: on).")
@click.option("--vocabulary-prompt", type=click.Choice(["sentences", "sentences+names"]),
              help="What the show notes put into the prompt (default: sentences).")
@click.option("--correct-names/--no-correct-names", default=None,
              help="Correct near misses of show-notes names after decoding (default: on).")
@click.option("--recover-gaps/--no-recover-gaps", default=None,
              help="Decode speech left without words again (default: on).")
@click.option("--language", help="Default: the project's, auto.")
@click.option("--episodes", "episodes", multiple=True, metavar="SCRIPT",
              help="A script name from pipeline/lab/episode_scripts (repeatable; default: all eval_*).")
@click.option("--long", "long_minutes", type=float, metavar="MINUTES",
              help="Also one long episode: the interview scripts looped to MINUTES (e.g. 20).")
@click.option("--real/--no-real", default=True, help="Also the real clips in --shared-audio (default: on).")
@click.option("--shared-audio", type=click.Path(path_type=Path), default=Path("../shared/audio"),
              show_default=True, help="The real clips and their manifest.json.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".eval"), show_default=True,
              help="Synthesized episodes and run folders.")
@click.option("--keep", is_flag=True, help="Keep the run's folder (printed) for inspection.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Also write the figures as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress; show a traceback on failure.")
def eval_command(batch_size: int | None, batched: bool | None, episodes: tuple[str, ...],
                 json_path: Path | None, verbose: bool, **options: Any) -> None:
    """Measure accuracy on synthesized episodes whose truth is known, and on the real clips.

    Runs the real batch (download over 127.0.0.1, transcribe, diarize, align, write back) and
    scores what it wrote: WER, chapter placement, timecodes, words in music or silence, names,
    speakers.

    \b
    Examples:
      python -m pipeline eval                 # make eval
      python -m pipeline eval --quick --no-real
      python -m pipeline eval --no-vocabulary --json .eval/no-vocabulary.json
      python -m pipeline eval --model base --long 20 --no-real
    """
    from . import evaluate

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(message)s", stream=sys.stderr)
    args = evaluate.EvalOptions(batch_size=_batch_size(batch_size, batched), episodes=episodes, **options)
    try:
        result = evaluate.evaluate(args)
    except Exception as exc:  # a clear line, not a traceback, for `make eval`
        if verbose:
            raise
        click.echo(f"eval failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    evaluate.print_results(result)
    _write_json(json_path, result)


@click.command("bench")
@click.option("--quick", is_flag=True,
              help="The short quick episode, faster-whisper only, one run each (a smoke run).")
@click.option("--minutes", type=float, multiple=True,
              help="An episode length to synthesize and measure (repeatable; default: 10 and 60).")
@click.option("--engine", "engines", type=ENGINE_CHOICE, multiple=True,
              help="Engine to measure (repeatable; default: both).")
@_decoding_options
@click.option("--repeats", type=int, default=1, show_default=True,
              help="Runs per transcription/speakers measurement, median reported (download, decode, "
              "align and writeback run at least 3 times).")
@click.option("--openai-max-minutes", type=float, default=10, show_default=True,
              help="Run openai-whisper only on episodes up to this long (on 2 cores it runs at "
              "0.5-1.4x real time, so 60 minutes would take most of an hour).")
@click.option("--diarize/--no-diarize", default=True, help="Measure the speakers stage (default: on).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".bench"), show_default=True,
              help="Synthesized episodes.")
@click.option("--throughput/--no-throughput", default=True,
              help="Audio hours per wall hour of a 4-episode batch with --workers 1, 2 and 4 (default: on).")
@click.option("--whole-run", is_flag=True,
              help="Also each episode through the whole batch: the peak RSS of its process tree.")
@click.option("--curve", is_flag=True,
              help="Memory over episode length: 10, 30, 60 and 120 minutes, faster-whisper, whole "
              "runs included (about an hour on 2 cores).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Also write the figures as JSON.")
def bench_command(batch_size: int | None, batched: bool | None, minutes: tuple[float, ...],
                  json_path: Path | None, **options: Any) -> None:
    """Measure wall time, real-time factor and peak memory of every stage, per engine.

    Each stage runs alone in a fresh process on synthesized 10- and 60-minute episodes.

    \b
    Examples:
      python -m pipeline bench                # make bench
      python -m pipeline bench --quick
      python -m pipeline bench --minutes 10 --engine faster-whisper --repeats 3
      python -m pipeline bench --curve --no-throughput   # peak RSS at 10, 30, 60, 120 minutes
    """
    from . import bench

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = bench.BenchOptions(batch_size=_batch_size(batch_size, batched), minutes=minutes or (10, 60),
                              **options)
    try:
        result = bench.bench(args)
        if args.throughput and not args.quick:
            from . import scaling

            result["throughput"] = scaling.throughput(args.cache_dir, args.diarize, args.pyproject)
    except Exception as exc:  # one clear line for `make bench`
        click.echo(f"bench failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    bench.print_results(result)
    if result.get("throughput"):
        scaling.print_throughput(result["throughput"])
    _write_json(json_path, result)
