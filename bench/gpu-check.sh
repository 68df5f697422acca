#!/usr/bin/env bash
# The GPU check of issue 3, for an NVIDIA machine (H100/H200) or, to test it, lavapipe:
#   1. a Vulkan loader: the system's libvulkan.so.1, else Debian's libvulkan1 .deb unpacked with
#      `dpkg -x` (GPU machines have NVIDIA's Vulkan ICD but often no loader);
#   2. the ICD: --icd FILE, else NVIDIA's at /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json or
#      /usr/share/vulkan/icd.d/nvidia_icd.json, else lavapipe's lvp_icd.json; exported as VK_DRIVER_FILES;
#   3. `chamlab gradcheck` (every op's VJP and the model gradient, float64 on the CPU);
#   4. a 20-step tiny training on WebGPU (bench/gpu-train.ts): placement report (CPU fallbacks), the
#      first 3 steps against the CPU, tokens/s. With --small also the 5.6M-parameter model.
#
#   bench/gpu-check.sh [--deb FILE.deb] [--icd FILE.json] [--steps N] [--small] [--skip-gradcheck]
#
# Needs dist/ (npm run build), and Node >= 20 and node_modules/ or, on a machine without them, what
# bench/gpu-pack.sh puts in .tmp/gpu (carry `dist` and `.tmp/gpu`; see bench/gpu-node.sh). Prints a summary; exits non-zero
# if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
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

WORK=$ROOT/.tmp/gpu
mkdir -p "$WORK"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$WORK/xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# --- JavaScript dependencies -------------------------------------------------------------------
if [ ! -f dist/src/cli/main.js ] || [ ! -f dist/bench/gpu-train.js ]; then
  echo "gpu-check: dist/ is missing or stale; run 'npm run build' first" >&2; exit 2
fi
# Node and node_modules: the machine's, else the packed ones (bench/gpu-pack.sh).
source "$ROOT/bench/gpu-node.sh"

# --- Vulkan loader -----------------------------------------------------------------------------
has_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; }
if has_loader && [ -z "$DEB" ]; then
  echo "vulkan loader: system ($(ldconfig -p | grep -m1 'libvulkan\.so\.1 ' | awk '{print $NF}'))"
else
  [ -n "$DEB" ] || DEB=$(ls "$WORK"/libvulkan1_*.deb 2>/dev/null | head -n1)
  if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
    echo "gpu-check: no Vulkan loader on this machine and no libvulkan1 .deb (pass --deb, or put one in $WORK;" >&2
    echo "  on a Debian machine with network: apt-get download libvulkan1)" >&2
    exit 2
  fi
  rm -rf "$WORK/vulkan" && mkdir -p "$WORK/vulkan"
  if command -v dpkg >/dev/null; then
    dpkg -x "$DEB" "$WORK/vulkan"
  else
    # No dpkg (not Debian-based): a .deb is an ar archive holding data.tar.*.
    (cd "$WORK/vulkan" && ar x "$DEB" && tar xf data.tar.* && rm -f data.tar.* control.tar.* debian-binary)
  fi
  LIBDIR=$(dirname "$(find "$WORK/vulkan" -name 'libvulkan.so.1*' | head -n1)")
  export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "vulkan loader: $(basename "$DEB") unpacked into $LIBDIR"
fi

# --- Vulkan driver (ICD) -----------------------------------------------------------------------
if [ -z "$ICD" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
           /usr/share/vulkan/icd.d/lvp_icd.json /usr/share/vulkan/icd.d/lvp_icd.x86_64.json; do
    [ -f "$f" ] && { ICD=$f; break; }
  done
fi
if [ -z "$ICD" ] || [ ! -f "$ICD" ]; then
  echo "gpu-check: no Vulkan ICD found (pass --icd FILE.json)" >&2; exit 2
fi
export VK_DRIVER_FILES=$ICD
# The NVIDIA ICD names its library (libGLX_nvidia.so.0) without a path: make the driver's lib dir
# visible where containers mount it.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
unset VK_ICD_FILENAMES
echo "vulkan driver: $ICD"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
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
"$NODE" dist/bench/gpu-train.js --steps "$STEPS" --size tiny 2>&1 | grep -v '^Warning: maxDynamic'; rc=${PIPESTATUS[0]}
echo "tiny training exit $rc"; [ $rc = 0 ] || status=1
if [ $SMALL = 1 ]; then
  echo; echo "== $STEPS-step small (5.6M) training on WebGPU"
  "$NODE" dist/bench/gpu-train.js --steps "$STEPS" --size small 2>&1 | grep -v '^Warning: maxDynamic'; rc=${PIPESTATUS[0]}
  echo "small training exit $rc"; [ $rc = 0 ] || status=1
  echo; echo "== the same on the CPU of this machine, for scale"
  "$NODE" dist/bench/gpu-train.js --steps 6 --size small --device cpu --no-compare 2>&1 | tail -n 2
fi
echo; [ $status = 0 ] && echo "gpu-check: OK" || echo "gpu-check: FAILED"
exit $status
