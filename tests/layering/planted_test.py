#!/usr/bin/env python3
"""Proves scripts/check_layering.py catches an upward include: a copy of the tree's sources
passes, and the same copy with tensor/planted.h including "nn/module.h" fails, naming the
file, the line and the rule."""
import os
import shutil
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
checker = os.path.join(root, "scripts", "check_layering.py")


def run(tree):
    done = subprocess.run([sys.executable, checker, "--root", tree],
                          capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def fail(message, output):
    print(f"FAIL: {message}\n--- checker output ---\n{output}")
    sys.exit(1)


with tempfile.TemporaryDirectory() as tree:
    for layer in ("tensor", "kernels", "autograd", "nn", "optim", "trainer", "include"):
        shutil.copytree(os.path.join(root, layer), os.path.join(tree, layer),
                        ignore=shutil.ignore_patterns(".*", "build*"))
    code, output = run(tree)
    if code != 0:
        fail("the unmodified copy should pass", output)

    with open(os.path.join(tree, "tensor", "planted.h"), "w") as f:
        f.write('#pragma once\n// planted by tests/layering/planted_test.py\n#include "nn/module.h"\n')
    code, output = run(tree)
    if code != 1:
        fail(f"an upward include should exit 1, got {code}", output)
    expected = "tensor/planted.h:3: tensor/ may not include nn/"
    if expected not in output:
        fail(f"the report should contain '{expected}'", output)

    # A same-layer include spelled relative to the file is not an edge.
    with open(os.path.join(tree, "tensor", "planted.h"), "w") as f:
        f.write('#pragma once\n#include "shape.h"\n')
    code, output = run(tree)
    if code != 0:
        fail("a relative include within tensor/ should pass", output)

print("layering check: a planted upward include is reported, a clean tree passes")
