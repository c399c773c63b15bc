"""Runs a command and prints, as one JSON line on stderr, its wall seconds and the peak resident host
memory of its largest process (getrusage of the children: the node process that holds the run's arrays).
Host memory is what a browser tab's worker would have to hold (issue 11, "Host memory stays small").
With --samples FILE, the child's resident memory every 0.2 s as "unix-seconds MiB" lines, to line up
with the run's own timestamped output (which stage held what).

    python3 scripts/bench/peak_rss.py LABEL [--samples FILE] -- CMD ARGS...
"""
import json
import resource
import subprocess
import sys
import threading
import time

label = sys.argv[1]
samples = sys.argv[sys.argv.index("--samples") + 1] if "--samples" in sys.argv[: sys.argv.index("--")] else None
cmd = sys.argv[sys.argv.index("--") + 1:]
t0 = time.time()
child = subprocess.Popen(cmd)


def sample() -> None:
    with open(samples, "w") as f:
        while child.poll() is None:
            try:
                with open(f"/proc/{child.pid}/status") as s:
                    rss = next(int(l.split()[1]) for l in s if l.startswith("VmRSS:"))
                f.write(f"{time.time():.2f} {rss // 1024}\n")
                f.flush()
            except (OSError, StopIteration):
                pass
            time.sleep(0.2)


if samples:
    threading.Thread(target=sample, daemon=True).start()
rc = child.wait()
# ru_maxrss is in KiB on Linux.
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"label": label, "rc": rc, "wall_s": round(time.time() - t0, 1), "peak_rss_mib": round(peak / 1024)}), file=sys.stderr)
sys.exit(rc)
