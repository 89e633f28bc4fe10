"""The engines: real inference with the bundled tiny.en, and the CTranslate2 -> openai-whisper
conversion proven by both engines hearing the same words."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path

import pytest

from pipeline import audio
from pipeline.engines import base, ct2_to_whisper
from pipeline.models import Segment, Word
from pipeline.engines import ENGINES, Options


def norm_words(words) -> list[str]:
    return [re.sub(r"[^\w']", "", w.text.lower()) for w in words if re.sub(r"[^\w']", "", w.text)]


def assert_word_times_sane(transcript) -> None:
    words = transcript.words
    assert words
    for prev, word in zip(words, words[1:]):
        assert prev.start <= word.start and prev.end <= word.end, (prev, word)
    for word in words:
        assert 0.0 <= word.start <= word.end <= transcript.duration, word


@pytest.fixture(scope="module")
def prepared(shared_audio, tmp_path_factory) -> dict[str, audio.Prepared]:
    cache = tmp_path_factory.mktemp("wav")
    names = ("jfk.flac", "lhotse_ami_ES2011a_headset0_40-46s.wav")
    return {name: audio.prepare(shared_audio / name, cache) for name in names}


@pytest.fixture(scope="module")
def faster():
    # sequential decoding, as openai-whisper does: the comparison is of weights, not of chunking
    return ENGINES["faster-whisper"](Options(engine="faster-whisper", batch_size=0))  # in-process: inspected


@pytest.fixture(scope="module")
def reference():
    return ENGINES["openai-whisper"](Options(engine="openai-whisper"))


@pytest.fixture(scope="module")
def ct2_tensors(bundled_model: Path):
    return ct2_to_whisper.read_ct2(bundled_model / "model.bin")


@pytest.mark.model
def test_reads_ct2_model_bin_as_named_float16_tensors(ct2_tensors):
    assert ct2_tensors["decoder/embeddings/weight"].shape == (51864, 384)
    assert ct2_tensors["decoder/embeddings/weight"].dtype.name == "float16"
    assert ct2_tensors["encoder/conv1/weight"].shape == (384, 80, 3)
    assert ct2_tensors["encoder/layer_3/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    # the output projection is stored as an alias of the token embedding (tied weights)
    assert ct2_tensors["decoder/projection/weight"] is ct2_tensors["decoder/embeddings/weight"]
    assert int(ct2_tensors["decoder/num_heads"]) == 6


@pytest.mark.model
def test_conversion_fills_every_openai_whisper_parameter(ct2_tensors):
    import torch
    from whisper.model import ModelDimensions, Whisper

    checkpoint = ct2_to_whisper.convert(ct2_tensors)
    assert checkpoint["dims"] == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
        "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4,
    }
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)  # no missing, no extra keys
    # the fused q/k/v was split in the right order: the key bias CTranslate2 padded is zero
    fused = torch.from_numpy(ct2_tensors["decoder/layer_0/self_attention/linear_0/bias"].astype("float32"))
    assert torch.equal(fused[384:768], torch.zeros(384))
    assert torch.equal(model.decoder.blocks[0].attn.query.bias.detach(), fused[:384])
    assert torch.equal(model.decoder.blocks[0].attn.value.bias.detach(), fused[768:])


@pytest.mark.model
def test_converted_model_uses_openai_alignment_heads_for_tiny_en(reference, bundled_model):
    heads = reference.model.alignment_heads.to_dense().nonzero().tolist()
    config_heads = json.loads((bundled_model / "config.json").read_text())["alignment_heads"]
    assert heads == sorted(config_heads)  # openai's tiny.en heads; the CTranslate2 config agrees
    assert len(heads) == 8


@pytest.mark.model
def test_faster_whisper_hears_jfk(faster, prepared):
    p = prepared["jfk.flac"]
    t = faster.transcribe(p.path, p.duration, None)
    text = " ".join(norm_words(t.words))
    assert text == "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
    assert (t.engine, t.model, t.language) == ("faster-whisper", "tiny.en (bundled)", "en")
    assert_word_times_sane(t)
    americans = next(w for w in t.words if "Americans" in w.text)
    assert americans.start <= 1.8 <= americans.end  # as openai-whisper's own test checks


@pytest.mark.model
@pytest.mark.parametrize("clip", ["jfk.flac", "lhotse_ami_ES2011a_headset0_40-46s.wav"])
def test_both_engines_hear_the_same_words(faster, reference, prepared, clip):
    p = prepared[clip]
    fast = faster.transcribe(p.path, p.duration, None)
    ref = reference.transcribe(p.path, p.duration, None)
    assert (ref.engine, ref.model) == ("openai-whisper", "tiny.en (bundled)")
    assert_word_times_sane(ref)
    a, b = norm_words(fast.words), norm_words(ref.words)
    # int8 against fp32 on the same weights: a word or so may differ (one in ten), no more
    matcher = difflib.SequenceMatcher(None, a, b)
    differing = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")
    assert differing <= max(1, len(a) // 10), (a, b)
    # and the alignment heads carried over: where the words agree, so do their times
    pairs = [(x, y) for x, y in zip(fast.words, ref.words) if norm_words([x]) == norm_words([y])]
    assert len(pairs) >= 0.8 * len(a)
    offsets = sorted(abs(x.start - y.start) for x, y in pairs)
    assert offsets[len(offsets) // 2] <= 0.06 and offsets[-1] < 0.3, offsets


@pytest.mark.model
def test_progress_follows_the_audio_position(faster, prepared):
    p = prepared["jfk.flac"]
    seen: list[float] = []
    faster.transcribe(p.path, p.duration, None, seen.append)
    assert seen == sorted(seen) and seen[-1] == p.duration and len(seen) >= 2


def seg(start, end, text, words=None):
    words = words or [Word(start + i * 0.3, start + i * 0.3 + 0.25, f" {w}", 0.9)
                      for i, w in enumerate(text.split())]
    return Segment(start, end, text, -0.3, 0.01, tuple(words))


def test_drops_repetition_loops_and_repeated_segments():
    loop = seg(10, 20, "thank you thank you thank you thank you thank you")
    real = seg(0, 3, "we shipped it on Friday")
    tail = seg(3, 8, "and then it broke the the the the the badly all weekend long and more")
    out = base.clean_segments([real, loop, real, tail], duration=30)
    texts = [s.text for s in out]
    assert texts[0] == " we shipped it on Friday"
    assert all("thank" not in t for t in texts)  # a loop filling a segment is dropped
    assert texts.count(" we shipped it on Friday") == 1  # a repeated segment too
    assert texts[-1] == " and then it broke the badly all weekend long and more"  # a short loop collapses
    yeah = seg(30, 31, "Yeah.")
    assert len(base.clean_segments([yeah, dataclasses.replace(yeah, start=31, end=32)], 40)) == 2


def test_clamps_word_times_into_the_audio_and_keeps_them_in_order():
    words = [Word(-0.5, 0.2, " a", 1), Word(0.1, 0.4, " b", 1), Word(9.5, 11.0, " c", 1)]
    out = base.clean_segments([seg(0, 11, "a b c", words)], duration=10.0)
    got = [(w.start, w.end) for w in out[0].words]
    assert got == [(0.0, 0.2), (0.2, 0.4), (9.5, 10.0)]
    assert (out[0].start, out[0].end) == (0.0, 10.0)


def test_drops_segments_whose_text_is_too_repetitive():
    ok, bad = seg(0, 2, "hello there"), seg(2, 4, "la la la")
    out = base.clean_segments([ok, bad], 10, compression_ratios=[1.2, 3.1], max_compression_ratio=2.4)
    assert [s.text for s in out] == [" hello there"]


def test_bundled_name_resolves_offline_and_paths_are_kept(bundled_model):
    ref = base.resolve_model("tiny.en")
    assert ref.bundled and Path(ref.source) == bundled_model and ref.label == "tiny.en (bundled)"
    assert base.resolve_model(str(bundled_model)).label == str(bundled_model.resolve())
    assert base.resolve_model("small.en").source == "small.en"  # left to faster-whisper's hub


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("base-models")  # base joined, then converted, once per run


@pytest.mark.model
@pytest.mark.shared
def test_openai_whisper_runs_offline_on_the_converted_base_weights(shared_audio, audio_manifest, base_cache,
                                                                    prepared, capfd):
    from pipeline.lab.evaluate import wer
    from pipeline.text import normalize

    clip = "jfk.flac"
    p = prepared[clip]
    reference_text = next(c["reference_text"] for c in audio_manifest["clips"] if c["file"] == clip)
    ref = ENGINES["openai-whisper"](Options(engine="openai-whisper", model="base"), base_cache)
    done: list[float] = []
    t = ref.transcribe(p.path, p.duration, None, progress=done.append)
    assert (t.engine, t.language) == ("openai-whisper", "en") and t.model.startswith("base")
    assert done and "Detected language" not in capfd.readouterr().out  # the language is detected quietly
    assert_word_times_sane(t)
    heard = norm_words(t.words)
    assert wer(normalize(reference_text).split(), heard) <= 0.05, heard
    # the same weights in CTranslate2 (int8, sequential) hear about the same words
    fast = ENGINES["faster-whisper"](Options(engine="faster-whisper", model="base", batch_size=0), base_cache)
    a = norm_words(fast.transcribe(p.path, p.duration, None).words)
    matcher = difflib.SequenceMatcher(None, a, heard)
    differing = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")
    assert differing <= max(1, len(a) // 10), (a, heard)
