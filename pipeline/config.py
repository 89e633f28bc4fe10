"""Settings: one `Options` dataclass per stage, filled from `[tool.pipeline]` and flags.

Keys in `[tool.pipeline]` are flat (`model = "small.en"`, `heading_level = 3`): each names a
field of exactly one stage's `Options`, so users never need to know which stage owns it.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import align, download, engines, episodes, executors, flags, speakers, vocabulary, writeback
from .errors import ConfigError
from .workspace import Workspace

STAGES: dict[str, type] = {
    "episodes": episodes.Options,
    "download": download.Options,
    "vocabulary": vocabulary.Options,
    "transcribe": engines.Options,
    "speakers": speakers.Options,
    "align": align.Options,
    "writeback": writeback.Options,
    "flags": flags.Options,
    "executor": executors.Options,
}


@dataclass(frozen=True)
class Settings:
    episodes_dir: Path = Path("episodes")
    transcripts_dir: Path = Path("transcripts")
    episodes: episodes.Options = field(default_factory=episodes.Options)
    download: download.Options = field(default_factory=download.Options)
    vocabulary: vocabulary.Options = field(default_factory=vocabulary.Options)
    transcribe: engines.Options = field(default_factory=engines.Options)
    speakers: speakers.Options = field(default_factory=speakers.Options)
    align: align.Options = field(default_factory=align.Options)
    writeback: writeback.Options = field(default_factory=writeback.Options)
    flags: flags.Options = field(default_factory=flags.Options)
    executor: executors.Options = field(default_factory=executors.Options)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.transcripts_dir)


def _owners() -> dict[str, str]:
    owners: dict[str, str] = {}
    for stage, cls in STAGES.items():
        for f in dataclasses.fields(cls):
            if f.name in owners:
                raise AssertionError(f"option {f.name!r} is in both {owners[f.name]} and {stage}")
            owners[f.name] = stage
    return owners


def _coerce(cls: type, name: str, value: Any) -> Any:
    """TOML gives lists where our frozen options keep tuples, and str where we keep Path."""
    hint = typing.get_type_hints(cls)[name]
    args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    if isinstance(value, list):
        return tuple(value)
    if Path in args and isinstance(value, str):
        return Path(value)
    if float in args and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def read_pyproject(path: Path = Path("pyproject.toml")) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh).get("tool", {}).get("pipeline", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def build(values: dict[str, Any]) -> Settings:
    """Settings from flat key/values; unknown keys are an error, None means 'not given'."""
    owners = _owners()
    top: dict[str, Any] = {}
    per_stage: dict[str, dict[str, Any]] = {s: {} for s in STAGES}
    for key, value in values.items():
        if value is None:
            continue
        key = key.replace("-", "_")
        if key in ("episodes_dir", "transcripts_dir"):
            top[key] = Path(value)
        elif key in owners:
            stage = owners[key]
            per_stage[stage][key] = _coerce(STAGES[stage], key, value)
        else:
            raise ConfigError(f"unknown setting {key!r} (known: {', '.join(sorted(owners))})")
    try:
        stages = {s: STAGES[s](**kw) for s, kw in per_stage.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    return Settings(**top, **stages)


def load(overrides: dict[str, Any] | None = None, pyproject: Path = Path("pyproject.toml")) -> Settings:
    """pyproject's `[tool.pipeline]`, then `overrides` (command-line flags) on top."""
    values = dict(read_pyproject(pyproject))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build(values)
