"""`make eval` and `make bench`: the metrics on known inputs, and a quick real run of each.

The quick runs use the real pipeline end to end (espeak-ng audio served over 127.0.0.1,
faster-whisper with the bundled tiny.en, diarization, write-back) on one 23-second episode.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from click.testing import CliRunner

from conftest import SHARED_AUDIO
from pipeline.lab import bench, evaluate, synth
from pipeline.lab.cli import bench_command, eval_command


# ---- the metrics ---------------------------------------------------------------------------

def test_word_error_rate_counts_substitutions_deletions_and_insertions() -> None:
    ref = evaluate.normalize("Welcome to the show, Armin!")
    assert evaluate.wer(ref, evaluate.normalize("welcome to the show armin")) == 0.0
    assert evaluate.word_errors(ref, evaluate.normalize("welcome to show armin")) == 1  # deletion
    assert evaluate.word_errors(ref, evaluate.normalize("welcome to a the show armin")) == 1  # insertion
    assert evaluate.word_errors(ref, evaluate.normalize("welcome two the show amin")) == 2  # substitutions
    assert evaluate.wer(ref, []) == 1.0
    assert evaluate.word_errors([], ["extra"]) == 1


def test_word_errors_agree_with_the_alignment_on_random_sentences() -> None:
    import random

    rng = random.Random(7)
    vocab = "a b c d e".split()
    for _ in range(200):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 10))]
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 10))]
        pairs = evaluate.align_tokens(ref, hyp)
        assert [a for a, _ in pairs if a is not None] == list(range(len(ref)))
        assert [b for _, b in pairs if b is not None] == list(range(len(hyp)))
        cost = sum(1 for a, b in pairs if a is None or b is None or ref[a] != hyp[b])
        assert cost == evaluate.word_errors(ref, hyp)


def test_alignment_pairs_every_word_in_order() -> None:
    pairs = evaluate.align_tokens("a b c d".split(), "a x c d e".split())
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 3), (None, 4)]


def test_published_paragraphs_are_read_with_their_chapter_heading() -> None:
    text = (
        "+++\ntitle = \"x\"\n+++\n\n## Links\n\n## Transcript\n\n<div class=\"transcript\">\n\n"
        "## Why Rust\n\n[00:01:05] **Jeremy Jung:** Vec&lt;T&gt; is \\*fast\\*. (_needs review_ 01:06)\n\n"
        "[01:00:00] More.\n\n</div>\n"
    )
    got = evaluate.read_published(text)
    assert got == [evaluate.Published("Why Rust", 65, "Vec<T> is *fast*."),
                   evaluate.Published("Why Rust", 3600, "More.")]


def test_speaker_labels_are_mapped_one_to_one() -> None:
    pairs = [("Ann", "s1"), ("Ann", "s1"), ("Bob", "s2"), ("Bob", "s1")]
    assert evaluate.best_mapping(pairs) == 3


@pytest.fixture(scope="module")
def quick_episode(tmp_path_factory: pytest.TempPathFactory) -> evaluate.EvalEpisode:
    return evaluate.build_set(["eval_quick"], tmp_path_factory.mktemp("set"))[0]


def _perfect_output(ep: evaluate.EvalEpisode) -> tuple[dict, str]:
    """What a flawless pipeline would write: truth words, truth times, truth chapters."""
    truth = ep.truth
    segments = [{"words": [{"text": " " + w, "start": line.start, "end": line.end, "speaker": line.speaker}
                           for w in line.text.split()]} for line in truth.lines]
    body = ["## Transcript", ""]
    chapter = None
    for line in truth.lines:
        title = evaluate.chapter_of(truth, line.start)
        if title != chapter:
            body += [f"## {title}", ""]
            chapter = title
        s = int(line.start)
        body += [f"[00:{s // 60:02d}:{s % 60:02d}] **{line.speaker}:** {line.text}", ""]
    return {"segments": segments}, "\n".join(body)


def test_a_perfect_transcript_scores_perfectly(quick_episode: evaluate.EvalEpisode) -> None:
    whisper, text = _perfect_output(quick_episode)
    d = evaluate.score_episode(quick_episode, whisper, text).summary()
    assert d["wer"] == 0.0
    assert d["chapter_accuracy"] == 1.0
    assert d["name_recall"] == 1.0 and d["names_total"] >= 4
    assert d["speaker_accuracy"] == 1.0 and d["speaker_labels"] == "names"
    assert d["timecode_p95_s"] < 1.0  # whole-second timecodes: truncation only
    assert d["words_in_music"] == 0 and d["words_in_silence"] == 0


def test_mistakes_lower_each_score(quick_episode: evaluate.EvalEpisode) -> None:
    whisper, text = _perfect_output(quick_episode)
    words = [w for s in whisper["segments"] for w in s["words"]]
    for w in words:
        if w["text"].strip(" .,?") == "Tokio":
            w["text"] = " Tokyo"
        w["speaker"] = "Speaker 1"
    music_start, music_end = quick_episode.truth.music[0]
    whisper["segments"].insert(0, {"words": [{"text": " Thank", "start": music_start + 1.5,
                                              "end": music_start + 2.0, "speaker": "Speaker 1"}]})
    late = text.replace("## What Tokio does", "")  # a chapter heading lost
    d = evaluate.score_episode(quick_episode, whisper, late).summary()
    assert 0 < d["wer"] < 0.2
    assert d["name_recall"] < 1.0 and any(m.startswith("Tokio->Tokyo") for m in d["names_missed"])
    assert d["speaker_labels"] == "mapped" and d["speaker_accuracy"] < 1.0
    assert d["chapter_accuracy"] < 1.0
    assert d["words_in_music"] == 1


# ---- quick real runs -----------------------------------------------------------------------

@pytest.mark.shared
@pytest.mark.model
@pytest.mark.lab
@pytest.mark.timeout(180)
def test_quick_eval_runs_the_pipeline_and_reports_sane_figures(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    run = CliRunner().invoke(eval_command, ["--quick", "--json", str(out), "--cache-dir", str(tmp_path / "cache"),
                                            "--shared-audio", str(SHARED_AUDIO)])
    printed = run.output
    assert run.exit_code == 0, printed
    for column in evaluate.EPISODE_COLUMNS:
        assert column in printed
    result = json.loads(out.read_text())
    (ep,) = result["episodes"]
    assert ep["episode"] == "eval-quick" and 20 < ep["audio_seconds"] < 30
    assert 0.0 <= ep["wer"] < 0.5
    assert ep["chapter_accuracy"] >= 0.8
    assert ep["paragraphs"] >= 1 and 0 <= ep["timecode_median_s"] <= 3.0
    assert ep["words_in_music"] <= 2
    assert 0.0 <= ep["name_recall"] <= 1.0 and ep["names_total"] >= 4
    assert 0.0 <= ep["speaker_accuracy"] <= 1.0
    (clip,) = result["real_clips"]
    assert clip["ref_words"] > 10 and 0.0 <= clip["wer"] < 0.5
    assert result["machine"]["nproc"] >= 1


@pytest.mark.model
@pytest.mark.lab
@pytest.mark.timeout(180)
def test_quick_bench_measures_every_stage_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = CliRunner().invoke(bench_command, ["--quick", "--json", str(out), "--cache-dir", str(tmp_path / "cache")])
    printed = run.output
    assert run.exit_code == 0, printed
    for column in bench.BENCH_COLUMNS:
        assert column in printed
    result = json.loads(out.read_text())
    rows = {(r["stage"], r["engine"]): r for r in result["rows"]}
    assert set(rows) == {("baseline", ""), ("download", ""), ("decode", ""), ("transcribe", "faster-whisper"),
                         ("speakers", ""), ("align", ""), ("writeback", "")}
    for r in result["rows"]:
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 10
        if r["stage"] != "baseline":
            assert 0 < r["rtf"] < 5
    tr = rows[("transcribe", "faster-whisper")]
    assert tr["words"] > 20 and 0 < tr["load_seconds"] < tr["seconds"]
    assert 0.0 <= tr["wer"] < 0.5 and tr["ref_words"] == 42
    # The model lives only in the transcription process: per-stage accounting, not a running max.
    assert tr["peak_rss_mb"] > rows[("baseline", "")]["peak_rss_mb"] + 50
    assert rows[("align", "")]["peak_rss_mb"] < tr["peak_rss_mb"]


@pytest.mark.lab
def test_long_episodes_loop_the_scripts_to_the_asked_length(tmp_path: Path) -> None:
    ep = bench.build_episode(5, tmp_path)  # the two source scripts are four minutes together
    assert 300 <= ep.truth.duration < 300 + 15
    titles = [title for title, _ in ep.truth.chapters]
    assert len(titles) == len(set(titles)) > 8  # every show-notes timestamp stays unique
    assert set(ep.script.speakers) == {n for name in bench.SOURCE_SCRIPTS
                                       for n in synth.load_script(name).speakers}
    assert bench.build_episode(5, tmp_path).audio == ep.audio  # synthesized once, then cached
