#!/usr/bin/env bash
# Peak memory of streaming a generated corpus through the command line (issue 13): the built-in
# TinyStories slice repeated to SIZE_MIB, read and tokenized by `mohawk tokenize` into the token store
# that `mohawk distill` reuses (the same reading and tokenizing distill does first). Prints the peak
# RSS, the store's size and the difference, which is what reading and tokenizing hold beyond the store.
#   bash scripts/bench/corpus-memory.sh 128
set -euo pipefail
SIZE_MIB=${1:-128}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
node -e "
const fs = require('fs');
const t = fs.readFileSync('$ROOT/public/corpus/tinystories-2MiB.txt');
const sep = Buffer.from('\n<|endoftext|>\n');
const fd = fs.openSync('$WORK/corpus.txt', 'w');
for (let n = 0; n < $SIZE_MIB * 2 ** 20; n += t.length + sep.length) { fs.writeSync(fd, t); fs.writeSync(fd, sep); }
fs.closeSync(fd);"
BIN=${BIN:-$ROOT/bin/mohawk.mjs}
/usr/bin/time -v node "$BIN" tokenize --teacher "$ROOT/public/teacher/stories260K" --data "$WORK/corpus.txt" \
  --token-cache "$WORK/cache" > "$WORK/log" 2>&1 || true
grep -E '^corpus|^tokenized' "$WORK/log"
rss_kb=$(grep 'Maximum resident' "$WORK/log" | awk '{print $NF}')
store_b=$(stat -c %s "$WORK"/cache/*/ids.bin)
echo "corpus $(($(stat -c %s "$WORK/corpus.txt") / 2**20)) MiB: peak RSS $((rss_kb / 1024)) MiB, token store $((store_b / 2**20)) MiB, beyond the store $(((rss_kb * 1024 - store_b) / 2**20)) MiB"
