"""`make bench`: wall time, real-time factor and peak memory of every stage, per engine.

Long episodes (10 and 60 minutes by default) are synthesized once by looping the evaluation
scripts (`pipeline/lab/episode_scripts/eval_*.toml`) and cached in `.bench/`; synthesis is not timed.
Every measurement runs its stage alone in a fresh subprocess (`--worker`), so one stage's
memory never counts against another: peak RSS is that process's own high-water mark (VmHWM),
or that of a child it ran (ffmpeg), whichever is larger; "tree MB" is the largest sum of
resident memory over the worker and every process under it (the engine's watchdog child,
ffmpeg), sampled every 50 ms (treerss.py). Whole runs and the throughput batches report the
tree's figure: a run's engine process holds its model while the driver labels speakers. The
interpreter and the pipeline's imports are included, and the `baseline` row shows how much that is.
The timed span is the stage's own work inside the worker, model loading included; for
transcription the model load is also shown on its own.

Stages: download (over loopback from a local HTTP server), decode (audio.prepare: ffmpeg to
16 kHz mono), transcribe per engine (on the decoded wav), speakers (diarization), align (align,
render and sidecar files) and writeback (the episode file). The engine ratio compares the
transcription time without the model load, same weights (the bundled tiny.en; openai-whisper
runs the same weights converted from CTranslate2), same beam, VAD and word timestamps.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import synth
from .evaluate import build_set, machine, normalize, table, word_errors
from .serve import serve
from .treerss import TreeSampler, descendants, status_kb

log = logging.getLogger("pipeline.bench")

SOURCE_SCRIPTS = ("eval_rust_at_sentry", "eval_database_panel")
QUICK_SCRIPT = "eval_quick"
ENGINES = ("faster-whisper", "openai-whisper")
CHEAP_REPEATS = 3  # cheap stages always get at least this many runs
# The folder holding the `pipeline` package: workers import the same code as the parent.
_IMPORT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BenchOptions:
    """What `python -m pipeline bench` was asked for; None means the project's setting."""

    quick: bool = False
    minutes: tuple[float, ...] = (10, 60)
    engines: tuple[str, ...] = ()
    model: str | None = None
    beam_size: int | None = None
    batch_size: int | None = None
    repeats: int = 1
    openai_max_minutes: float = 10
    diarize: bool = True
    cache_dir: Path = Path(".bench")
    pyproject: Path = Path("pyproject.toml")
    throughput: bool = True  # the batch with --workers 1, 2, 4 (scaling.py, run by the command)
    whole_run: bool = False  # each episode's whole run in one batch, its process tree's peak RSS
    curve: bool = False  # 10, 30, 60 and 120 minutes, faster-whisper, whole runs included


# ---- the episodes -------------------------------------------------------------------------

def looped_script(minutes: float, cache_dir: Path) -> synth.Script:
    """The evaluation scripts played round after round until `minutes` are filled.

    Chapter titles get the round number, so every show-notes timestamp stays unique.
    """
    eps = build_set(SOURCE_SCRIPTS, cache_dir / "parts")
    return synth.loop_scripts(
        [(ep.script, ep.truth) for ep in eps], minutes,
        title=f"A {minutes:g}-minute benchmark episode",
        description="Jeremy Jung, Armin Ronacher, Maren Ostrowski and Dana Whitfield on Rust at Sentry, "
                    "Symbolicator, Postgres, SQLite and Honeycomb.",
        slug=f"bench-{minutes:g}min",
    )


@dataclass(frozen=True)
class BenchEpisode:
    script: synth.Script
    audio: Path
    truth: synth.Truth


