"""The memory of a process and everything it started, sampled from /proc while it runs.

A run is more than one process: the engine lives in a watchdog child for the whole batch
(pipeline/watchdog.py), ffmpeg decodes in another, so the driver's own high-water mark misses
most of it. `TreeSampler` walks the tree under a pid every 50 ms and keeps

- `peak_mb`: the largest sum of resident memory (VmRSS) over the tree at one instant: what the
  machine had to hold. Pages two processes share (a library) count twice, so it leans high;
  a peak shorter than the interval can be missed, so it can also lean low.
- `hwm_sum_mb`: the sum of each process's own peak (VmHWM, the last value seen): an upper bound
  that holds even when the peaks came at different times or between samples.

Linux only; elsewhere both stay 0.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

INTERVAL_S = 0.05


def status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB; zeros when it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


def descendants(root: int) -> list[int]:
    """`root` and every process below it, from each process's parent in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: fields follow the last ")"
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


class TreeSampler:
    """`with TreeSampler(pid) as s: ...`, then `s.peak_mb` and `s.hwm_sum_mb`."""

    def __init__(self, pid: int, interval: float = INTERVAL_S) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-rss", daemon=True)

    def sample(self) -> None:
        if not Path("/proc").is_dir():
            return
        total = 0
        for pid in descendants(self.pid):
            rss, hwm = status_kb(pid)
            total += rss
            if hwm:
                self.hwm_kb[pid] = max(hwm, self.hwm_kb.get(pid, 0))
        self.peak_kb = max(self.peak_kb, total)
        self.processes = max(self.processes, len(self.hwm_kb))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def hwm_sum_mb(self) -> float:
        return sum(self.hwm_kb.values()) / 1024
