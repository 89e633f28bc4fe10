"""STUB: being written (issue 5). Chapters, sentences, paragraphs."""
from __future__ import annotations
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    heading_level: int = 2
    paragraph_pause: float = 1.5
    max_paragraph_words: int = 120
    min_paragraph_words: int = 4
    chapter_tolerance: float = 15.0
    detect_offset: bool = True
