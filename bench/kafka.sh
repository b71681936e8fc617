#!/usr/bin/env bash
# mq against kcat on one Kafka test broker (librdkafka's mock cluster, see
# tests/kafka_test_broker.cpp), side by side in one run:
#   send:    mq send --lines           vs  kcat -P -l
#   receive: mq receive -n N (JSON)    vs  kcat -C -e -J
#            mq receive --format payload  vs  kcat -C -e -f '%s\n'
# Both tools read the same topic (the one mq sent), into /dev/null. Each
# measurement runs ROUNDS times, alternating the tools, and the medians are
# compared. Prints the ratios against the targets (send <= 1.0x, JSON receive
# <= 0.5x, payload receive <= 1.0x, mq's peak RSS <= 100 MiB; a one-shot
# receive of one waiting message by a new group <= 0.3 s) and exits 1 when one
# is missed. Builds nothing. The machine should be otherwise idle: the broker,
# the client and librdkafka's threads share its cores.
#
#   bench/kafka.sh [MQ_BINARY [KAFKA_TEST_BROKER]]
#       (defaults ./build/mq and ./build/tests/kafka_test_broker)
#   N=200000 ROUNDS=5 bench/kafka.sh ...
set -euo pipefail

mq=$(realpath "${1:-./build/mq}")
broker_binary=$(realpath "${2:-$(dirname "$mq")/tests/kafka_test_broker}")
count=${N:-1000000}
rounds=${ROUNDS:-5}
size=100
[ -x "$mq" ] || { echo "kafka.sh: $mq is not an executable" >&2; exit 2; }
[ -x "$broker_binary" ] || { echo "kafka.sh: $broker_binary is not an executable" >&2; exit 2; }
command -v kcat > /dev/null || { echo "kafka.sh: kcat is not installed (Debian package kcat)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "kafka.sh: /usr/bin/time is missing (Debian package time)" >&2; exit 2; }

work=$(mktemp -d)
broker_pid=
cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2> /dev/null && wait "$broker_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/config
unset MQ_QUEUE MQ_CONFIG MQ_PASSWORD

# Ten digits and ninety zeros: 100 bytes, then the newline.
awk -v n="$count" 'BEGIN { pad = sprintf("%090d", 0); for (i = 1; i <= n; i++) printf "%010d%s\n", i, pad }' \
  > "$work/lines"

# The mock cluster keeps at most 5 MiB per partition: give mq's topic room for
# every record (each carries a 32-byte key) with a margin. (kcat's topic is
# only written; its sticky partitioner may overfill a partition, which the
# mock then trims.)
partitions=$(( (count * (size + 60)) / (2 * 1024 * 1024) + 4 ))
topics=()
for round in $(seq "$rounds"); do
  topics+=(--topic "mq-$round:$partitions" --topic "kcat-$round:$partitions")
done
"$broker_binary" "${topics[@]}" > "$work/broker.out" < /dev/null &
broker_pid=$!
for _ in $(seq 500); do [ -s "$work/broker.out" ] && break; sleep 0.01; done
bootstrap=$(head -1 "$work/broker.out")
[ -n "$bootstrap" ] || { echo "kafka.sh: the test broker did not start" >&2; exit 1; }

now() { date +%s.%N; }

# measure NAME COMMAND...: appends "seconds rss_kib" to $work/NAME.
measure() {
  local name=$1; shift
  local start end
  start=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$@"
  end=$(now)
  echo "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }') $(cat "$work/rss")" >> "$work/$name"
}

median() { sort -n "$work/$1" | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
peak_rss() { sort -n -k2 "$work/$1" | tail -1 | awk '{ print $2 }'; }

check_count() {
  local topic=$1 expected=$2 group=$3
  local got
  got=$("$mq" -q "kafka://$bootstrap/$topic" --group "$group" count)
  [ "$got" = "$expected" ] || { echo "kafka.sh: $topic has $got messages for group $group, expected $expected" >&2; exit 1; }
}

echo "mq:       $mq"
echo "kcat:     $(kcat -V 2>&1 | awk '/^Version/ { print $2 }')"
echo "broker:   $bootstrap ($partitions partitions per topic)"
echo "messages: $count x $size bytes, $rounds rounds, medians"

# both FIRST SECOND: runs the two, swapping their order every other round so
# that neither always runs right after the other's load.
both() {
  if [ $((round % 2)) = 1 ]; then "$1"; "$2"; else "$2"; "$1"; fi
}
kcat_send() { measure kcat-send kcat -P -b "$bootstrap" -t "kcat-$round" -l "$work/lines"; }
mq_send() { measure mq-send "$mq" -q "kafka://$bootstrap/mq-$round" send --lines -f "$work/lines"; }
kcat_json() { measure kcat-json kcat -C -b "$bootstrap" -t "mq-$round" -e -q -J > /dev/null; }
mq_json() { measure mq-json "$mq" -q "kafka://$bootstrap/mq-$round" --group json receive -n "$count" > /dev/null; }
kcat_payload() { measure kcat-payload kcat -C -b "$bootstrap" -t "mq-$round" -e -q -f '%s\n' > /dev/null; }
mq_payload() {
  measure mq-payload "$mq" -q "kafka://$bootstrap/mq-$round" --group payload receive -n "$count" --format payload \
    > /dev/null
}

for round in $(seq "$rounds"); do
  both kcat_send mq_send
  check_count "mq-$round" "$count" check
  both kcat_json mq_json
  check_count "mq-$round" 0 json
  both kcat_payload mq_payload
  check_count "mq-$round" 0 payload
done

# One waiting message, read by a group that never read the topic: mq must
# not pay for a group join (kcat -G does, for reference).
latency_topic=latency
"$mq" -q "kafka://$bootstrap/$latency_topic" send "waiting" > /dev/null
for i in $(seq 5); do
  measure mq-one "$mq" -q "kafka://$bootstrap/$latency_topic" --group "once-$i" receive > /dev/null
done
measure kcat-group timeout 60 kcat -b "$bootstrap" -G "kcat-fresh" -X auto.offset.reset=earliest -c 1 -q "$latency_topic" \
  > /dev/null

missed=0
report() {
  local label=$1 mine=$2 theirs=$3 target=$4
  local a b
  a=$(median "$mine")
  b=$(median "$theirs")
  awk -v label="$label" -v a="$a" -v b="$b" -v t="$target" -v n="$count" 'BEGIN {
    r = a / b
    printf "%-34s mq %6.2f s  kcat %6.2f s  %9.0f msg/s  ratio %.3fx (target <= %.1fx) %s\n",
      label, a, b, n / a, r, t, (r <= t ? "ok" : "MISSED")
    exit (r <= t ? 0 : 1)
  }' || missed=1
}
report "send --lines / kcat -P -l" mq-send kcat-send 1.0
report "receive JSON / kcat -C -e -J" mq-json kcat-json 0.5
report "receive payload / kcat -f %s" mq-payload kcat-payload 1.0

awk -v a="$(median mq-one)" -v k="$(median kcat-group)" 'BEGIN {
  printf "%-34s mq %6.2f s  (kcat -G %.2f s)  target <= 0.30 s %s\n", "receive 1 waiting, fresh group", a, k, (a <= 0.3 ? "ok" : "MISSED")
  exit (a <= 0.3 ? 0 : 1) }' || missed=1

rss=0
for name in mq-send mq-json mq-payload; do
  r=$(peak_rss "$name")
  [ "$r" -gt "$rss" ] && rss=$r
done
awk -v r="$rss" 'BEGIN { m = r / 1024; printf "%-34s %.1f MiB (target <= 100 MiB) %s\n", "mq peak RSS", m, (m <= 100 ? "ok" : "MISSED") }'
[ $((rss / 1024)) -le 100 ] || missed=1
exit $missed
