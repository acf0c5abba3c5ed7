"""Reads an event file written by ember's TensorBoardLogger with the tensorboard package.

usage: python3 tensorboard_interop.py TOOL WORKDIR
Exits 77 (ctest's skip code) when tensorboard is not installed (CI installs it with pip).
"""
import math
import shutil
import subprocess
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError as e:
    print(f"skipping: {e}")
    sys.exit(77)

tool, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
path = subprocess.run([tool, work], check=True, capture_output=True, text=True).stdout.strip()

acc = EventAccumulator(path)
acc.Reload()
tags = sorted(acc.Tags()["scalars"])
assert tags == ["acc", "loss", "lr-Adam/pg1"], tags
loss = acc.Scalars("loss")
assert [e.step for e in loss] == [0, 10, 20, 30, 40], [e.step for e in loss]
for i, e in enumerate(loss):
    assert math.isclose(e.value, 1.0 / (i + 1), rel_tol=1e-6), (i, e.value)
assert math.isclose(acc.Scalars("acc")[-1].value, 0.8, rel_tol=1e-6)
assert math.isclose(acc.Scalars("lr-Adam/pg1")[0].value, 1e-3, rel_tol=1e-6)
print(f"tensorboard read {len(tags)} tags from {path}")
