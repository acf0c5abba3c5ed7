"""Round trip between ember and the real safetensors package (and numpy).

usage: python3 safetensors_interop.py TOOL WORKDIR
Exits 77 (ctest's skip code) when safetensors or numpy is not installed.
"""
import os
import subprocess
import sys

try:
    import numpy as np
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open
except ImportError as e:  # CI installs both; a bare machine skips
    print(f"skipping: {e}")
    sys.exit(77)

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)

# ember writes, Python reads.
ember_file = os.path.join(work, "from_ember.safetensors")
subprocess.run([tool, "write", ember_file], check=True)
t = load_file(ember_file)
assert sorted(t) == ["encoder.bias", "encoder.weight", "mask", "steps"], sorted(t)
np.testing.assert_array_equal(t["encoder.weight"], (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5))
assert t["encoder.weight"].dtype == np.float32
np.testing.assert_array_equal(t["encoder.bias"], np.arange(3, dtype=np.float64) - 1.0)
np.testing.assert_array_equal(t["steps"], np.arange(5, dtype=np.int64))
np.testing.assert_array_equal(t["mask"], np.array([True, False, True]))
with safe_open(ember_file, framework="numpy") as f:
    assert f.metadata() == {"written_by": "ember"}, f.metadata()
print("python read ember's file: ok")

# Python writes, ember reads.
py_file = os.path.join(work, "from_python.safetensors")
save_file({"a": (np.arange(6, dtype=np.float32).reshape(2, 3) / 4),
           "b": np.array([-1.0, 2.0], dtype=np.float64),
           "c": np.array([7, 8, 9], dtype=np.int64)},
          py_file, metadata={"written_by": "python"})
subprocess.run([tool, "check", py_file], check=True)
