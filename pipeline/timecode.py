"""Seconds written as a clock, in each style the pipeline publishes (like openai-whisper's
`format_timestamp`, one function with style arguments).

    format_timestamp(3725.4)                                  '01:02:05'      transcripts, review page
    format_timestamp(3725.4, pad_hours=False)                 '1:02:05'       the run summary
    format_timestamp(65.4, hours="auto", pad_hours=False)     '1:05'          show notes
    format_timestamp(3725.4, hours="never")                   '62:05'         review marks
    format_timestamp(3725.4, decimal_marker=",")              '01:02:05,400'  SRT (VTT: ".")

Whole-second styles truncate (a paragraph that starts at 2.9 s starts in second 2); with a
decimal marker the time is rounded to the millisecond. Negative times are written as zero.
"""

from __future__ import annotations

from typing import Literal


def format_timestamp(
    seconds: float,
    *,
    hours: Literal["always", "auto", "never"] = "always",
    pad_hours: bool = True,
    decimal_marker: str | None = None,
) -> str:
    """`hours`: always shown, shown only from one hour on, or never (minutes pass 59)."""
    ms = int(round(max(0.0, seconds) * 1000)) if decimal_marker is not None else int(max(0.0, seconds)) * 1000
    whole = ms // 1000
    h, m, s = whole // 3600, whole % 3600 // 60, whole % 60
    if hours == "never":
        text = f"{h * 60 + m:02d}:{s:02d}"
    elif hours == "auto" and h == 0:
        text = f"{m}:{s:02d}"
    else:
        text = f"{h:02d}:{m:02d}:{s:02d}" if pad_hours else f"{h}:{m:02d}:{s:02d}"
    return text if decimal_marker is None else f"{text}{decimal_marker}{ms % 1000:03d}"
