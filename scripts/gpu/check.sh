#!/usr/bin/env bash
# The GPU check, for an NVIDIA machine (H100/H200) or, to test it, lavapipe:
#   1. a Vulkan loader: the system's libvulkan.so.1, else Debian's libvulkan1 .deb unpacked with
#      `dpkg -x` (GPU machines have NVIDIA's Vulkan ICD but often no loader);
#   2. the ICD: --icd FILE, else NVIDIA's at /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json or
#      /usr/share/vulkan/icd.d/nvidia_icd.json, else lavapipe's lvp_icd.json; exported as VK_DRIVER_FILES;
#   3. `chamlab gradcheck` (every op's VJP and the model gradient, float64 on the CPU);
#   4. a 20-step tiny training on WebGPU (scripts/gpu/train.ts): placement report (CPU fallbacks), the
#      first 3 steps against the CPU, tokens/s. With --small also the 5.6M-parameter model.
#
#   bash scripts/gpu/check.sh [--deb FILE.deb] [--icd FILE.json] [--steps N] [--small] [--skip-gradcheck]
#
# Needs dist/ (npm run build), and Node >= 20 and node_modules/ or, on a machine without them, what
# scripts/gpu/pack.sh puts in .tmp/gpu (carry `dist` and `.tmp/gpu`; see scripts/gpu/env.sh). Prints
# a summary; exits non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

DEB="" ICD="" STEPS=20 SMALL=0 GRADCHECK=1
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) DEB=$2; shift 2 ;;
    --icd) ICD=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --small) SMALL=1; shift ;;
    --skip-gradcheck) GRADCHECK=0; shift ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
done


# --- JavaScript dependencies -------------------------------------------------------------------
if [ ! -f dist/src/cli/main.js ] || [ ! -f dist/scripts/gpu/train.js ]; then
  echo "gpu-check: dist/ is missing or stale; run 'npm run build' first" >&2; exit 2
fi
# Node, node_modules, the Vulkan loader and driver: scripts/gpu/env.sh (shared with bench.sh).
source "$ROOT/scripts/gpu/env.sh"
echo "node $("$NODE" --version), $(nproc) cores"

status=0
# --- gradcheck ---------------------------------------------------------------------------------
if [ $GRADCHECK = 1 ]; then
  echo; echo "== chamlab gradcheck"
  "$NODE" bin/chamlab.js gradcheck; rc=$?
  echo "gradcheck exit $rc"; [ $rc = 0 ] || status=1
fi

# --- training on WebGPU ------------------------------------------------------------------------
echo; echo "== $STEPS-step tiny training on WebGPU"
"$NODE" dist/scripts/gpu/train.js --steps "$STEPS" --size tiny 2>&1 | grep -v '^Warning: maxDynamic'; rc=${PIPESTATUS[0]}
echo "tiny training exit $rc"; [ $rc = 0 ] || status=1
if [ $SMALL = 1 ]; then
  echo; echo "== $STEPS-step small (5.6M) training on WebGPU"
  "$NODE" dist/scripts/gpu/train.js --steps "$STEPS" --size small 2>&1 | grep -v '^Warning: maxDynamic'; rc=${PIPESTATUS[0]}
  echo "small training exit $rc"; [ $rc = 0 ] || status=1
  echo; echo "== the same on the CPU of this machine, for scale"
  "$NODE" dist/scripts/gpu/train.js --steps 6 --size small --device cpu --no-compare 2>&1 | tail -n 2
fi
echo; [ $status = 0 ] && echo "gpu-check: OK" || echo "gpu-check: FAILED"
exit $status
