#!/usr/bin/env python3
"""Checks that an ember checkpoint (a safetensors file) holds torchvision's ResNet keys.

usage: check_checkpoint.py CHECKPOINT KEY...
Exits 1 naming the missing keys (and the model keys it found), 0 when all are present.
"""
import json
import struct
import sys


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, want = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    keys = set(header) - {"__metadata__"}
    missing = [k for k in want if k not in keys]
    if missing:
        model = sorted(k for k in keys if not k.startswith(("optimizer_states.", "lr_schedulers.")))
        print(f"{path}: missing {missing}; model keys: {model}", file=sys.stderr)
        return 1
    dtype = header["bn1.num_batches_tracked"]["dtype"] if "bn1.num_batches_tracked" in keys else ""
    if "bn1.num_batches_tracked" in want and dtype != "I64":
        print(f"{path}: bn1.num_batches_tracked is {dtype}, expected I64", file=sys.stderr)
        return 1
    print(f"{path}: all {len(want)} keys present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
