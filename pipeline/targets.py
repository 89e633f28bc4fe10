"""Which episodes `review`, `publish` and `approve` mean: `PATHS...` as files, folders or slugs.

Each argument is an episode file, a folder of them, or the name of an episode under the
episodes folder (its key, such as `season-1/pilot`, or its plain name when only one file has
it), so `review my-ep` keeps working; none means the whole episodes folder. Episodes carry the
key that names their files under transcripts/ (see `episodes.discover`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import episodes
from .errors import ConfigError, EpisodeError


def resolve(args: Sequence[str | Path], episodes_dir: Path, only: Sequence[str] = ()) -> list[episodes.Found]:
    """Episode files with their keys, sorted; a name that matches nothing, or a refused file, is
    an error naming it."""
    named = [Path(a) for a in args if Path(a).exists()]
    names = [str(a).strip("/") for a in args if not Path(a).exists()] + list(only)
    found = episodes.discover(named, episodes_dir) if named else []
    if names or not args:
        everything = episodes.discover([Path(episodes_dir)], episodes_dir)
        if not args:
            found = everything
        for name in dict.fromkeys(names):
            match = [f for f in everything if f.key == name] or \
                [f for f in everything if episodes.slug_of(f.path) == name]
            if not match:
                raise ConfigError(f"{name}: no such file or folder, nor an episode of that name under {episodes_dir}")
            if len(match) > 1:
                raise ConfigError(f"{name}: several episodes have that name "
                                   f"({', '.join(f.key for f in match)}); give its path under {episodes_dir}")
            if not any(f.path == match[0].path for f in found):
                found.append(match[0])
        if only:
            keep = {f.path for f in everything if f.key in only or episodes.slug_of(f.path) in only}
            found = [f for f in found if f.path in keep]
    for f in found:
        if f.error:
            raise EpisodeError(f.error)
    return sorted(found, key=lambda f: f.path)
