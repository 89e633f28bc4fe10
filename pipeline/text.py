"""The one text normaliser: what "the same words" means when texts are compared."""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^\w']+")


def normalize(text: str) -> str:
    """Lower case; every run of characters other than letters, digits, `_` and `'` becomes one
    space, none at either end: "Hello, World!" and "hello world" are the same."""
    return _NOT_WORD.sub(" ", text.lower()).strip()
