#!/usr/bin/env bash
# GPU benchmark: chamlab on WebGPU (Dawn over Vulkan) against PyTorch CUDA eager, float32, same
# model, weights, batches and steps, in one run (bench/run.ts). Default configuration `gpu`:
# d 1024, 8 layers, 16 heads, batch 8 x 512, vocab 4096 + 512, QK-Norm on.
#
#   bash scripts/gpu/bench.sh                       # on an NVIDIA machine (H100/H200)
#   bash scripts/gpu/bench.sh --config micro --steps 2 --warmup 1   # functional check on lavapipe
#   any other option is passed to dist/bench/run.js (e.g. --json, --steps 20, --block 5)
#
# What it sets up, and why:
# - NVIDIA machines here ship the driver's Vulkan ICD but no Vulkan loader (libvulkan.so.1), which
#   Dawn needs. Debian bookworm's libvulkan1 .deb (from pack.sh, or scripts/gpu/vendor/, not
#   committed) is unpacked with `dpkg -x` into .tmp/ (never into /) and put on LD_LIBRARY_PATH when
#   the system has no loader (env.sh).
# - VK_DRIVER_FILES points the loader at NVIDIA's ICD (its usual places are tried in order), so the
#   loader does not pick a software driver. Without an NVIDIA ICD the system's drivers are used
#   (lavapipe on a CPU-only machine: a functional check only, far slower than a GPU).
# - XDG_RUNTIME_DIR: the loader complains on every instance creation without a writable one.
# - PyTorch runs on CUDA when `python3 -c 'import torch; torch.cuda.is_available()'` says so;
#   otherwise bench/run.js falls back to PyTorch on the CPU and prints a note saying so.
#   TF32 is off in PyTorch by default for matmuls (float32 proper), which matches WebGPU's f32.
#
# Needs: the project built (`npm run build`), and Node >= 20 and node_modules on the machine, or what
# scripts/gpu/pack.sh puts in .tmp/gpu (see env.sh). CHAMLAB_PYTHON selects the Python that has torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
[ -f dist/bench/run.js ] || { echo "gpu bench: dist/bench/run.js missing: run 'npm run build' first" >&2; exit 1; }
# Node, node_modules, the Vulkan loader and driver: scripts/gpu/env.sh (shared with check.sh).
source "$ROOT/scripts/gpu/env.sh"

# On a GPU machine, `python3` is the one with CUDA PyTorch; Debian's /usr/bin/python3 elsewhere.
if [ -z "${CHAMLAB_PYTHON:-}" ]; then
  for py in python3 /usr/bin/python3; do
    if "$py" -c 'import torch, numpy' 2>/dev/null; then export CHAMLAB_PYTHON="$py"; break; fi
  done
fi

# Defaults for the GPU comparison; later options (the caller's) win since run.js reads them in order.
exec "$NODE" dist/bench/run.js --device webgpu --torch-device cuda --config gpu --no-compile "$@"
