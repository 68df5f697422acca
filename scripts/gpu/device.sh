#!/usr/bin/env bash
# Everything a GPU machine should run, in one command of under ten minutes: the GPU check
# (check.sh: gradcheck, WebGPU training against the CPU, placement) and the GPU benchmark (bench.sh:
# WebGPU against PyTorch CUDA eager, d 1024 x 8 layers, batch 8 x 512). For a machine without Node
# or registry access, prepare with `npm run build && bash scripts/gpu/pack.sh` and carry `dist` and
# `.tmp/gpu` there; then run `bash scripts/gpu/device.sh`.
# Options are passed to bench.sh (to try it on lavapipe: --config micro --steps 2 --warmup 1).
# Writes gpu-check.txt, gpu-bench.txt and gpu-bench.json into $OUT (a folder the caller collects),
# else .tmp/gpu-out; prints their tails; exits non-zero if either part failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/.tmp/gpu-out}
mkdir -p "$OUT"
small=()
command -v nvidia-smi >/dev/null && small=(--small) # the 5.6M model too, where a real GPU makes it quick
status=0
timeout 240 bash scripts/gpu/check.sh "${small[@]}" > "$OUT/gpu-check.txt" 2>&1 || status=1
timeout 300 bash scripts/gpu/bench.sh --save "$OUT/gpu-bench.json" "$@" > "$OUT/gpu-bench.txt" 2>&1 || status=1
echo "== gpu-check (tail)"; tail -n 25 "$OUT/gpu-check.txt"
echo "== gpu bench (tail)"; tail -n 16 "$OUT/gpu-bench.txt"
[ $status = 0 ] && echo "gpu-device: OK" || echo "gpu-device: FAILED (see $OUT)"
exit $status
