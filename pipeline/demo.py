"""`make demo`: the whole pipeline, offline, on a synthesized two-voice episode."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import click

from . import run, summary
from .config import Settings
from .lab import synth
from .lab.serve import serve


def transcript_section(text: str) -> str:
    at = text.find("## Transcript")
    return text[at:] if at >= 0 else text


def run_demo(workdir: Path, settings: Settings, script_name: str = "demo") -> int:
    """Synthesize, serve, download, transcribe, align, write back, and show the result."""
    script = synth.load_script(script_name)
    if workdir.exists():
        shutil.rmtree(workdir)
    media = workdir / "media"
    click.echo(f"Synthesizing {script.title!r} with espeak-ng ({len(script.speakers)} voices)...")
    truth = synth.synthesize(script, media / f"{script.slug}.mp3")
    with serve(media) as base:
        url = f"{base}/{script.slug}.mp3"
        episode_file = synth.write_episode_file(
            script, truth, url, workdir / "episodes" / script.slug / "index.md")
        click.echo(f"Serving the audio at {url}; episode file {episode_file}")
        settings = replace(settings, episodes_dir=workdir / "episodes")
        report = run.run_batch([settings.episodes_dir], settings)
    summary.print_report(report, settings)
    click.echo("\n--- " + str(episode_file) + " (transcript section) ---\n")
    click.echo(transcript_section(episode_file.read_text(encoding="utf-8")))
    return 1 if report.failed else 0
