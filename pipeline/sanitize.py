"""Text from outside (names, titles, Whisper's words) made safe for every output format.

A speaker name with a newline would start a new SRT cue or VTT block, a carriage return would
split a markdown line, an escape sequence would drive the reader's terminal, and bidi overrides
would make a page read differently from what it holds. Every writer passes outside text through
`clean()` first; each format then escapes its own markup.
"""

from __future__ import annotations

import re

# Bidi embeddings, overrides and isolates, and a stray byte-order mark: invisible, never needed.
_INVISIBLE = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: str) -> str:
    """`text` with control characters, line and paragraph separators made spaces; bidi controls gone."""
    return _CONTROL.sub(" ", text.translate(_INVISIBLE))


def clean_line(text: str) -> str:
    """One line of display text: `clean()`, whitespace runs made one space, trimmed."""
    return " ".join(clean(text).split())