def build_episode(minutes: float | None, cache_dir: Path) -> BenchEpisode:
    """A cached synthesized episode: `minutes` long, or the quick script when None."""
    from .evaluate import truth_from_dict, truth_to_dict

    if minutes is None:
        ep = build_set([QUICK_SCRIPT], cache_dir / "parts")[0]
        return BenchEpisode(ep.script, ep.audio, ep.truth)
    script = looped_script(minutes, cache_dir)
    audio = cache_dir / f"{script.slug}-{_stable_key(script)}.mp3"
    truth_file = audio.with_suffix(".truth.json")
    if audio.exists() and truth_file.exists():
        truth = truth_from_dict(json.loads(truth_file.read_text()))
    else:
        print(f"synthesizing the {minutes:g}-minute episode (once; cached in {cache_dir})...", flush=True)
        truth = synth.synthesize(script, audio)
        truth_file.write_text(json.dumps(truth_to_dict(truth)))
    return BenchEpisode(script, audio, truth)


def _stable_key(script: synth.Script) -> str:
    import hashlib

    blob = json.dumps([repr(script.parts), repr(sorted(script.speakers.items())),
                       Path(synth.__file__).read_text()])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# ---- one stage in a worker process --------------------------------------------------------

def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one stage as `spec` says; returns the timings. Runs inside the subprocess."""
    stage = spec["stage"]
    work = Path(spec["work"])
    result: dict[str, Any] = {}
    if stage == "batch":  # the whole run, as `make transcribe` does it
        return batch_worker(spec)
    started = time.perf_counter()
    if stage == "baseline":
        from .. import run  # noqa: F401 - every stage's imports, nothing else
    elif stage == "download":
        from .. import download

        with download.Downloader(download.Options(), work / "audio") as dl:
            got = dl.fetch(spec["url"], spec["slug"], progress=False)
        result["bytes"] = got.size
    elif stage == "decode":
        from .. import audio

        result["duration"] = audio.prepare(Path(spec["audio"]), _settings(work).workspace.cache_dir).duration
    elif stage == "transcribe":
        from .. import audio, engines, episodes, models, run

        # The shared folder holds the wav the decode stage made; its transcript cache is emptied
        # before every run, so this is never a cache hit.
        settings = _settings(Path(spec["workspace"]), transcribe=engines.Options(**spec["options"]))
        episode = episodes.load(Path(spec["episode"]), settings.episodes)
        engine = engines.get_engine(settings.transcribe, settings.workspace.cache_dir / "models")
        result["load_seconds"] = time.perf_counter() - started
        prepared = audio.prepare(Path(spec["audio"]), settings.workspace.cache_dir)
        t = run.transcribe_episode(episode, prepared, settings)
        result["transcribe_seconds"] = time.perf_counter() - started - result["load_seconds"]
        if hasattr(engine, "stop"):  # the model lives in the watchdog's child: reaped, its peak counts
            engine.stop()
        result["words"] = len(t.words)
        if spec.get("save"):
            Path(spec["save"]).write_text(json.dumps(models.transcript_to_dict(t)))
    elif stage == "speakers":
        from .. import audio, episodes, models, run

        # The wav from the shared folder; the speakers cache in this run's own, empty one.
        settings = _settings(work)
        t = models.transcript_from_dict(json.loads(Path(spec["transcript"]).read_text()))
        episode = episodes.load(Path(spec["episode"]), settings.episodes)
        prepared = audio.prepare(Path(spec["audio"]), _settings(Path(spec["workspace"])).workspace.cache_dir)
        started = time.perf_counter()  # the decode is the decode stage's, already in the cache
        out = run.label_speakers(episode, t, prepared, settings)
        result["speakers"] = len({w.speaker for w in out.words})
        Path(spec["save"]).write_text(json.dumps(models.transcript_to_dict(out)))
    elif stage == "align":
        from .. import episodes, models, run

        settings = _settings(work / "out")
        t = models.transcript_from_dict(json.loads(Path(spec["transcript"]).read_text()))
        episode = episodes.load(Path(spec["episode"]), settings.episodes)
        started = time.perf_counter()
        alignment, body = run.lay_out(episode, t, settings)
        run.save_drafts(episode, t, alignment, body, settings.workspace)
        (work / "body.md").write_text(body)
        result["paragraphs"] = sum(len(s.paragraphs) for s in alignment.sections)
    elif stage == "writeback":
        from .. import episodes, run

        settings = _settings(work)
        path = work / "index.md"
        shutil.copyfile(spec["episode"], path)
        episode = episodes.load(path, settings.episodes)
        body = Path(spec["body"]).read_text()
        started = time.perf_counter()
        outcome = run.write_back(episode, body, 0.0, "0" * 64, settings)
        result["action"] = outcome.action
    else:
        raise ValueError(f"unknown stage {stage!r}")
    result["seconds"] = time.perf_counter() - started
    return result


def _settings(transcripts_dir: Path, **stages: Any) -> Any:
    """Default settings with this worker's transcripts folder (transcription gets the project's)."""
    from .. import config

    return replace(config.Settings(transcripts_dir=transcripts_dir), **stages)


def peak_rss_mb() -> float:
    """This process's peak RSS, and that of any child it waited for (ffmpeg), in MiB.

    VmHWM belongs to the memory map that exec created, so it is this program's own peak. The
    parent's `ru_maxrss` for the child would not do: Linux carries the forking process's
    high-water mark across exec, so every worker would inherit the parent's model.
    """
    import resource

    own = own_hwm_mb()
    if not own:  # not Linux: the best we have
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def own_hwm_mb() -> float:
    """This process's own VmHWM in MiB (0 where /proc has none)."""
    return status_kb(os.getpid())[1] / 1024


