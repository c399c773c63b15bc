#!/usr/bin/env bash
# scripts/student_torch.py against `mohawk eval` (and the float64 student reference for Llama-family
# teachers) on random students of the fixture architectures it reads (scripts/student/export-random.ts):
#   [PYTHON=python-with-torch] bash scripts/student/check.sh [OUT]     (from the repository root)
# The PyTorch side runs in float64; `mohawk eval` in f32 on the WebGPU adapter, so they agree to
# about 1e-6 relative; the check fails beyond 1e-4 (absolute, nats/token).
set -euo pipefail
py=${PYTHON:-python3}
out=${1:-$(mktemp -d)}
# The exporter imports the engine, whose WGSL comes in through Vite's import.meta.glob: bundle it first.
build=$(mktemp -d)
node node_modules/vite/bin/vite.js build --config vite.node.config.ts --ssr scripts/student/export-random.ts --outDir "$build" --logLevel error
node "$build/mohawk.mjs" "$out" > /dev/null
rm -rf "$build"
fail=0
for dir in "$out"/*/; do
  name=$(basename "$dir")
  wgsl=$(node bin/mohawk.mjs eval --model "$dir" --data "$dir/data.txt" --max-tokens 24 --json)
  if "$py" -c 'import tokenizers' 2> /dev/null; then src=(--data "$dir/data.txt"); else src=(--ids "$dir/ids.json"); fi
  torch=$("$py" scripts/student_torch.py --model "$dir" "${src[@]}" --max-tokens 24)
  ref=$(cat "$dir/reference.json" 2> /dev/null || echo '{}')
  python3 - "$name" "$wgsl" "$torch" "$ref" "${src[0]}" <<'PY' || fail=1
import json, sys
name, w, t, r, how = sys.argv[1], *map(json.loads, sys.argv[2:5]), sys.argv[5]
ok = abs(w["mean_nll"] - t["mean_nll"]) < 1e-4 and w["tokens"] == t["tokens"]
if "mean_nll" in r:
    ok = ok and abs(r["mean_nll"] - t["mean_nll"]) < 1e-9
print(f"{name:18s} mohawk eval {w['mean_nll']:.7f}  student_torch.py {t['mean_nll']:.7f} ({how[2:]})  "
      f"f64 reference {r.get('mean_nll', float('nan')):.7f}  tokens {t['tokens']}  {'ok' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
PY
done
exit $fail
