# Sourced by scripts/gpu/bench.sh and scripts/gpu/check.sh: everything both need around the GPU, set
# up once and the same way for both. A GPU machine may lack Node, node_modules and the Vulkan loader
# (CUDA images often carry Python, not Node, have NVIDIA's Vulkan driver but no libvulkan.so.1, and
# may not reach a registry); scripts/gpu/pack.sh puts all three in .tmp/gpu: node.xz (this machine's
# Node binary), node_modules.tar.gz (only the files the GPU scripts load), libvulkan1_*.deb.
# Expects ROOT (the repository root); honours DEB (a libvulkan1 .deb to use even where the system
# has a loader) and ICD (a Vulkan driver manifest). Sets NODE, NODE_PATH (when node_modules/ is
# absent), LD_LIBRARY_PATH, VK_DRIVER_FILES and XDG_RUNTIME_DIR. Says what it chose on stderr.
GPU_PACK=$ROOT/.tmp/gpu
mkdir -p "$GPU_PACK"

# --- Node and node_modules ----------------------------------------------------------------------
if [ -z "${NODE:-}" ]; then
  if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" = true ]; then
    NODE=node
  elif [ -f "$GPU_PACK/node.xz" ]; then
    if [ ! -x "$GPU_PACK/bin/node" ]; then
      mkdir -p "$GPU_PACK/bin" && xz -dc "$GPU_PACK/node.xz" > "$GPU_PACK/bin/node.part" && chmod +x "$GPU_PACK/bin/node.part" && mv "$GPU_PACK/bin/node.part" "$GPU_PACK/bin/node"
    fi
    NODE=$GPU_PACK/bin/node
    echo "using the packed Node from .tmp/gpu/node.xz" >&2
  else
    echo "no Node >= 20 here: set NODE=/path/to/node, or carry .tmp/gpu from scripts/gpu/pack.sh" >&2
    exit 2
  fi
fi
export NODE
if [ ! -d "$ROOT/node_modules/onnxruntime-node" ]; then
  if [ -f "$GPU_PACK/node_modules.tar.gz" ] && [ ! -d "$GPU_PACK/node_modules" ]; then
    # pack.sh stored paths as node_modules/...: unpack beside, reach them through NODE_PATH.
    tar xzf "$GPU_PACK/node_modules.tar.gz" -C "$GPU_PACK"
  fi
  if [ -d "$GPU_PACK/node_modules/onnxruntime-node" ]; then
    export NODE_PATH=$GPU_PACK/node_modules
  else
    echo "no node_modules (run 'npm ci', or carry .tmp/gpu from scripts/gpu/pack.sh)" >&2
    exit 2
  fi
fi

# --- XDG_RUNTIME_DIR: the Vulkan loader complains on every instance creation without one ---------
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR=$GPU_PACK/xdg
fi
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# --- Vulkan loader: the system's, else Debian's libvulkan1 .deb unpacked under .tmp/gpu ----------
# ldconfig's list is read whole first: `ldconfig -p | grep -q` under pipefail fails at random when
# grep exits on its first match and ldconfig dies of SIGPIPE.
LDCACHE=$(ldconfig -p 2>/dev/null || true)
SYSTEM_VULKAN=$(printf '%s\n' "$LDCACHE" | awk '/libvulkan\.so\.1 / && !found {print $NF; found = 1}')
if [ -n "$SYSTEM_VULKAN" ] && [ -z "${DEB:-}" ]; then
  echo "vulkan loader: system ($SYSTEM_VULKAN)" >&2
else
  # Not committed (a Debian binary): scripts/gpu/pack.sh puts it in .tmp/gpu, or where apt works:
  #   mkdir -p scripts/gpu/vendor && (cd scripts/gpu/vendor && apt-get download libvulkan1)
  [ -n "${DEB:-}" ] || DEB=$(ls "$GPU_PACK"/libvulkan1_*.deb "$ROOT"/scripts/gpu/vendor/libvulkan1_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
    echo "no Vulkan loader on this machine and no libvulkan1 .deb: run scripts/gpu/pack.sh and carry .tmp/gpu (or pass --deb FILE.deb to check.sh)" >&2
    exit 2
  fi
  if [ ! -e "$GPU_PACK/vulkan/.from-$(basename "$DEB")" ]; then
    rm -rf "$GPU_PACK/vulkan" && mkdir -p "$GPU_PACK/vulkan"
    if command -v dpkg >/dev/null; then
      dpkg -x "$DEB" "$GPU_PACK/vulkan"
    else
      # No dpkg (not Debian-based): a .deb is an ar archive holding data.tar.*.
      (cd "$GPU_PACK/vulkan" && ar x "$DEB" && tar xf data.tar.* && rm -f data.tar.* control.tar.* debian-binary)
    fi
    touch "$GPU_PACK/vulkan/.from-$(basename "$DEB")"
  fi
  LIBDIR=$(dirname "$(find "$GPU_PACK/vulkan" -name 'libvulkan.so.1*' | head -n1)")
  export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "vulkan loader: $(basename "$DEB") unpacked into $LIBDIR" >&2
fi

# --- Vulkan driver (ICD): NVIDIA's where the driver puts it on these machines, else lavapipe ------
if [ -z "${ICD:-}" ]; then
  ICD=${VK_DRIVER_FILES:-}
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
           /usr/share/vulkan/icd.d/lvp_icd.json /usr/share/vulkan/icd.d/lvp_icd.x86_64.json; do
    [ -n "$ICD" ] && break
    [ -f "$f" ] && ICD=$f
  done
fi
if [ -z "$ICD" ] || [ ! -f "$ICD" ]; then
  echo "no Vulkan driver manifest (ICD) found: pass --icd FILE.json to check.sh or set VK_DRIVER_FILES" >&2
  exit 2
fi
export VK_DRIVER_FILES=$ICD
unset VK_ICD_FILENAMES
# The NVIDIA ICD names its library (libGLX_nvidia.so.0) without a path: make the driver's lib dir
# visible where containers mount it.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
done
echo "vulkan driver: $ICD" >&2
command -v nvidia-smi >/dev/null && { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /' >&2 || true; }
true
