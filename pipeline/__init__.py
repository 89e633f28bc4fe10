"""Transcripts for podcast websites: download, transcribe, align, write back."""

__version__ = "0.1.0"
