"""Settings: one `Options` dataclass per stage, filled from `[tool.pipeline]` and flags.

Keys in `[tool.pipeline]` are flat (`model = "small.en"`, `heading_level = 3`): each names a
field of exactly one stage's `Options`, so users never need to know which stage owns it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import (
    align,
    download,
    engines,
    episodes,
    executors,
    flags,
    formats,
    publish,
    render,
    speakers,
    vocabulary,
    writeback,
)
from .errors import ConfigError
from .files import read_toml
from .workspace import Workspace

STAGES: dict[str, type] = {
    "episodes": episodes.Options,
    "download": download.Options,
    "vocabulary": vocabulary.Options,
    "transcribe": engines.Options,
    "speakers": speakers.Options,
    "align": align.Options,
    "render": render.Options,
    "formats": formats.Options,
    "writeback": writeback.Options,
    "flags": flags.Options,
    "publish": publish.Options,
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
    render: render.Options = field(default_factory=render.Options)
    formats: formats.Options = field(default_factory=formats.Options)
    writeback: writeback.Options = field(default_factory=writeback.Options)
    flags: flags.Options = field(default_factory=flags.Options)
    publish: publish.Options = field(default_factory=publish.Options)
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


# A Zola site has no pyproject.toml: its settings live in a file of their own in the site root.
SITE_CONFIG = "podcast-transcripts.toml"
_UNREADABLE = "cannot read the settings file: "


def read_pyproject(path: Path = Path("pyproject.toml")) -> dict[str, Any]:
    if not path.exists():
        return {}
    table: dict[str, Any] = read_toml(path, unreadable=_UNREADABLE).get("tool", {}).get("pipeline", {})
    return table


def read_file(path: Path) -> dict[str, Any]:
    """`[tool.pipeline]` of any TOML file, or its top-level keys when it has no such table."""
    data = read_toml(path, unreadable=_UNREADABLE)
    table = data.get("tool", {}).get("pipeline") if isinstance(data.get("tool"), dict) else None
    if isinstance(table, dict):
        return table
    return {k: v for k, v in data.items() if k != "tool"}


def find_settings(config_file: Path | None = None, root: Path = Path(".")) -> dict[str, Any]:
    """`--config FILE`, else `podcast-transcripts.toml` in the site root, else its pyproject.toml."""
    if config_file is not None:
        return read_file(Path(config_file))
    if (root / SITE_CONFIG).is_file():
        return read_file(root / SITE_CONFIG)
    return read_pyproject(root / "pyproject.toml")


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
            if not str(value).strip():
                raise ConfigError(f"{key} (--{key.replace('_', '-')}) must not be empty")
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
    for stage, options in stages.items():
        for f in dataclasses.fields(options):
            _check(STAGES[stage], f.name, getattr(options, f.name))
    if bool(stages["episodes"].wrapper_open.strip()) != bool(stages["episodes"].wrapper_close.strip()):
        raise ConfigError("wrapper_open and wrapper_close must both be set or both be empty")
    glossary = getattr(stages["vocabulary"], "glossary", None)
    if glossary and not Path(glossary).is_file():
        raise ConfigError(f"glossary {glossary}: no such file")
    if "transcripts_dir" in top and top["transcripts_dir"].exists() and not top["transcripts_dir"].is_dir():
        raise ConfigError(f"transcripts_dir (--transcripts-dir) {top['transcripts_dir']}: not a folder")
    return Settings(**top, **stages)


# What a value must be beyond its type, so that nonsense is a usage error naming the setting
# rather than a skipped episode or a traceback deep inside a stage.
_AT_LEAST_1 = {"beam_size", "max_speakers", "max_paragraph_words", "min_paragraph_words", "chunk_bytes",
               "max_bytes", "num_speakers"}
_POSITIVE = {"connect_timeout", "read_timeout", "compression_ratio_threshold", "paragraph_pause",
             "long_gap", "chapter_drift", "episode_deadline", "stall_seconds",
             "engine_budget_min", "engine_budget_factor"}
_FRACTION = {"no_speech_threshold", "review_threshold", "suspect_no_speech"}
_NOT_POSITIVE = {"log_prob_threshold", "suspect_logprob"}
_CHOICES = {"device": ("auto", "cpu", "cuda")}


def _check(cls: type, name: str, value: Any) -> None:
    """A ConfigError naming the setting (and its flag) when `value` cannot be meant."""
    flag = f"{name} (--{name.replace('_', '-')})"
    hint = typing.get_type_hints(cls)[name]
    args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    if value is None:
        if type(None) not in args:
            raise ConfigError(f"{flag} must be given")
        return
    if bool in args or hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{flag} must be true or false, not {value!r}")
        return
    numeric = args & {int, float}
    if numeric:
        wanted = float if float in numeric else int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (wanted is int and isinstance(value, float)):
            raise ConfigError(f"{flag} must be {'a number' if wanted is float else 'a whole number'}, not {value!r}")
        problem = (
            "at least 1" if name in _AT_LEAST_1 and value < 1 else
            "above 0" if name in _POSITIVE and not value > 0 else
            "between 0 and 1" if name in _FRACTION and not 0 <= value <= 1 else
            "0 or below" if name in _NOT_POSITIVE and value > 0 else
            "between 1 and 6" if name == "heading_level" and not 1 <= value <= 6 else
            "0 or more" if name not in _NOT_POSITIVE and value < 0 else
            "a finite number" if value != value or value in (float("inf"), float("-inf")) else None
        )
        if problem:
            raise ConfigError(f"{flag} must be {problem}, not {value!r}")
        return
    if str in args:
        if not isinstance(value, str):
            raise ConfigError(f"{flag} must be a string, not {value!r}")
        choices = tuple(engines.ENGINES) if name == "engine" else _CHOICES.get(name)
        if choices and value not in choices:
            raise ConfigError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")
        if name in ("model", "compute_type") and not value.strip():
            raise ConfigError(f"{flag} must not be empty")
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{flag} must be one line, not {value!r}")
        return
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, tuple):
            raise ConfigError(f"{flag} must be a list of strings, not {value!r}")
        if not all(isinstance(v, str) and v.strip() and "\n" not in v for v in value):
            raise ConfigError(f"{flag} must be a list of one-line, non-empty strings, not {list(value)!r}")
        if name == "placeholders" and not value:
            raise ConfigError(f"{flag} needs at least one placeholder sentence")


def load(overrides: dict[str, Any] | None = None, pyproject: Path = Path("pyproject.toml"),
         config_file: Path | None = None) -> Settings:
    """The settings file's (see `find_settings`), then `overrides` (command-line flags) on top."""
    values = dict(read_pyproject(pyproject) if config_file is None and pyproject != Path("pyproject.toml")
                  else find_settings(config_file))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return build(values)
