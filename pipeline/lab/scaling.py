"""`make bench`'s scaling figures: batch throughput for `--workers N`, and whole-run peak memory.

Throughput: four episodes (the two evaluation scripts, each also re-encoded 5% quieter so that
no cache is shared) go through the real batch (`run.run_batch`: download over loopback, decode,
transcribe, speakers, align, write back) in a fresh process with a fresh transcripts folder, once
per N. It is audio hours per wall hour, model loading included, as a scheduled run sees it.

Whole run: one episode through the same batch in a fresh process, its peak RSS, so that the
memory curve over episode length (10, 30, 60, 120 minutes with `--curve`) is what a user's
`make transcribe` would reach, not only each stage's own.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import synth
from .bench import SOURCE_SCRIPTS, BenchEpisode, run_worker
from .evaluate import build_set
from .serve import serve

WORKERS = (1, 2, 4)


def batch_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the worker process: `run.run_batch` over the spec's episodes."""
    import time

    from .. import config, run

    values = {"transcripts_dir": spec["transcripts"], "workers": spec["workers"],
              "diarize": spec["diarize"]}
    settings = config.load(values, pyproject=Path(spec["pyproject"]))
    started = time.perf_counter()
    report = run.run_batch([Path(spec["episodes"])], settings)
    return {"seconds": time.perf_counter() - started,
            "audio_seconds": sum(o.audio_seconds for o in report.outcomes),
            "states": sorted(o.state for o in report.outcomes),
            "errors": [o.error for o in report.outcomes if o.error]}


@dataclass(frozen=True)
class Site:
    media: Path
    episodes: list[tuple[synth.Script, synth.Truth, str]]  # script, truth, file name in media


def throughput_site(cache_dir: Path, workdir: Path) -> Site:
    media = workdir / "media"
    media.mkdir(parents=True)
    out = []
    for ep in build_set(SOURCE_SCRIPTS, cache_dir / "parts"):
        shutil.copyfile(ep.audio, media / f"{ep.script.slug}.mp3")
        out.append((ep.script, ep.truth, f"{ep.script.slug}.mp3"))
        quieter = media / f"{ep.script.slug}-b.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(ep.audio),
                        "-af", "volume=0.95", str(quieter)], check=True)
        out.append((ep.script, ep.truth, quieter.name))
    return Site(media, out)


def run_batch_measured(site: Site, workdir: Path, workers: int, diarize: bool, pyproject: Path) -> dict[str, Any]:
    """One batch over `site` in a fresh process and a fresh transcripts folder."""
    episodes = workdir / f"episodes-{workers}"
    with serve(site.media) as base:
        for i, (script, truth, name) in enumerate(site.episodes):
            synth.write_episode_file(script, truth, f"{base}/{name}", episodes / f"ep-{i}" / "index.md")
        result = run_worker({"stage": "batch", "episodes": str(episodes), "workers": workers,
                             "transcripts": str(workdir / f"transcripts-{workers}"), "diarize": diarize,
                             "pyproject": str(pyproject.resolve())})
    if result["errors"]:
        raise RuntimeError(f"batch with {workers} workers: {result['errors'][0]}")
    return result


def throughput(cache_dir: Path, diarize: bool, pyproject: Path, workers: tuple[int, ...] = WORKERS) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="throughput-", dir=cache_dir) as tmp:
        site = throughput_site(cache_dir, Path(tmp))
        for n in workers:
            print(f"throughput: {len(site.episodes)} episodes, --workers {n}...", flush=True)
            r = run_batch_measured(site, Path(tmp), n, diarize, pyproject)
            rows.append({"workers": n, "episodes": len(site.episodes), "audio_seconds": round(r["audio_seconds"], 1),
                         "seconds": round(r["seconds"], 1),
                         "audio_hours_per_hour": round(r["audio_seconds"] / r["seconds"], 1),
                         "peak_rss_mb": round(r["peak_rss_mb"])})
    base = rows[0]["audio_hours_per_hour"] if rows else None
    for row in rows:
        row["speedup"] = round(row["audio_hours_per_hour"] / base, 2) if base else None
    return rows


def whole_run(ep: BenchEpisode, label: str, workdir: Path, diarize: bool, pyproject: Path) -> dict[str, Any]:
    """Peak RSS and wall time of one episode through the whole batch in a fresh process."""
    media = workdir / "whole-media"
    media.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ep.audio, media / "episode.mp3")
    site = Site(media, [(ep.script, ep.truth, "episode.mp3")])
    print(f"  {label}: whole run (download to write-back, one process)...", flush=True)
    r = run_batch_measured(site, workdir / "whole", 1, diarize, pyproject)
    return {"episode": label, "audio_seconds": round(r["audio_seconds"], 1), "seconds": round(r["seconds"], 1),
            "peak_rss_mb": round(r["peak_rss_mb"])}


def print_scaling(result: dict[str, Any]) -> None:
    from .evaluate import table

    if result.get("throughput"):
        print("\nthroughput, the whole batch (4 episodes, model load included):\n")
        print(table([[str(r["workers"]), f"{r['audio_seconds'] / 60:.1f}", f"{r['seconds']:.1f}",
                      f"{r['audio_hours_per_hour']:.1f}", f"{r['speedup']:.2f}x", str(r["peak_rss_mb"])]
                     for r in result["throughput"]],
                    ("workers", "audio min", "wall s", "audio h / wall h", "vs 1", "peak RSS MB")))
    if result.get("whole_runs"):
        print("\npeak RSS of a whole run (one process, download to write-back):\n")
        print(table([[r["episode"], f"{r['audio_seconds'] / 60:.1f}", f"{r['seconds']:.1f}", str(r["peak_rss_mb"])]
                     for r in result["whole_runs"]], ("episode", "audio min", "wall s", "peak RSS MB")))
