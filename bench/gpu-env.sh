# Sourced by bench/gpu.sh and bench/gpu-check.sh: finds Node and the JavaScript dependencies on a
# GPU machine, which may have neither (the CUDA images carry Python, not Node, and cannot reach a
# registry). bench/gpu-pack.sh puts both in .tmp/gpu: node.xz (this machine's Node binary, xz) and
# node_modules.tar.gz (only the files the GPU scripts load). Sets NODE and, when node_modules/ is
# absent, NODE_PATH. Expects ROOT (the repository root).
GPU_PACK=$ROOT/.tmp/gpu
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
    echo "no Node >= 20 here: set NODE=/path/to/node, or carry .tmp/gpu from bench/gpu-pack.sh" >&2
    exit 2
  fi
fi
export NODE
if [ ! -d "$ROOT/node_modules/onnxruntime-node" ]; then
  if [ -f "$GPU_PACK/node_modules.tar.gz" ] && [ ! -d "$GPU_PACK/node_modules" ]; then
    # bench/gpu-pack.sh stored paths as node_modules/...: unpack beside, reach them through NODE_PATH.
    tar xzf "$GPU_PACK/node_modules.tar.gz" -C "$GPU_PACK"
  fi
  if [ -d "$GPU_PACK/node_modules/onnxruntime-node" ]; then
    export NODE_PATH=$GPU_PACK/node_modules
  else
    echo "no node_modules (run 'npm ci', or carry .tmp/gpu from bench/gpu-pack.sh)" >&2
    exit 2
  fi
fi
