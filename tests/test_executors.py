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


# ---- a killed Ray driver --------------------------------------------------------------------

def _session_members(sid: int) -> list[str]:
    """The processes still in session `sid` (the killed driver's): what its death left running."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            left.append(text[: text.rfind(")") + 1])
    return left


def _driver(workdir: Path, config_file: Path):
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    # Its own session: whatever the driver starts (Ray's GCS, raylet, workers, engine processes)
    # stays in it unless it leaves on purpose, so what outlives the driver can be found.
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "transcribe", "--executor", "ray", "--ray-address", "local",
         "--config", str(config_file), "--episodes-dir", "episodes", "--transcripts-dir", "out"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.model
def test_a_killed_ray_driver_leaves_no_partial_file_and_the_rerun_finishes_the_same(site, serial_real, tmp_path):
    """`transcribe --executor ray` in its own process, SIGKILLed once the first episode is
    written: no temp file or half-written episode, nothing of the run left running, the lock
    free; the rerun does the rest, and every file ends byte for byte as a serial run wrote it."""
    import fcntl
    import json
    import os
    import signal
    import threading
    import time

    pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")
    from pipeline.files import TEMP_NAME

    workdir = _copy_site(site, tmp_path)
    config_file = workdir / "settings.toml"
    config_file.write_text("cpus_per_task = 1\n")  # two episodes at once on the local cluster
    before = _written(workdir)
    driver = _driver(workdir, config_file)
    lines: list[str] = []
    written = threading.Event()

    def read() -> None:
        for line in driver.stdout:
            lines.append(line)
            if "transcript written" in line:
                written.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert written.wait(300), "no episode was written:\n" + "".join(lines[-30:])
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(30)
    reader.join(30)
    assert driver.returncode == -signal.SIGKILL

    # Ray's processes share the driver's fate. The raylet, the GCS and the workers (with their
    # engine processes) go within seconds; Ray's two agents notice the raylet's death after about
    # 10 s and then spend 60 s trying to report it to the dead GCS before they exit (Ray 2.60).
    deadline = time.monotonic() + 120
    while _session_members(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _session_members(driver.pid) == []

    temp = [p for p in workdir.rglob("*") if TEMP_NAME.match(p.name) or p.name.endswith(".partial.wav")]
    assert temp == []
    serial_dir, _ = serial_real
    expected = _written(serial_dir)
    now = _written(workdir)
    # Every episode file is as it was or as the serial run wrote it; so is every draft there is.
    assert all(now[k] in (before[k], expected[k]) for k in before), [k for k in before if now[k] != before[k]]
    assert all(now[k] == expected[k] for k in now if k not in before)
    done = {_slug(k) for k in before if now[k] != before[k]}
    assert done, "the log said an episode was written, but no episode file changed"
    lock = workdir / "out" / ".lock"
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it any more
        fcntl.flock(fh, fcntl.LOCK_UN)

    again = _driver(workdir, config_file)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 1, out  # the broken episode fails again
    assert "is held by process" not in out
    assert _written(workdir) == expected
    report = json.loads((workdir / "out" / "report.json").read_text())
    states = {o["slug"]: o["state"] for o in report["outcomes"]}
    # The rerun did what was left, and not what the killed run had finished.
    assert states == {slug: "written" for slug in {"a-demo", "b-quick", "c-shifted"} - done} | {"d-broken": "failed"}


def _slug(key: str) -> str:
    path = Path(key)
    return path.parent.name if path.name == "index.md" else path.stem
