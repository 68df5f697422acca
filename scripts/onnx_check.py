#!/usr/bin/python3
"""Checks ONNX files with the official checker: onnx.checker.check_model(model, full_check=True).

full_check also runs ONNX shape inference in strict mode, so a shape written by chamlab's value_info
that disagrees with ONNX's own inference fails here. Usage: scripts/onnx_check.py FILE.onnx [...]
Prints one line per file (`ok FILE` or `FAIL FILE: reason`) and exits 1 if any file fails.
"""
import sys

import onnx


def check(path: str) -> str | None:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        # strict shape inference: value_info that contradicts ONNX's inference is an error too
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # the checker raises several exception types; report them all the same way
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: onnx_check.py FILE.onnx [...]", file=sys.stderr)
        return 2
    failed = 0
    for path in argv:
        err = check(path)
        if err is None:
            print(f"ok {path}")
        else:
            failed += 1
            print(f"FAIL {path}: {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
