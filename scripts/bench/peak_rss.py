"""Runs a command and prints, as one JSON line on stderr, its wall seconds and the peak resident host
memory of its largest process (getrusage of the children: the node process that holds the run's arrays).
Host memory is what a browser tab's worker would have to hold (issue 11, "Host memory stays small").

    python3 scripts/bench/peak_rss.py LABEL -- CMD ARGS...
"""
import json
import resource
import subprocess
import sys
import time

label = sys.argv[1]
cmd = sys.argv[sys.argv.index("--") + 1:]
t0 = time.time()
rc = subprocess.call(cmd)
# ru_maxrss is in KiB on Linux.
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"label": label, "rc": rc, "wall_s": round(time.time() - t0, 1), "peak_rss_mib": round(peak / 1024)}), file=sys.stderr)
sys.exit(rc)
