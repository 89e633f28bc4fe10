"""Several episodes at once (--workers), split into shards (--shard), and on a local Ray cluster
(--executor ray): each must write exactly the bytes a serial run writes.

Real parts: espeak-ng audio served over 127.0.0.1, real files, real ffmpeg. The fast tier uses
the fake engine and diarizer (tests/fakes.py); the `model` tier runs the bundled tiny.en and the
real speaker stage, serially, on two workers and on a real local Ray cluster (`ray.init(num_cpus=2)`),
whose worker processes never see the fakes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

import fakes
from pipeline import config, executors, run
from pipeline.errors import ConfigError
from pipeline.lab import synth
from pipeline.lab.serve import serve

FAKE = {"engine": fakes.NAME, "diarizer": fakes.NAME}

SCRIPTS = ("demo", "eval_quick")


# ---- the split ------------------------------------------------------------------------------

def _episode(slug: str):
    from pipeline.models import Episode

    return Episode(Path(f"{slug}.md"), slug, slug, "", None, {}, "", (), (), "pending", "")


def test_shards_are_disjoint_cover_everything_and_do_not_depend_on_the_others():
    eps = [_episode(f"ep-{i:03d}") for i in range(400)]
    parts = [executors.shard(eps, f"{k}/4") for k in range(1, 5)]
    slugs = [[e.slug for e in part] for part in parts]
    assert sorted(s for part in slugs for s in part) == sorted(e.slug for e in eps)
    assert all(80 <= len(p) <= 120 for p in parts), [len(p) for p in parts]
    # Half of them done: what is left of shard 2 is still exactly shard 2's.
    rest = executors.shard(eps[::2], "2/4")
    assert [e.slug for e in rest] == [s for s in slugs[1] if s in {e.slug for e in eps[::2]}]
    assert executors.shard(eps, None) == eps


@pytest.mark.parametrize("bad", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="shard"):
        config.build({"shard": bad})


def test_settings_reach_the_executor_options():
    s = config.build({"executor": "ray", "workers": 3, "ray_address": "local", "shard": "1/2"})
    assert s.executor == executors.Options("ray", 3, "1/2", "local")
    with pytest.raises(ConfigError, match="executor"):
        config.build({"executor": "slurm"})
    with pytest.raises(ConfigError, match="workers"):
        config.build({"workers": 0})


def test_threads_are_divided_between_workers(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    s = run.divided(config.build({}), 4)
    assert (s.transcribe.threads, s.transcribe.concurrency) == (2, 4)
    s = run.divided(config.build({"threads": 3}), 4)
    assert s.transcribe.threads == 3  # a setting the user chose stays


# ---- the same bytes whatever ran the work ---------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """Four episode files over a local server: two voices, three, one shifted, one broken URL."""
    root = tmp_path_factory.mktemp("site")
    media = root / "media"
    made = {}
    for name in SCRIPTS:
        script = synth.load_script(name)
        made[name] = (script, synth.synthesize(script, media / f"{name}.mp3"))
        fakes.remember(media / f"{name}.mp3", made[name][1])
    with serve(media) as base:
        episodes = root / "episodes"
        script, truth = made["demo"]
        synth.write_episode_file(script, truth, f"{base}/demo.mp3", episodes / "a-demo" / "index.md")
        script, truth = made["eval_quick"]
        synth.write_episode_file(script, truth, f"{base}/eval_quick.mp3", episodes / "b-quick" / "index.md")
        script, truth = made["demo"]
        synth.write_episode_file(script, truth, f"{base}/demo.mp3", episodes / "c-shifted.md", shift=2.0)
        synth.write_episode_file(script, truth, f"{base}/missing.mp3", episodes / "d-broken.md")
        yield root


def _settings(workdir: Path, **values) -> config.Settings:
    return config.build({"episodes_dir": workdir / "episodes", "transcripts_dir": workdir / "out",
                         **values})


def _copy_site(site: Path, dest: Path) -> Path:
    shutil.copytree(site / "episodes", dest / "episodes")
    return dest


def _written(workdir: Path) -> dict[str, bytes]:
    """Every episode file and draft, with the one line that is a wall-clock time taken out."""
    out = {}
    drafts = [p for p in sorted((workdir / "out").glob("*/*"))
              if p.parent.name not in ("audio", "cache") and p.is_file()]
    for path in sorted((workdir / "episodes").rglob("*.md")) + drafts:
        data = path.read_bytes()
        if path.suffix == ".md":
            data = re.sub(rb"\ngenerated = [^\n]*", b"", data)
        out[str(path.relative_to(workdir))] = data
    return out


def _run(workdir: Path, **values) -> run.Report:
    settings = _settings(workdir, **values)
    return run.run_batch([settings.episodes_dir], settings)


@pytest.fixture(scope="module")
def serial(site: Path, tmp_path_factory: pytest.TempPathFactory):
    workdir = _copy_site(site, tmp_path_factory.mktemp("serial"))
    return workdir, _run(workdir, **FAKE)


@pytest.fixture(scope="module")
def serial_real(site: Path, tmp_path_factory: pytest.TempPathFactory):
    workdir = _copy_site(site, tmp_path_factory.mktemp("serial-real"))
    return workdir, _run(workdir)


def _check_same_as_serial(serial, workdir: Path, report: run.Report) -> None:
    serial_dir, serial_report = serial
    expected = _written(serial_dir)
    assert sum(1 for k in expected if k.startswith("out/")) >= 3 * 6  # three episodes' drafts
    assert _written(workdir) == expected

    def states(report: run.Report, where: Path) -> list[tuple]:
        return [(o.slug, o.state, (o.error or "").replace(str(where), "WORKDIR")) for o in report.outcomes]

    assert states(report, workdir) == states(serial_report, serial_dir)


def test_serial_run_transcribes_three_and_fails_the_broken_one(serial):
    _, report = serial
    states = {o.slug: o.state for o in report.outcomes}
    assert states == {"a-demo": "written", "b-quick": "written", "c-shifted": "written",
                      "d-broken": "failed"}
    assert "missing.mp3" in next(o.error for o in report.outcomes if o.slug == "d-broken")


def test_two_workers_write_the_same_bytes_as_a_serial_run(site, serial, tmp_path):
    workdir = _copy_site(site, tmp_path)
    report = _run(workdir, workers=2, **FAKE)
    _check_same_as_serial(serial, workdir, report)


def test_shards_together_write_the_same_bytes_as_a_serial_run(site, serial, tmp_path):
    workdir = _copy_site(site, tmp_path)
    first = _run(workdir, shard="1/2", **FAKE)
    second = _run(workdir, shard="2/2", **FAKE)
    assert first.outcomes and second.outcomes
    done = [o.slug for o in first.outcomes + second.outcomes]
    assert sorted(done) == ["a-demo", "b-quick", "c-shifted", "d-broken"]
    serial_dir, _ = serial
    assert _written(workdir) == _written(serial_dir)


@pytest.mark.model
def test_two_workers_with_the_real_model_write_the_same_bytes(site, serial_real, tmp_path):
    workdir = _copy_site(site, tmp_path)
    report = _run(workdir, workers=2)
    _check_same_as_serial(serial_real, workdir, report)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.model
def test_ray_writes_the_same_bytes_as_a_serial_run(ray_cluster, site, serial_real, tmp_path):
    workdir = _copy_site(site, tmp_path)
    report = _run(workdir, executor="ray", cpus_per_task=1)
    _check_same_as_serial(serial_real, workdir, report)
    assert (workdir / "out" / "report.json").is_file()
    # Run again, as after a killed driver: nothing is left but the broken one, which fails again.
    again = _run(workdir, executor="ray", cpus_per_task=1)
    assert [(o.slug, o.state) for o in again.outcomes] == [("d-broken", "failed")]


def test_ray_retries_a_lost_worker(ray_cluster, tmp_path):
    """A worker that dies mid-episode is Ray's to retry; the driver sees the second try's result."""
    from pipeline import ray_executor

    marker = tmp_path / "died-once"

    def crash_once(episode, settings):
        import os

        if not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the whole worker process goes, as when a node is lost
        return executors.Result(None, f"{episode.slug}: second try ran", 0.0)

    results = {}
    settings = replace(_settings(tmp_path), executor=executors.Options("ray", cpus_per_task=1))
    ray_executor.run([_episode("x")], settings, crash_once, lambda i, r: results.__setitem__(i, r))
    assert marker.exists() and results[0].error == "x: second try ran"
