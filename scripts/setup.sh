#!/usr/bin/env bash
# npm run setup: installs the npm packages (npm ci) and the Debian packages the tests need, each only
# when missing. Not root or not Debian: prints exactly what to install and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the test suite needs, and why:
#   python3-onnx python3-numpy  onnx.checker on emitted graphs
#   python3-torch               PyTorch cross-checks of the model's loss and gradients, benchmarks
#   libopenblas0-pthread        an optimized BLAS for PyTorch (without it Debian's torch falls back to
#                               the reference BLAS: matmuls ~50x slower, the benchmark meaningless)
#   jupyter-nbconvert python3-nbclient python3-ipykernel   executing the example notebooks headless
#   mesa-vulkan-drivers (bookworm-backports, Mesa >= 24) libvulkan1   WebGPU on lavapipe (software Vulkan)
DEBS=(python3-onnx python3-numpy python3-torch libopenblas0-pthread jupyter-nbconvert python3-nbclient python3-ipykernel libvulkan1)
# chromium: headless browser checks of the HTML report and notebook HTML (driven by playwright-core,
# which cannot download its own browsers here)
DEBS+=(chromium)
BACKPORTS_DEBS=(mesa-vulkan-drivers)
# Slurm 22.05 for the sweep tests' real single-node cluster (scripts/slurm-local.sh): the daemons,
# the clients (sbatch, squeue, sacct), munge for auth, and MariaDB's -core packages for slurmdbd's
# accounting (sacct); -core skips the full server's 112 MB database built at install time.
SLURM_DEBS=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server-core mariadb-client-core)
DEBS+=("${SLURM_DEBS[@]}")

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# lavapipe must come from backports: bookworm's Mesa 22 is rejected by Dawn.
lavapipe_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24
}
need_backports=0
lavapipe_ok || need_backports=1

if [ ${#missing[@]} -gt 0 ] || [ $need_backports -eq 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || [ ! -f /etc/debian_version ]; then
    echo "chamlab setup: please install these Debian packages (as root), then rerun 'npm run setup':" >&2
    [ ${#missing[@]} -gt 0 ] && echo "  apt-get install -y ${missing[*]}" >&2
    [ $need_backports -eq 1 ] && echo "  apt-get install -y -t bookworm-backports ${BACKPORTS_DEBS[*]}   (add the bookworm-backports suite first)" >&2
    exit 1
  fi
  if [ $need_backports -eq 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror as the machine's own Debian sources, never a hard-coded host.
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || { echo "chamlab setup: cannot find the Debian mirror URI to add bookworm-backports" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      > /etc/apt/sources.list.d/chamlab-backports.sources
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#missing[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ $need_backports -eq 1 ] && apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_DEBS[@]}" libvulkan1
fi

# onnxruntime-node's install script would download CUDA binaries from outside the npm registry.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npx tsc -p tsconfig.json
echo "chamlab setup: done"