def run_worker(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """`spec` in a fresh interpreter; its result, with the worker's own peak RSS and that of its
    whole process tree (treerss: the engine's child process, ffmpeg) sampled while it ran."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        spec = {**spec, "work": spec.get("work") or tmp}
        spec_file = Path(tmp) / "spec.json"
        out_file = Path(tmp) / "result.json"
        spec_file.write_text(json.dumps({**spec, "out": str(out_file)}))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(_IMPORT_ROOT), os.environ.get("PYTHONPATH")) if p)}
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "pipeline.lab.bench", str(spec_file)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            with TreeSampler(proc.pid) as tree:
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    for pid in reversed(descendants(proc.pid)):
                        _kill(pid)
                    proc.wait()
                    raise TimeoutError(f"stage {spec['stage']} ran past {timeout:.0f} s") from None
            if proc.returncode != 0 or not out_file.exists():
                stderr.seek(0)
                tail = "\n".join(stderr.read().decode(errors="replace").strip().splitlines()[-5:])
                raise RuntimeError(f"stage {spec['stage']} failed (exit {proc.returncode}): {tail}")
        result: dict[str, Any] = json.loads(out_file.read_text())
        # The worker's own last peak is in its result (it can grow after the last sample).
        own = max(tree.hwm_kb.pop(proc.pid, 0) / 1024, result.get("own_hwm_mb", 0.0))
        result["tree_peak_mb"] = max(tree.peak_mb, result["peak_rss_mb"])
        result["hwm_sum_mb"] = tree.hwm_sum_mb + own
        result["processes"] = tree.processes
        return result


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# ---- whole runs: the batch in one process ---------------------------------------------

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


def whole_run(ep: BenchEpisode, label: str, workdir: Path, diarize: bool, pyproject: Path) -> dict[str, Any]:
    """Peak RSS and wall time of one episode through the whole batch in a fresh process."""
    media = workdir / "whole-media"
    media.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ep.audio, media / "episode.mp3")
    site = Site(media, [(ep.script, ep.truth, "episode.mp3")])
    print(f"  {label}: whole run (download to write-back, one batch)...", flush=True)
    r = run_batch_measured(site, workdir / "whole", 1, diarize, pyproject)
    # The driver alone is not the run: the engine's process holds its model meanwhile.
    return {"episode": label, "audio_seconds": round(r["audio_seconds"], 1), "seconds": round(r["seconds"], 1),
            "peak_rss_mb": round(r["tree_peak_mb"]), "hwm_sum_mb": round(r["hwm_sum_mb"]),
            "driver_peak_rss_mb": round(r.get("own_hwm_mb") or r["peak_rss_mb"]), "processes": r["processes"]}


# ---- the benchmark ------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    episode: str
    audio_seconds: float
    stage: str
    engine: str
    runs: tuple[dict[str, Any], ...]

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    def summary(self) -> dict[str, Any]:
        seconds = self.median("seconds")
        out = {
            "episode": self.episode, "audio_seconds": round(self.audio_seconds, 1), "stage": self.stage,
            "engine": self.engine, "repeats": len(self.runs), "seconds": _r(seconds, 4),
            "rtf": _r(seconds / self.audio_seconds, 4) if seconds is not None and self.stage != "baseline" else None,
            "peak_rss_mb": _r(max(r["peak_rss_mb"] for r in self.runs), 0),
            "tree_peak_mb": _r(max(r["tree_peak_mb"] for r in self.runs), 0),
            "all_seconds": [_r(r["seconds"], 4) for r in self.runs],
        }
        if self.stage == "transcribe":
            out["load_seconds"] = _r(self.median("load_seconds"))
            out["transcribe_seconds"] = _r(self.median("transcribe_seconds"))
            out["words"] = self.runs[0].get("words")
            out["ref_words"] = self.runs[0].get("ref_words")
            out["wer"] = _r(self.runs[0].get("wer"), 4)
        return out


def _r(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


def transcribe_options(args: BenchOptions, engine: str) -> dict[str, Any]:
    from .. import config

    opts = config.load({"engine": engine, "model": args.model, "beam_size": args.beam_size,
                        "batch_size": args.batch_size}, pyproject=args.pyproject).transcribe
    from dataclasses import asdict

    return asdict(opts)


def bench_episode(ep: BenchEpisode, label: str, engines: Sequence[str], args: BenchOptions,
                  workdir: Path) -> list[Row]:
    rows: list[Row] = []
    duration = ep.truth.duration
    media = workdir / "media"
    media.mkdir(parents=True, exist_ok=True)
    name = f"{ep.script.slug}.mp3"
    shutil.copyfile(ep.audio, media / name)
    episode_file = workdir / "episodes" / ep.script.slug / "index.md"
    # The decoded wav in this folder's cache is reused by transcription and speakers.
    shared_cache = _settings(workdir).workspace.cache_dir

    def measure(stage: str, engine: str = "", repeats: int = 1, **spec: Any) -> Row:
        runs = []
        for i in range(repeats):
            print(f"  {label}: {stage}{' ' + engine if engine else ''} (run {i + 1} of {repeats})...", flush=True)
            runs.append(run_worker({"stage": stage, **spec}))
        row = Row(label, duration, stage, engine, tuple(runs))
        rows.append(row)
        return row

    cheap = 1 if args.quick else max(CHEAP_REPEATS, args.repeats)
    with serve(media) as base:
        url = f"{base}/{name}"
        synth.write_episode_file(ep.script, ep.truth, url, episode_file)
        measure("baseline", repeats=cheap)
        measure("download", repeats=cheap, url=url, slug=ep.script.slug)
    measure("decode", repeats=cheap, audio=str(ep.audio))
    # Transcription reads the decoded wav from this cache, as in a real run after `decode`.
    run_worker({"stage": "decode", "audio": str(ep.audio), "work": str(workdir)})
    saved = workdir / "transcript.json"  # the first engine's, for the later stages
    for engine in engines:
        if engine == "openai-whisper" and duration > args.openai_max_minutes * 60 + 30:
            print(f"  {label}: openai-whisper skipped (longer than --openai-max-minutes {args.openai_max_minutes:g})")
            continue
        opts = transcribe_options(args, engine)
        output = workdir / f"transcript-{engine}.json"
        runs = []
        for i in range(args.repeats):
            print(f"  {label}: transcribe {engine} (run {i + 1} of {args.repeats})...", flush=True)
            shutil.rmtree(shared_cache / "transcripts", ignore_errors=True)  # never a cache hit
            runs.append(run_worker({"stage": "transcribe", "options": opts, "episode": str(episode_file),
                                    "audio": str(ep.audio), "workspace": str(workdir), "save": str(output)}))
        # How right the timed run was: speed at the cost of dropped words would not be a win.
        words = [w["text"] for seg in json.loads(output.read_text())["segments"] for w in seg["words"]]
        ref = [t for line in ep.truth.lines for t in normalize(line.text)]
        errors = word_errors(ref, normalize(" ".join(words)))
        runs = [{**r, "wer": errors / len(ref), "ref_words": len(ref)} for r in runs]
        rows.append(Row(label, duration, "transcribe", engine, tuple(runs)))
        if not saved.exists():
            shutil.copyfile(output, saved)
    if not saved.exists():
        return rows
    labelled = workdir / "speakers.json"
    if args.diarize:
        measure("speakers", repeats=args.repeats, transcript=str(saved), episode=str(episode_file),
                audio=str(ep.audio), workspace=str(workdir), save=str(labelled))
    transcript = labelled if labelled.exists() else saved
    body_dir = workdir / "align"
    body_dir.mkdir(exist_ok=True)
    measure("align", repeats=cheap, transcript=str(transcript), episode=str(episode_file))
    run_worker({"stage": "align", "transcript": str(transcript), "episode": str(episode_file), "work": str(body_dir)})
    measure("writeback", repeats=cheap, episode=str(episode_file), body=str(body_dir / "body.md"))
    return rows


def ratios(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """openai-whisper time / faster-whisper time per episode, where both ran."""
    out = []
    for episode in dict.fromkeys(r.episode for r in rows):
        by_engine = {r.engine: r for r in rows if r.episode == episode and r.stage == "transcribe"}
        fw, ow = by_engine.get("faster-whisper"), by_engine.get("openai-whisper")
        if fw and ow:
            out.append({
                "episode": episode,
                "faster_whisper_seconds": _r(fw.median("transcribe_seconds")),
                "openai_whisper_seconds": _r(ow.median("transcribe_seconds")),
                "speedup": _r(ow.median("transcribe_seconds") / fw.median("transcribe_seconds"), 1),
                "speedup_with_load": _r(ow.median("seconds") / fw.median("seconds"), 1),
                "peak_rss_mb": {"faster-whisper": _r(max(r["peak_rss_mb"] for r in fw.runs), 0),
                                "openai-whisper": _r(max(r["peak_rss_mb"] for r in ow.runs), 0)},
            })
    return out


def speaker_shares(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """What diarization adds to faster-whisper's transcription, per episode (budget: 15%)."""
    out = []
    for episode in dict.fromkeys(r.episode for r in rows):
        fw = next((r for r in rows if r.episode == episode and r.stage == "transcribe"
                   and r.engine == "faster-whisper"), None)
        sp = next((r for r in rows if r.episode == episode and r.stage == "speakers"), None)
        if fw and sp:
            out.append({"episode": episode, "speakers_seconds": _r(sp.median("seconds")),
                        "transcribe_seconds": _r(fw.median("seconds")),
                        "share": _r(sp.median("seconds") / fw.median("seconds"), 3),
                        "speakers_peak_rss_mb": _r(max(r["peak_rss_mb"] for r in sp.runs), 0)})
    return out


BENCH_COLUMNS = ("episode", "stage", "engine", "runs", "wall s", "RTF", "peak RSS MB", "tree MB", "model load s",
                 "WER")


def print_results(result: dict[str, Any]) -> None:
    s, m = result["settings"], result["machine"]
    print(f"\nbench: model {s['model']}, beam {s['beam_size']}, batch {s['batch_size']}, VAD {s['vad']}; "
          f"{m['nproc']} x {m['cpu']}\n")
    rows = [[r["episode"], r["stage"], r["engine"] or "", str(r["repeats"]), f"{r['seconds']:.3f}",
             "-" if r["rtf"] is None else f"{r['rtf']:.4f}", f"{r['peak_rss_mb']:.0f}", f"{r['tree_peak_mb']:.0f}",
             f"{r['load_seconds']:.2f}" if r.get("load_seconds") is not None else "",
             f"{r['wer'] * 100:.1f}%" if r.get("wer") is not None else ""]
            for r in result["rows"]]
    print(table(rows, BENCH_COLUMNS))
    for q in result["ratios"]:
        print(f"\n{q['episode']}: openai-whisper / faster-whisper = {q['speedup']:.1f}x "
              f"({q['openai_whisper_seconds']:.1f} s / {q['faster_whisper_seconds']:.1f} s transcribing, "
              f"model load excluded; {q['speedup_with_load']:.1f}x with it)")
    if result.get("whole_runs"):
        print("\npeak RSS of a whole run (download to write-back; the driver, its engine process, ffmpeg):\n")
        print(table([[r["episode"], f"{r['audio_seconds'] / 60:.1f}", f"{r['seconds']:.1f}", str(r["peak_rss_mb"]),
                      str(r["hwm_sum_mb"]), str(r["driver_peak_rss_mb"]), str(r["processes"])]
                     for r in result["whole_runs"]],
                    ("episode", "audio min", "wall s", "peak RSS MB (sum over processes)",
                     "sum of each one's peak MB", "driver alone MB", "processes")))
    for q in result.get("speaker_shares", []):
        print(f"\n{q['episode']}: diarization adds {q['share']:.0%} to transcription "
              f"({q['speakers_seconds']:.1f} s / {q['transcribe_seconds']:.1f} s, each in its own process), "
              f"speakers stage peak RSS {q['speakers_peak_rss_mb']:.0f} MB")
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"\n{result['seconds']:.0f} s in all (synthesis included)")


