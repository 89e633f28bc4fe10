"""Which episodes a command means: the same `PATHS...` for every command.

Each argument is an episode file, a folder of them, or the slug of an episode under the
episodes folder (`review my-ep` keeps working); none means the whole episodes folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import episodes
from .errors import EpisodeError


def resolve(args: Sequence[str | Path], episodes_dir: Path, only: Sequence[str] = ()) -> list[Path]:
    """Episode files, sorted and without duplicates; an unknown slug is an error naming it."""
    if not args:
        files = episodes.find_episodes([episodes_dir])
    else:
        named = [Path(a) for a in args if Path(a).exists()]
        slugs = [str(a) for a in args if not Path(a).exists()]
        files = episodes.find_episodes(named) if named else []
        if slugs:
            if not Path(episodes_dir).is_dir():
                raise EpisodeError(f"{slugs[0]}: no such file or folder, and no episodes folder {episodes_dir} "
                                   "to find it in as a slug")
            by_slug = {episodes.slug_of(p): p for p in episodes.find_episodes([episodes_dir])}
            for slug in slugs:
                if slug not in by_slug:
                    raise EpisodeError(f"{slug}: no such file or folder, nor an episode slug under {episodes_dir}")
                files.append(by_slug[slug])
        files = sorted(dict.fromkeys(files))
    if only:
        files = [f for f in files if episodes.slug_of(f) in only]
    return files


def for_batch(args: Sequence[str | Path], episodes_dir: Path) -> list[Path]:
    """PATHS for the batch commands: existing paths as given (the batch reports a bad file in
    its summary), slugs looked up; none: the episodes folder."""
    if not args:
        return [Path(episodes_dir)]
    named = [Path(a) for a in args if Path(a).exists()]
    slugs = [a for a in args if not Path(a).exists()]
    return named + (resolve(slugs, episodes_dir) if slugs else [])
