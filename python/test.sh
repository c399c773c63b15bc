#!/usr/bin/env bash
# The PyTorch trainer's tests (python/mohawk_torch) on CPU, with Debian's python3-torch and python3-numpy
# (PYTHON picks another interpreter, e.g. a venv with transformers, whose tests then run too). test_studio
# runs the studio itself (node bin/mohawk.mjs, which builds dist-node when it is missing) and is skipped
# without node. Ends with one line "python: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/tests"
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "python/test.sh: $PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)" >&2
  exit 1
fi
CUDA_VISIBLE_DEVICES= PYTHONDONTWRITEBYTECODE=1 "$PY" - "$@" <<'PYEOF'
import sys
import unittest

names = sys.argv[1:] or ["test_parts", "test_stages", "test_student_torch", "test_studio"]
suite = unittest.defaultTestLoader.loadTestsFromNames(names)
r = unittest.TextTestRunner(verbosity=2).run(suite)
bad = len(r.failures) + len(r.errors)
print(f"python: {r.testsRun - bad - len(r.skipped)} passed, {bad} failed, {len(r.skipped)} skipped")
sys.exit(1 if bad or r.testsRun == 0 else 0)
PYEOF
