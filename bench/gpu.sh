#!/usr/bin/env bash
# GPU benchmark (issue 6, part 3): chamlab on WebGPU (Dawn over Vulkan) against PyTorch CUDA eager,
# float32, same model, weights, batches and steps, in one run. Default configuration `gpu`:
# d 1024, 8 layers, 16 heads, batch 8 x 512, vocab 4096 + 512, QK-Norm on.
#
#   bash bench/gpu.sh                       # on an NVIDIA machine (H100/H200)
#   bash bench/gpu.sh --config micro --steps 2 --warmup 1   # functional check on lavapipe
#   any other option is passed to bench/run.js (e.g. --json, --steps 20, --block 5)
#
# What it sets up, and why:
# - NVIDIA machines here ship the driver's Vulkan ICD but no Vulkan loader (libvulkan.so.1), which
#   Dawn needs. bench/vendor (not committed; see below) holds Debian bookworm's libvulkan1 .deb; it is unpacked with `dpkg -x`
#   into .tmp/ (never into /) and put on LD_LIBRARY_PATH when the system has no loader.
# - VK_DRIVER_FILES points the loader at NVIDIA's ICD (its usual places are tried in order), so the
#   loader does not pick a software driver. Without an NVIDIA ICD the system's drivers are used
#   (lavapipe on a CPU-only machine: a functional check only, far slower than a GPU).
# - XDG_RUNTIME_DIR: the loader complains on every instance creation without a writable one.
# - PyTorch runs on CUDA when `python3 -c 'import torch; torch.cuda.is_available()'` says so;
#   otherwise bench/run.js falls back to PyTorch on the CPU and prints a note saying so.
#   TF32 is off in PyTorch by default for matmuls (float32 proper), which matches WebGPU's f32.
#
# Needs: the project built (`npm run build`), and Node >= 20 and node_modules on the machine, or what
# bench/gpu-pack.sh puts in .tmp/gpu (see bench/gpu-node.sh). CHAMLAB_PYTHON selects the Python that has torch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -f dist/bench/run.js ] || { echo "gpu.sh: dist/bench/run.js missing: run 'npm run build' first" >&2; exit 1; }
# Node and node_modules: the machine's, else the packed ones (bench/gpu-pack.sh).
source "$ROOT/bench/gpu-node.sh"

# Vulkan loader: the system's, else the bundled Debian package unpacked locally.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  # Not committed (a Debian binary): fetch it where apt works with
  #   mkdir -p bench/vendor && (cd bench/vendor && apt-get download libvulkan1)
  # or run bench/gpu-pack.sh, which puts it in .tmp/gpu; carry that folder to the GPU machine.
  deb=$(ls "$ROOT"/bench/vendor/libvulkan1_*_amd64.deb "$ROOT"/.tmp/gpu/libvulkan1_*_amd64.deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "gpu.sh: no libvulkan.so.1 here and no libvulkan1 .deb: run (mkdir -p bench/vendor && cd bench/vendor && apt-get download libvulkan1) where apt works, and carry bench/vendor" >&2; exit 1; }
  dest="$ROOT/.tmp/vulkan-loader"
  if [ ! -e "$dest/usr/lib/x86_64-linux-gnu/libvulkan.so.1" ]; then
    mkdir -p "$dest"
    dpkg -x "$deb" "$dest"
  fi
  export LD_LIBRARY_PATH="$dest/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "gpu.sh: using the bundled Vulkan loader from $(basename "$deb")" >&2
fi

# NVIDIA's ICD, where the driver puts it on these machines (or a standard place).
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
fi
echo "gpu.sh: VK_DRIVER_FILES=${VK_DRIVER_FILES:-<system default drivers>}" >&2

if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR="$ROOT/.tmp/xdg-runtime"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
fi

# On a GPU machine, `python3` is the one with CUDA PyTorch; Debian's /usr/bin/python3 elsewhere.
if [ -z "${CHAMLAB_PYTHON:-}" ]; then
  for py in python3 /usr/bin/python3; do
    if "$py" -c 'import torch, numpy' 2>/dev/null; then export CHAMLAB_PYTHON="$py"; break; fi
  done
fi

# Defaults for the GPU comparison; later options (the caller's) win since run.js reads them in order.
exec "$NODE" dist/bench/run.js --device webgpu --torch-device cuda --config gpu --no-compile "$@"
