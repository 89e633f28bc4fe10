"""The scheduled workflow (.github/workflows/transcribe.yml): it parses, asks for what it should,
and its shell steps pass as an unprivileged user on this machine with only ffmpeg installed.

The steps run in a copy of the repository owned by `nobody`, with a PATH that has every
program of this machine except espeak-ng and Chromium, and a local HTTP server holding a
synthesized episode. What is not run: the `uses:` actions (GitHub's), and the package
installation inside `make transcribe`, which needs the network: its stamp is set over a venv
that sees the packages the test suite runs with, so `make transcribe` runs everything after it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from pipeline.lab import synth
from pipeline.lab.serve import serve

WORKFLOW = REPO / ".github" / "workflows" / "transcribe.yml"
HIDDEN = {"espeak-ng", "espeak", "chromium", "chromium-browser", "chromedriver", "google-chrome"}
NOBODY = 65534


def load() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads a bare `on` as true
    return data


def test_workflow_parses_and_asks_for_what_a_scheduled_run_needs() -> None:
    data = load()
    assert data["on"]["schedule"][0]["cron"] and "workflow_dispatch" in data["on"]
    assert data["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert data["env"]["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    job = data["jobs"]["transcribe"]
    steps = job["steps"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["actions/cache"]["with"]["path"] == "transcripts/audio"
    assert uses["actions/upload-artifact"]["with"]["path"] == "transcripts/*/review.html"
    pr = uses["peter-evans/create-pull-request"]["with"]
    assert pr["body-path"].endswith("pr-body.md")
    assert "transcripts/*/words.tsv" in pr["add-paths"].split()
    runs = [s["run"] for s in steps if "run" in s]
    assert any("make transcribe" in r for r in runs)
    # Only the ffmpeg step may use sudo, and only when ffmpeg is missing.
    for r in runs:
        if "sudo" in r:
            assert r.startswith("command -v ffmpeg >/dev/null ||"), r


def _base_python() -> str:
    """An interpreter of this version that `nobody` may run (a pyenv under /root is not one)."""
    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (getattr(sys, "_base_executable", ""), f"/usr/bin/python{want}", "/usr/local/bin/python" + want):
        if candidate and Path(candidate).exists():
            # through a shell: setpriv itself may still pass a folder the user cannot enter
            proc = _as_nobody(["/bin/sh", "-c", f"exec {candidate} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"],
                              env={"PATH": "/usr/bin:/bin"}, cwd="/")
            if proc.returncode == 0 and proc.stdout.strip() == want:
                return candidate
    pytest.fail(f"no Python {want} that an unprivileged user can run (install python{want})")


def _as_nobody(cmd: list[str], env: dict[str, str], cwd: str | Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def runner() -> Iterator[Path]:
    """A world-readable scratch folder, owned by `nobody` (pytest's own tmp is root-only)."""
    root = Path(tempfile.mkdtemp(prefix="workflow-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _checkout(root: Path, base: str) -> Path:
    """What actions/checkout leaves: the repository's files; the episodes, a synthesized one."""
    repo = root / "repo"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file() and not name.startswith("episodes/"):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    script = synth.load_script("demo")
    truth = synth.synthesize(script, root / "media" / f"{script.slug}.mp3")
    synth.write_episode_file(script, truth, f"{base}/{script.slug}.mp3", repo / "episodes" / script.slug / "index.md")
    return repo


def _venv(repo: Path, python: str) -> None:
    """A venv that sees this test run's packages; `make transcribe`'s install stamp set on it."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    purelib = subprocess.run([str(repo / ".venv" / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "shared-test-packages.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in shared) + "\n")
    (repo / ".venv" / ".runtime").touch()


def _path_without_espeak_and_chromium(root: Path) -> str:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            if entry.name not in HIDDEN and not (bin_dir / entry.name).exists():
                (bin_dir / entry.name).symlink_to(entry)
    return str(bin_dir)


@pytest.mark.model  # `make transcribe` really transcribes, in a subprocess
def test_workflow_steps_pass_as_an_unprivileged_user_with_only_ffmpeg(runner: Path) -> None:
    python = _base_python()
    with serve(runner / "media") as base:
        (runner / "media").mkdir(exist_ok=True)
        repo = _checkout(runner, base)
        _venv(repo, python)
        path = _path_without_espeak_and_chromium(runner)
        for folder in ("home", "runner-temp"):
            (runner / folder).mkdir()
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(runner)], check=os.geteuid() == 0)
        data = load()
        env = {"PATH": path, "HOME": str(runner / "home"), "RUNNER_TEMP": str(runner / "runner-temp"),
               "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true", "PYTHONPATH": str(repo),
               **{k: str(v) for k, v in data["env"].items()}}

        # The machine really lacks what only demo and tests need: the full check names them.
        proc = _as_nobody(["make", "-o", ".venv/.installed", "sysdeps"], env, repo)
        assert proc.returncode != 0 and "espeak-ng" in proc.stdout and "chromium" in proc.stdout, proc.stdout

        for step in data["jobs"]["transcribe"]["steps"]:
            if "run" not in step:
                continue
            proc = _as_nobody(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env, repo)
            assert proc.returncode == 0, f"step {step.get('name')!r} failed:\n{proc.stdout}\n{proc.stderr}"
            assert "::warning::" not in proc.stdout, proc.stdout + proc.stderr

    slug = synth.load_script("demo").slug
    text = (repo / "episodes" / slug / "index.md").read_text()
    assert "[extra.transcript]" in text and "coming soon" not in text.split("## Transcript", 1)[1]
    out = repo / "transcripts" / slug
    for name in ("words.tsv", "transcript.vtt", "transcript.json", "chapters.json", "review.html"):
        assert (out / name).stat().st_uid == (NOBODY if os.geteuid() == 0 else os.geteuid()), name
    assert f'src="{base}/{slug}.mp3"' in (out / "review.html").read_text()  # --remote-audio
    body = (runner / "runner-temp" / "pr-body.md").read_text()
    assert f"**{slug}**" in body and ("to check" in body or "nothing flagged" in body), body
