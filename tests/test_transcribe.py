"""transcribe(): the cache, the options recorded, and no words where nobody speaks.

Real inference with the bundled tiny.en (faster-whisper) on real and synthesized audio.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from pipeline import transcribe as tr
from pipeline.errors import AudioError, ConfigError
from pipeline.lab.synth import parse_script, synthesize

HOSTS = {"Ann": {"voice": "en-us+m3", "speed": 160}, "Bob": {"voice": "en-gb+f2", "speed": 170, "pitch": 60}}
WELCOME = {"speaker": "Ann", "text": "Welcome back to the show. Today we talk about databases."}
THANKS = {"speaker": "Bob", "text": "Thanks for having me, it is great to be here."}
BASICS = {"speaker": "Ann", "text": "Let us start with the basics of indexing."}


def synth(tmp_path_factory, name: str, parts: list[dict]):
    out = tmp_path_factory.mktemp("synth") / f"{name}.mp3"
    return out, synthesize(parse_script({"speakers": HOSTS, "parts": parts}), out)


class Counting:
    """Counts real calls into the engine the session already loaded."""

    def __init__(self, monkeypatch, options: tr.Options) -> None:
        self.calls = 0
        engine = tr.get_engine(options)
        real = engine.transcribe

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(engine, "transcribe", counted)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def jfk(shared_audio, cache):
    return tr.transcribe(shared_audio / "jfk.flac", tr.Options(), cache)


@pytest.mark.model
def test_transcript_records_engine_model_and_options(jfk):
    assert (jfk.engine, jfk.model, jfk.language) == ("faster-whisper", "tiny.en (bundled)", "en")
    assert jfk.options["beam_size"] == 5 and jfk.options["vad"] is True
    assert (jfk.options["device"], jfk.options["compute_type"]) == ("cpu", "int8")
    assert jfk.audio_sha256 == "63a4b1e4c1dc655ac70961ffbf518acd249df237e5a0152faae9a4a836949715"
    assert jfk.duration == pytest.approx(11.0)
    assert "ask not what your country can do for you" in "".join(w.text for w in jfk.words).lower()


@pytest.mark.model
def test_rerun_with_same_inputs_comes_from_the_cache(jfk, shared_audio, cache, monkeypatch):
    counter = Counting(monkeypatch, tr.Options())
    again = tr.transcribe(shared_audio / "jfk.flac", tr.Options(), cache)
    assert counter.calls == 0
    assert again == jfk
    # the caller may pass the hash it already has (the downloader's): same cache entry
    assert tr.transcribe(shared_audio / "jfk.flac", tr.Options(), cache, audio_sha256=jfk.audio_sha256) == jfk
    assert counter.calls == 0


@pytest.mark.model
def test_changed_model_transcribes_again(jfk, shared_audio, cache, bundled_model, monkeypatch):
    options = tr.Options(model=str(bundled_model))  # the same weights, named by path
    counter = Counting(monkeypatch, options)
    other = tr.transcribe(shared_audio / "jfk.flac", options, cache)
    assert counter.calls == 1
    assert other.model == str(bundled_model.resolve())
    assert [w.text for w in other.words] == [w.text for w in jfk.words]


def test_cache_key_follows_what_changes_the_result():
    base = tr.Options()
    key = tr.cache_key("abc", base, None)
    assert tr.cache_key("abc", dataclasses.replace(base, beam_size=1), None) != key
    assert tr.cache_key("abc", dataclasses.replace(base, engine="openai-whisper"), None) != key
    assert tr.cache_key("abc", base, "Ronacher, Actix.") != key
    assert tr.cache_key("abd", base, None) != key
    assert tr.cache_key("abc", dataclasses.replace(base, threads=7), None) == key


@pytest.mark.model
def test_no_prompt_is_built_when_vocabulary_is_off(jfk, shared_audio, cache, monkeypatch, tmp_path):
    from pipeline import audio, config, episodes, run

    page = tmp_path / "ep.md"
    page.write_text('+++\ntitle = "Kennedy"\n[extra]\nspeakers = ["John Kennedy"]\n+++\n'
                    "## Transcript\n\nTranscript for this episode is coming soon.\n")
    episode = episodes.load(page)
    on = config.build({"transcripts_dir": str(tmp_path / "out")})
    assert run.prompt_for(episode, on)[0] and "Kennedy" in run.prompt_for(episode, on)[0]
    off = config.build({"transcripts_dir": str(tmp_path / "out"), "vocabulary": False})
    assert run.prompt_for(episode, off) == (None, None)
    # No prompt means the same cache key as the plain transcription: no engine call.
    counter = Counting(monkeypatch, tr.Options())
    prepared = audio.prepare(shared_audio / "jfk.flac", cache)
    t = tr.transcribe(prepared, off.transcribe, cache, prompt=run.prompt_for(episode, off)[0])
    assert t.options["prompt"] is None and t == jfk and counter.calls == 0


@pytest.mark.model
def test_progress_is_logged_by_audio_position_without_a_terminal(shared_audio, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="pipeline.transcribe"):
        tr.transcribe(shared_audio / "ljspeech_LJ050-0131.wav", tr.Options(), tmp_path)
    lines = [r.getMessage() for r in caplog.records if "ETA" in r.getMessage()]
    assert lines and lines[-1].startswith("ljspeech_LJ050-0131.wav: 100%")


@pytest.mark.model
def test_no_words_during_music_before_speech(tmp_path_factory):
    path, truth = synth(tmp_path_factory, "music", [{"tones": 10.0}, WELCOME, THANKS])
    t = tr.transcribe(path, tr.Options(), tmp_path_factory.mktemp("c"))
    (start, end), = truth.music
    assert [w.text for w in t.words if w.end < end - 0.5] == []
    assert "databases" in "".join(w.text for w in t.words).lower()


@pytest.mark.model
def test_no_words_in_30_seconds_of_near_silence(tmp_path_factory):
    path, truth = synth(tmp_path_factory, "quiet", [WELCOME, {"silence": 30.0}, THANKS, BASICS])
    t = tr.transcribe(path, tr.Options(), tmp_path_factory.mktemp("c"),
                      prompt="Databases with Ann and Bob. Postgres, SQLite, B-tree.")
    (start, end), = truth.silence
    assert [w.text for w in t.words if start + 0.5 < w.start < end - 0.5] == []
    text = "".join(w.text for w in t.words).lower()
    assert "databases" in text and "indexing" in text


@pytest.mark.model
def test_music_only_is_an_audio_error_not_an_empty_transcript(tmp_path_factory):
    path, _ = synth(tmp_path_factory, "tones", [{"tones": 8.0}])
    with pytest.raises(AudioError, match=r"tones\.mp3: no speech found"):
        tr.transcribe(path, tr.Options(), tmp_path_factory.mktemp("c"))


def test_unknown_engine_is_a_config_error(shared_audio, tmp_path):
    with pytest.raises(ConfigError, match="whisper.cpp"):
        tr.transcribe(shared_audio / "jfk.flac", tr.Options(engine="whisper.cpp"), tmp_path)
