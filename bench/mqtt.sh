#!/usr/bin/env bash
# mq against mosquitto_pub / mosquitto_sub, side by side, one run, one broker.
#
#   bench/mqtt.sh [path/to/mq]   (N=200000 SIZE=100 ROUNDS=3 CALLS=50 to change it)
#
# Starts its own mosquitto on a free loopback port (max_queued_messages 0, so
# the broker itself drops nothing a publisher handed over), then:
#   1. send: N lines of SIZE bytes at QoS 1, `mq send --lines --qos 1` and
#      `mosquitto_pub -l -q 1`, each with a mosquitto_sub (QoS 1) counting
#      what arrived;
#   2. the same at QoS 0;
#   3. the same at QoS 2;
#   4. listen: N messages waiting in a persistent session (QoS 1), drained by
#      `mq listen -n N --client-id` and by `mosquitto_sub -c -C N` to /dev/null;
#   5. one message per process: CALLS (default 50) runs of `mq send` of one
#      message at QoS 1 and as many of `mosquitto_pub -m`, what a script
#      calling the tool in a loop pays for each call.
# Each comparison runs ROUNDS times, the two tools one after the other.
# Prints times, delivered counts, the mq/mosquitto ratios (and their median), and the CPU time
# the broker spent while each sender ran: mosquitto reads every packet with
# several system calls, so past some rate the broker, not the client, sets
# the time, and a sender that delivers everything cannot be faster than the
# broker's CPU time for all of it.
set -euo pipefail

MQ=${1:-${MQ:-build/mq}}
N=${N:-200000}
SIZE=${SIZE:-100}
ROUNDS=${ROUNDS:-3}
CALLS=${CALLS:-50}
for tool in mosquitto mosquitto_pub mosquitto_sub python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 2; }
done
[ -x "$MQ" ] || { echo "bench: no mq binary at $MQ (build it, or pass its path)" >&2; exit 2; }

work=$(mktemp -d)
broker_pid=
sub_pid=
cleanup() {
  [ -n "$sub_pid" ] && kill "$sub_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  echo "listener $port 127.0.0.1"
  echo "allow_anonymous true"
  echo "max_queued_messages 0"
  echo "max_queued_bytes 0"
  [ "$(id -u)" = 0 ] && echo "user root"
} > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && break
  sleep 0.05
done

python3 - "$N" "$SIZE" > "$work/lines" <<'EOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(n):
    head = "%09d " % i
    out.write(head + "x" * (size - len(head)) + "\n")
EOF

now() { date +%s.%N; }
elapsed() { python3 -c "print('%.2f' % ($2 - $1))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2) if $2 > 0 else 'n/a')"; }
ticks=$(getconf CLK_TCK)
broker_cpu() { awk -v hz="$ticks" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$broker_pid/stat"; }
micros_each() { python3 -c "print('%.0f' % ($1 * 1e6 / $2) if $2 > 0 else 'n/a')"; }
millis_each() { python3 -c "print('%.0f' % ($1 * 1e3 / $2))"; }

# Starts a QoS 1 subscriber counting lines on $1 into $work/count.
start_counter() {
  : > "$work/count"
  stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -F '%p' -d > "$work/count.raw" 2>&1 &
  sub_pid=$!
  for _ in $(seq 200); do grep -q SUBACK "$work/count.raw" 2>/dev/null && break; sleep 0.02; done
}
# Waits until the count stops growing, stops the subscriber, prints the count.
stop_counter() {
  local last=-1 now_count
  while :; do
    now_count=$(grep -c '^[0-9]\{9\} ' "$work/count.raw" || true)
    [ "$now_count" = "$last" ] && break
    [ "$now_count" -ge "$N" ] && break
    last=$now_count
    sleep 1
  done
  kill "$sub_pid" 2>/dev/null || true
  wait "$sub_pid" 2>/dev/null || true
  sub_pid=
  echo "$now_count"
}

# send: prints "seconds delivered broker-cpu-seconds"
measure_send() {
  # One topic length for both senders: mosquitto reads a packet's length a
  # byte at a time, and past 127 bytes it takes two.
  local qos=$1 who=$2 topic
  topic=$(printf 'bench/send/q%s/%05d' "$1" "$RANDOM")
  start_counter "$topic"
  local start end cpu_start
  cpu_start=$(broker_cpu)
  start=$(now)
  if [ "$who" = mq ]; then
    "$MQ" send -q "mqtt://127.0.0.1:$port/$topic" --qos "$qos" --lines < "$work/lines" || echo "bench: mq send exited $?" >&2
  else
    mosquitto_pub -h 127.0.0.1 -p "$port" -t "$topic" -q "$qos" -l < "$work/lines" || echo "bench: mosquitto_pub exited $?" >&2
  fi
  end=$(now)
  local cpu
  cpu=$(elapsed "$cpu_start" "$(broker_cpu)")
  echo "$(elapsed "$start" "$end") $(stop_counter) $cpu"
}

# The median of the rounds' ratios: on a shared machine one round can be off
# by half (the broker's CPU time for the same messages varies that much).
median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:] if x != "n/a"]; print("%.2f" % statistics.median(v) if v else "n/a")' "$@"; }

