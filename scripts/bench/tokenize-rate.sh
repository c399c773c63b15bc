#!/usr/bin/env bash
# Tokenization throughput (issue 13, part 5): `mohawk tokenize` (worker threads) beside Python `tokenizers`
# on the same 100 MiB of text and the same CPU, for the built-in stories260K tokenizer and real Llama-3 and
# Qwen3 tokenizer files (the @lenml
# packages' models/ folders, copied under $TOK or found in node_modules). Needs dist-node/ (npm run
# build:node) and python3 with tokenizers. Writes $OUT/tokenize-*.json and a log.
#   OUT=bench-out bash scripts/bench/tokenize-rate.sh [MIB]
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
MIB=${1:-100}
TOK=${TOK:-node_modules/@lenml}
data=/tmp/tokenize-rate-$MIB.txt
[ -f "$data" ] || python3 scripts/bench/tokenize_rate.py make --out "$data" --mib "$MIB" > "$out/tokenize-corpus.json"
cpus=$(nproc)
for fam in stories260K llama3 qwen3; do
  dir=$TOK/tokenizer-$fam/models
  [ "$fam" = stories260K ] && dir=public/teacher/stories260K
  for t in 1 "$cpus"; do
    python3 scripts/bench/tokenize_rate.py rate --tokenizer "$dir" --data "$data" --threads "$t" > "$out/tokenize-$fam-python-$t.json" 2>> "$out/tokenize.log"
    echo "$fam python threads=$t $(cat "$out/tokenize-$fam-python-$t.json")"
  done
  for w in 1 $((cpus - 1)); do
    node dist-node/mohawk.mjs tokenize --teacher "$dir" --data "$data" --token-cache off --workers "$w" --json > "$out/tokenize-$fam-node-$w.json" 2>> "$out/tokenize.log"
    echo "$fam node workers=$w $(cat "$out/tokenize-$fam-node-$w.json")"
  done
done
