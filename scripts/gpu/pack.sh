#!/usr/bin/env bash
# Prepares what scripts/gpu/check.sh and scripts/gpu/bench.sh need on a machine that cannot reach a registry,
# small enough to carry (the device runner takes 64 MiB of ignored files): .tmp/gpu/ with
#   - node_modules.tar.gz: only the files the gradcheck, the training and the benchmark actually load
#     (traced from require.cache on CPU runs) plus onnxruntime-node's linux-x64 native libraries;
#   - node.xz: this machine's Node binary (the GPU images have none);
#   - libvulkan1_*.deb: Debian's Vulkan loader (apt-get download), unpacked there by env.sh.
# Carry `dist` and `.tmp/gpu`; env.sh unpacks the modules when node_modules/ is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.tmp/gpu
mkdir -p "$OUT"
[ -f dist/scripts/gpu/train.js ] || { echo "gpu-pack: run 'npm run build' first" >&2; exit 2; }

trace=$(mktemp -d)
cat > "$trace/hook.js" <<'JS'
process.on('exit', () => {
  const files = Object.keys(require.cache).filter((f) => f.includes('/node_modules/'));
  require('fs').appendFileSync(process.env.CHAMLAB_TRACE, files.join('\n') + '\n');
});
JS
export CHAMLAB_TRACE=$trace/files
node -r "$trace/hook.js" bin/chamlab.js gradcheck >/dev/null
node -r "$trace/hook.js" dist/scripts/gpu/train.js --steps 2 --device cpu --no-compare >/dev/null
node -r "$trace/hook.js" dist/src/runtime/probe-child.js adapter >/dev/null || true
# bench.sh's side-by-side run (dist/bench/run.js): the same modules plus the benchmark's own.
node -r "$trace/hook.js" dist/bench/run.js --config micro --steps 1 --warmup 1 --no-torch --no-peak --no-compile --json >/dev/null

# Loaded files, every package.json of the packages they belong to (module resolution reads nested
# ones too: onnxruntime-common's dist/cjs/package.json says "commonjs"), the native part.
# require.cache holds real paths: node_modules may be a link to another checkout's folder.
nm=$(readlink -f node_modules)
sed -e "s|^$nm/|node_modules/|" -e "s|^$PWD/||" "$trace/files" | grep '^node_modules/' | sort -u > "$trace/loaded"
{
  cat "$trace/loaded"
  for pkg in $(sed -E 's|(.*node_modules/(@[^/]+/)?[^/]+)/.*|\1|' "$trace/loaded" | sort -u); do
    find "$pkg" -name package.json -not -path '*/node_modules/*/node_modules/*'
  done
  find node_modules/onnxruntime-node/bin/napi-v6/linux/x64 -type f
} | sort -u > "$trace/list"
tar czf "$OUT/node_modules.tar.gz" -T "$trace/list"
rm -rf "$trace"

# Node itself: the CUDA images have Python but no Node (env.sh unpacks it there).
if [ ! -f "$OUT/node.xz" ]; then
  xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > "$OUT/node.xz.part" && mv "$OUT/node.xz.part" "$OUT/node.xz"
fi

if ! ls "$OUT"/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd "$OUT" && apt-get download libvulkan1)
fi
du -sh "$OUT"/* dist | sed 's/^/gpu-pack: /'
