#!/usr/bin/env bash
# Throughput of the memory backend through the mq binary: send -l of 1,000,000
# lines of 100 bytes, receive of them all as JSON into /dev/null, and the
# latency of mq count. Builds nothing.
#
#   bench/memory.sh [MQ_BINARY]      (default ./build/mq)
#   N=200000 bench/memory.sh ...     (fewer messages)
set -euo pipefail

mq=$(realpath "${1:-./build/mq}")
count=${N:-1000000}
[ -x "$mq" ] || { echo "memory.sh: $mq is not an executable" >&2; exit 2; }

work=$(mktemp -d)
# The store where the memory backend keeps it by default: in RAM.
store_parent=/dev/shm
[ -d "$store_parent" ] && [ -w "$store_parent" ] || store_parent=$work
store=$(mktemp -d -p "$store_parent" mq-bench.XXXXXX)
trap 'rm -rf "$work" "$store"' EXIT
# Our own store and no user configuration.
export MQ_MEMORY_DIR=$store/store XDG_CONFIG_HOME=$work/config
unset MQ_QUEUE MQ_CONFIG MQ_PASSWORD
queue=memory://bench

# Ten digits and ninety zeros: 100 bytes, then the newline.
awk -v n="$count" 'BEGIN { pad = sprintf("%090d", 0); for (i = 1; i <= n; i++) printf "%010d%s\n", i, pad }' \
  > "$work/lines"

have_time=1
[ -x /usr/bin/time ] || { have_time=0; echo "note: /usr/bin/time is missing: no peak RSS, bash's time instead"; }

now() { date +%s.%N; }

# Reports go to fd 3, so that a command's own redirection leaves them alone.
exec 3>&1

# run LABEL COMMAND...: wall time, msg/s and peak RSS of one run.
run() {
  local label=$1; shift
  local start end
  start=$(now)
  if [ $have_time = 1 ]; then
    /usr/bin/time -f %M -o "$work/rss" "$@"
  else
    time "$@"
  fi
  end=$(now)
  awk -v label="$label" -v n="$count" -v s="$start" -v e="$end" -v rss="$( [ $have_time = 1 ] && cat "$work/rss" || echo '?')" \
    'BEGIN { t = e - s; printf "%-30s %9.2f s  %10.0f msg/s  peak RSS %s KiB\n", label, t, n / t, rss }' >&3
}

echo "mq: $mq"
echo "messages: $count x 100 bytes; store: $MQ_MEMORY_DIR"
run "send -l" "$mq" -q "$queue" send -l -f "$work/lines"
[ "$("$mq" -q "$queue" count)" = "$count" ] || { echo "memory.sh: count after send is wrong" >&2; exit 1; }

# mq count on the full queue.
if command -v hyperfine > /dev/null; then
  hyperfine --style none --warmup 3 --runs 20 -N --export-json "$work/count.json" "$mq -q $queue count" \
    > /dev/null 2> "$work/hyperfine.err" || { cat "$work/hyperfine.err" >&2; exit 1; }
  median=$(awk -F: '/"median"/ { gsub(/[ ,]/, "", $2); print $2; exit }' "$work/count.json")
  awk -v m="$median" 'BEGIN { printf "%-30s %9.2f ms median of 20 runs (hyperfine)\n", "count (full queue)", m * 1000 }'
else
  for i in $(seq 20); do
    s=$(now); "$mq" -q "$queue" count > /dev/null; e=$(now)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.6f\n", e - s }'
  done | sort -n | awk '{ t[NR] = $1 } END { printf "%-30s %9.2f ms median of 20 runs\n", "count (full queue)", (t[10] + t[11]) / 2 * 1000 }'
fi

run "receive -n N > /dev/null" "$mq" -q "$queue" receive -n "$count" -w 0 > /dev/null
[ "$("$mq" -q "$queue" count)" = 0 ] || { echo "memory.sh: messages left after receive" >&2; exit 1; }

# Into a pipe each line waits for its reader (| head -1 safety): slower by design.
pipe_count=$(( count < 100000 ? count : 100000 ))
head -n "$pipe_count" "$work/lines" | "$mq" -q "$queue" send -l
count=$pipe_count run "receive -n $pipe_count | wc -l" sh -c "\"$mq\" -q $queue receive -n $pipe_count -w 0 | wc -l > /dev/null"