def bench(args: BenchOptions) -> dict[str, Any]:
    started = time.monotonic()
    engines = tuple(dict.fromkeys(args.engines or (("faster-whisper",) if args.quick else ENGINES)))
    if args.quick:
        args = replace(args, repeats=1)
    if args.curve:
        args = replace(args, minutes=(10, 30, 60, 120), whole_run=True)
        engines = ("faster-whisper",)
    lengths: list[float | None] = [None] if args.quick else list(args.minutes)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    episodes = [(build_episode(m, args.cache_dir), "quick" if m is None else f"{m:g} min") for m in lengths]
    notes = []
    if "openai-whisper" in engines:
        longer = [label for ep, label in episodes if ep.truth.duration > args.openai_max_minutes * 60 + 30]
        if longer:
            notes.append(f"openai-whisper not run on {', '.join(longer)} (--openai-max-minutes "
                         f"{args.openai_max_minutes:g}): at its speed on a small CPU that alone would "
                         f"take longer than the whole benchmark is allowed")
    rows: list[Row] = []
    whole_runs = []
    for ep, label in episodes:
        print(f"{label}: {ep.truth.duration / 60:.1f} min of audio", flush=True)
        with tempfile.TemporaryDirectory(prefix="run-", dir=args.cache_dir) as tmp:
            rows += bench_episode(ep, label, engines, args, Path(tmp))
            if args.whole_run:
                whole_runs.append(whole_run(ep, label, Path(tmp), args.diarize, args.pyproject))
    opts = transcribe_options(args, engines[0])
    return {
        "machine": machine(),
        "settings": {k: opts[k] for k in ("model", "beam_size", "batch_size", "vad", "threads")}
                    | {"engines": list(engines), "repeats": args.repeats},
        "rows": [r.summary() for r in rows],
        "ratios": ratios(rows),
        "whole_runs": whole_runs,
        "speaker_shares": speaker_shares(rows),
        "notes": notes,
        "seconds": round(time.monotonic() - started, 1),
    }


def worker_main(spec_file: Path) -> None:
    """The worker process: one stage as the spec file says, its result beside it."""
    spec = json.loads(spec_file.read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = worker(spec)
    result["peak_rss_mb"] = peak_rss_mb()
    result["own_hwm_mb"] = own_hwm_mb()
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    worker_main(Path(sys.argv[1]))
