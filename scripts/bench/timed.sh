# Sourced by the GPU scripts here: each timed command leaves a line "NAME rc=N wall_s=S" in $out/times.txt.

# times_line NAME RC T0: the line for a command begun at T0 ($(date +%s.%N)) that ended with RC, now.
times_line() {
  echo "$1 rc=$2 wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $3}")" | tee -a "$out/times.txt"
}

# run NAME CMD...: times one command, its stdout to NAME.jsonl and stderr to NAME.log.
run() {
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  "$@" > "$out/$name.jsonl" 2> "$out/$name.log"
  times_line "$name" $? "$t0"
}
