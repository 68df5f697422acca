#!/usr/bin/env bash
# Everything a lent NVIDIA machine should run, in one command that fits one 10-minute device call:
# issue 3's GPU check (bench/gpu-check.sh: gradcheck, WebGPU training against the CPU, placement)
# and issue 6's GPU benchmark (bench/gpu.sh: WebGPU against PyTorch CUDA eager, d 1024 x 8 layers,
# batch 8 x 512). Prepare here with `npm run build && bash bench/gpu-pack.sh`, then from the device
# tool:  run(command="bash bench/gpu-device.sh", carry=["dist", ".tmp/gpu"], timeout_s=600)
# Options are passed to bench/gpu.sh (to try it on lavapipe: --config micro --steps 2 --warmup 1).
# Writes gpu-check.txt, gpu-bench.txt and gpu-bench.json into $OUT (the device tool's folder that
# comes back), else .tmp/gpu-out; prints their tails; exits non-zero if either part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/.tmp/gpu-out}
mkdir -p "$OUT"
small=()
command -v nvidia-smi >/dev/null && small=(--small) # the 5.6M model too, where a real GPU makes it quick
status=0
timeout 240 bash bench/gpu-check.sh "${small[@]}" > "$OUT/gpu-check.txt" 2>&1 || status=1
timeout 300 bash bench/gpu.sh --save "$OUT/gpu-bench.json" "$@" > "$OUT/gpu-bench.txt" 2>&1 || status=1
echo "== gpu-check (tail)"; tail -n 25 "$OUT/gpu-check.txt"
echo "== gpu bench (tail)"; tail -n 16 "$OUT/gpu-bench.txt"
[ $status = 0 ] && echo "gpu-device: OK" || echo "gpu-device: FAILED (see $OUT)"
exit $status