echo "mq bench: $N messages of $SIZE bytes, $ROUNDS rounds, mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port"
for qos in 1 0 2; do
  ratios=()
  for round in $(seq "$ROUNDS"); do
    read -r mosq_time mosq_count mosq_cpu < <(measure_send "$qos" mosquitto)
    read -r mq_time mq_count mq_cpu < <(measure_send "$qos" mq)
    ratios+=("$(ratio "$mq_time" "$mosq_time")")
    printf 'send QoS %s #%s  mosquitto_pub %6ss delivered %7s | mq send %6ss delivered %7s | time ratio %s\n' \
      "$qos" "$round" "$mosq_time" "$mosq_count" "$mq_time" "$mq_count" "${ratios[-1]}"
    printf '  broker CPU while sending: %ss for mosquitto_pub, %ss for mq | per delivered message: mosquitto_pub %s us, mq %s us\n' \
      "$mosq_cpu" "$mq_cpu" "$(micros_each "$mosq_time" "$mosq_count")" "$(micros_each "$mq_time" "$mq_count")"
  done
  limit=$(case $qos in 0) echo "<= 1.2" ;; 1) echo "<= 1.5" ;; *) echo "none set" ;; esac)
  printf 'send QoS %s: median time ratio %s (goal %s)\n\n' "$qos" "$(median "${ratios[@]}")" "$limit"
done

# listen: both sessions subscribe, the messages are published once (reliably,
# with mq at QoS 1) and wait in both session queues; then each drains its own.
ratios=()
for round in $(seq "$ROUNDS"); do
  topic="bench/listen/$RANDOM"
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$topic" -c -i bench-mosquitto -E
  "$MQ" receive -q "mqtt://127.0.0.1:$port/$topic" --qos 1 --client-id bench-mq -w 0 >/dev/null 2>&1 || true
  "$MQ" send -q "mqtt://127.0.0.1:$port/$topic" --qos 1 --lines < "$work/lines"
  start=$(now)
  mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t "$topic" -c -i bench-mosquitto -C "$N" > /dev/null
  mosq_time=$(elapsed "$start" "$(now)")
  start=$(now)
  "$MQ" listen -q "mqtt://127.0.0.1:$port/$topic" --qos 1 --client-id bench-mq -n "$N" > /dev/null
  mq_time=$(elapsed "$start" "$(now)")
  ratios+=("$(ratio "$mq_time" "$mosq_time")")
  printf 'listen QoS 1 #%s (persistent session, %s waiting)   mosquitto_sub -C %ss | mq listen -n %ss | time ratio %s\n' \
    "$round" "$N" "$mosq_time" "$mq_time" "${ratios[-1]}"
done
printf 'listen QoS 1: median time ratio %s (goal <= 1.2)\n' "$(median "${ratios[@]}")"

# One message per process: connecting, sending and disconnecting, CALLS times.
ratios=()
for round in $(seq "$ROUNDS"); do
  topic="bench/calls/$RANDOM"
  start=$(now)
  for _ in $(seq "$CALLS"); do mosquitto_pub -h 127.0.0.1 -p "$port" -t "$topic" -q 1 -m hello; done
  mosq_time=$(elapsed "$start" "$(now)")
  start=$(now)
  for _ in $(seq "$CALLS"); do "$MQ" send -q "mqtt://127.0.0.1:$port/$topic" --qos 1 hello; done
  mq_time=$(elapsed "$start" "$(now)")
  ratios+=("$(ratio "$mq_time" "$mosq_time")")
  printf 'one message per process #%s (%s calls, QoS 1)   mosquitto_pub %ss (%s ms each) | mq send %ss (%s ms each) | time ratio %s\n' \
    "$round" "$CALLS" "$mosq_time" "$(millis_each "$mosq_time" "$CALLS")" \
    "$mq_time" "$(millis_each "$mq_time" "$CALLS")" "${ratios[-1]}"
done
printf 'one message per process: median time ratio %s (no goal set)\n' "$(median "${ratios[@]}")"
