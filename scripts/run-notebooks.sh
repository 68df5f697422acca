#!/usr/bin/env bash
# Re-executes example notebooks at their full budget, in place, through Jupyter with the chamlab
# kernel, so that the outputs committed with them come from a real run:
#
#   scripts/run-notebooks.sh                       every notebook in notebooks/
#   scripts/run-notebooks.sh notebooks/quickstart.ipynb
#
# Run folders go to a fresh temporary folder (CHAMLAB_RUNS_DIR, unless set), so every training cell
# really trains instead of finding a finished run. A notebook whose cells fail is left unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${CHAMLAB_JUPYTER_PYTHON:-/usr/bin/python3}
npx tsc -p tsconfig.json
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
node bin/chamlab.js kernel install --prefix "$prefix" >/dev/null
export JUPYTER_PATH="$prefix/share/jupyter"
export CHAMLAB_RUNS_DIR=${CHAMLAB_RUNS_DIR:-$prefix/runs}
unset CHAMLAB_NOTEBOOK_BUDGET
[ $# -gt 0 ] || set -- notebooks/*.ipynb
for nb in "$@"; do
  echo "== $nb"
  out="$prefix/$(basename "$nb")"
  start=$SECONDS
  "$PYTHON" -m nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=chamlab \
    --ExecutePreprocessor.timeout=3600 --output-dir "$prefix" --output "$(basename "$nb")" "$nb"
  # tslab reports cell errors as stderr text: refuse a notebook that printed any.
  if "$PYTHON" -c 'import json,sys; nb=json.load(open(sys.argv[1])); sys.exit(any(o.get("name")=="stderr" or o["output_type"]=="error" for c in nb["cells"] for o in c.get("outputs",[])))' "$out"; then
    cp "$out" "$nb"
    echo "   done in $((SECONDS - start)) s"
  else
    echo "   a cell reported an error; $nb left unchanged (executed copy: $out)" >&2
    trap - EXIT
    exit 1
  fi
done
