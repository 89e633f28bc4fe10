"""The bench's memory of a process tree (pipeline/lab/treerss.py): a parent and the child it
starts each hold memory at once; the sum is what is reported, not the parent's own peak."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipeline.lab.treerss import TreeSampler

# Each process touches its MB (so they are resident), says so, and holds them until stdin closes.
HOLD = "import sys; b = bytearray({mb} << 20); b[::4096] = b'x' * len(b[::4096]); print('held', flush=True); sys.stdin.read()"
PARENT = HOLD.replace("print('held', flush=True); ", """import subprocess; c = subprocess.Popen([sys.executable, '-c', {child!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE); c.stdout.readline(); print('held', flush=True); """)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_tree_peak_counts_the_parent_and_its_child_together():
    code = PARENT.format(mb=150, child=HOLD.format(mb=100))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with TreeSampler(proc.pid) as tree:
        assert proc.stdout.readline() == b"held\n"
        time.sleep(0.3)  # a few samples while both hold their memory
        proc.stdin.close()
        proc.wait(10)
    assert tree.processes == 2
    # 250 MB held at once, plus two interpreters; neither process alone comes near it.
    assert 250 <= tree.peak_mb < 400, tree.peak_mb
    assert tree.hwm_sum_mb >= tree.peak_mb - 1
