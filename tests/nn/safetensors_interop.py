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

# The dtypes of issue 16. numpy has float16 and the integers; BF16 (which numpy lacks) is
# checked from the raw bytes of ember's file, the bf16 bit patterns of 1, -2.5 and 0.1.
import json
import struct

ember16 = os.path.join(work, "from_ember16.safetensors")
subprocess.run([tool, "write16", ember16], check=True)
with open(ember16, "rb") as fh:
    raw = fh.read()
(hlen,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + hlen])
body = raw[8 + hlen:]
assert {k: v["dtype"] for k, v in header.items()} == \
    {"h": "F16", "w": "BF16", "i": "I32", "c": "I8", "u": "U8"}, header
b, e = header["w"]["data_offsets"]
assert np.frombuffer(body[b:e], dtype="<u2").tolist() == [0x3F80, 0xC020, 0x3DCD]
with safe_open(ember16, framework="numpy") as f:
    np.testing.assert_array_equal(f.get_tensor("h"),
                                  np.array([1.5, -2, 65504, 2.0 ** -24], dtype=np.float16))
    assert f.get_tensor("h").dtype == np.float16
    np.testing.assert_array_equal(f.get_tensor("i"), np.array([-7, 100000], dtype=np.int32))
    assert f.get_tensor("i").dtype == np.int32
    np.testing.assert_array_equal(f.get_tensor("c"), np.array([-128, 127], dtype=np.int8))
    np.testing.assert_array_equal(f.get_tensor("u"), np.array([0, 255], dtype=np.uint8))
    assert f.get_tensor("u").dtype == np.uint8
print("python read ember's 16-bit file: ok")

py16 = os.path.join(work, "from_python16.safetensors")
save_file({"h": np.array([0.5, -3, 2.0 ** -24], dtype=np.float16),
           "i": np.array([-7, 100000], dtype=np.int32),
           "c": np.array([-128, 127], dtype=np.int8),
           "u": np.array([0, 255], dtype=np.uint8)}, py16)
subprocess.run([tool, "check16", py16], check=True)
