"""`make bench`'s batch throughput for `--workers N`.

Throughput: four episodes (the two evaluation scripts, each also re-encoded 5% quieter so that
no cache is shared) go through the real batch (`run.run_batch`: download over loopback, decode,
transcribe, speakers, align, write back) in a fresh process with a fresh transcripts folder, once
per N. It is audio hours per wall hour, model loading included, as a scheduled run sees it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .bench import SOURCE_SCRIPTS, Site, run_batch_measured
from .evaluate import build_set

WORKERS = (1, 2, 4)


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
                         "peak_rss_mb": round(r["tree_peak_mb"])})  # the driver and its engine processes
    base = rows[0]["audio_hours_per_hour"] if rows else None
    for row in rows:
        row["speedup"] = round(row["audio_hours_per_hour"] / base, 2) if base else None
    return rows


def print_throughput(rows: list[dict[str, Any]]) -> None:
    from .evaluate import table

    print("\nthroughput, the whole batch (4 episodes, model load included):\n")
    print(table([[str(r["workers"]), f"{r['audio_seconds'] / 60:.1f}", f"{r['seconds']:.1f}",
                  f"{r['audio_hours_per_hour']:.1f}", f"{r['speedup']:.2f}x", str(r["peak_rss_mb"])]
                 for r in rows], ("workers", "audio min", "wall s", "audio h / wall h", "vs 1", "peak RSS MB")))
