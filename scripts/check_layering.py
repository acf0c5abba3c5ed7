#!/usr/bin/env python3
"""Checks the layering rule of docs/architecture.md: a layer includes only the layers below it.

Reads every `#include "..."` line of the .h/.cpp/.cu/.cuh files under --root (default: the
repository) and prints each include that reaches a layer its file may not include, as
`file:line: <includer layer>/ may not include <included layer>/ (...)`. Exits 1 on any
violation, 0 otherwise.

An include names a file relative to the includer's folder or to an include directory of
the build (the root, include/, tests/); its layer is the top folder of the file it
resolves to, or its first path component when the file is not in the tree.
tensor/ declares functions defined in autograd/ and kernels/ (the differentiable ops and
the backend registration): that is a link-time meeting, not an include, so it passes.
"""
import argparse
import os
import re
import sys

# folder -> the layers it may include (besides itself). None: anything.
ALLOWED = {
    "tensor": set(),
    "kernels": {"tensor"},
    "autograd": {"tensor"},
    "nn": {"autograd", "tensor"},
    "optim": {"nn", "autograd", "tensor"},
    "distributed": {"optim", "nn", "autograd", "tensor"},
    "trainer": {"distributed", "optim", "nn", "autograd", "kernels", "tensor"},
    "include": None,  # the public umbrella header gathers the layers
    "examples": None,
    "tests": None,
    "bench": None,
}
SOURCE_SUFFIXES = (".h", ".cpp", ".cu", ".cuh")
INCLUDE_DIRS = ("", "include", "tests")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def source_files(root):
    for top in sorted(os.listdir(root)):
        top_path = os.path.join(root, top)
        # Build folders, .devdeps, .git and the like hold no sources of the project.
        if top.startswith(".") or top.startswith("build") or not os.path.isdir(top_path):
            continue
        for folder, dirs, files in os.walk(top_path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    yield os.path.relpath(os.path.join(folder, name), root)


def layer_of_include(root, includer, target):
    """The top folder of the file `target` names, seen from `includer` (both root-relative)."""
    candidates = [os.path.join(os.path.dirname(includer), target)]
    candidates += [os.path.join(d, target) for d in INCLUDE_DIRS]
    for candidate in candidates:
        path = os.path.normpath(candidate)
        if not path.startswith("..") and os.path.isfile(os.path.join(root, path)):
            return path.split(os.sep)[0]
    return target.split("/")[0] if "/" in target else None


def check(root):
    violations = []
    for rel in source_files(root):
        layer = rel.split(os.sep)[0]
        if layer not in ALLOWED:
            violations.append(f"{rel}:1: folder {layer}/ has no layer rule "
                              "(add it to scripts/check_layering.py and docs/architecture.md)")
            continue
        allowed = ALLOWED[layer]
        if allowed is None:
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                match = INCLUDE_RE.match(line)
                if not match:
                    continue
                included = layer_of_include(root, rel, match.group(1))
                if included is None or included == layer or included in allowed:
                    continue
                if included not in ALLOWED:
                    continue  # a header outside the layers (none today); not a layer edge
                rule = ", ".join(f"{a}/" for a in sorted(allowed)) or "nothing else"
                violations.append(f"{rel}:{number}: {layer}/ may not include {included}/ "
                                  f"(\"{match.group(1)}\"; {layer}/ may include {rule})")
    return violations


def main():
    default_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=default_root, help="the tree to check")
    args = parser.parse_args()
    violations = check(args.root)
    for v in violations:
        print(v)
    if violations:
        print(f"layering: {len(violations)} violation(s): a layer includes only the layers "
              "below it", file=sys.stderr)
        return 1
    print(f"layering: ok ({sum(1 for _ in source_files(args.root))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
