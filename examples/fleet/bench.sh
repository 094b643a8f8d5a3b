#!/usr/bin/env bash
# The fleet figures of the README: the boot storm with 10,000 devices and 3 servers on SQLite and
# PostgreSQL over HTTP and HTTPS; server-down with 10,000 and 3,000 devices; the rolling restart
# and the outage with 10,000; each run REPEAT times (default 3), medians, and ratios to SQLite
# over HTTP; then one boot storm of BIG_DEVICES (default 100,000) over 60 s and the devices in
# flight at once (boot storms with --window 0 of IN_FLIGHT sizes). The devices run on the
# event-loop driver (--driver loop). Release build. Writes the tables and pictures under
# target/fleet-bench/.
#
#   bash examples/fleet/bench.sh            # about 20 minutes on 2 cores
#   REPEAT=1 DEVICES=2000 bash examples/fleet/bench.sh
#   MODEL_ONLY=1 bash examples/fleet/bench.sh   # only the model's runs: 1,000,000 devices each (--model)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat=${REPEAT:-3}
devices=${DEVICES:-10000}
outage_devices=${OUTAGE_DEVICES:-10000}
rolling_devices=${ROLLING_DEVICES:-10000}
out=target/fleet-bench
mkdir -p "$out"
cargo build --release --quiet -p scoutlb-fleet -p scout-server
fleet=target/release/scoutlb-fleet

# run NAME ARGS...: one invocation of the tool, its output kept in $out/NAME.txt.
run() {
    local name=$1
    shift
    echo
    echo "### $name: scoutlb-fleet --devices $devices --repeat $repeat $*"
    mkdir -p "$out/$name"
    "$fleet" --devices "$devices" --repeat "$repeat" --png-dir "$out/$name" "$@" | tee "$out/$name.txt" || true
}

# figure NAME ROW: the median (or only value) of ROW in the table of run NAME, as a bare number.
figure() {
    awk -F' [|] ' -v row="$2" '{ n = $1; sub(/ +$/, "", n) } n == row { split($2, v, " "); print v[1]; exit }' "$out/$1.txt"
}

# model NAME ARGS...: one run of the model with MODEL_DEVICES (default 1,000,000) devices, timed as
# a whole process (wall time, peak RSS); the tool prints its own events and simulated time.
model() {
    local name=$1
    shift
    echo
    echo "### model-$name: scoutlb-fleet --model --devices $model_devices $*"
    mkdir -p "$out/model-$name"
    /usr/bin/time -f "model-$name: %e s wall, %U s user, peak RSS %M KiB" \
        "$fleet" --model --devices "$model_devices" --png-dir "$out/model-$name" "$@" 2>&1 |
        tee "$out/model-$name.txt" || true
}

model_devices=${MODEL_DEVICES:-1000000}
# 1,000,000 devices: server-down on 3 servers (333,334 reconnecting at once, 4 runs), a boot storm
# over 5 minutes on 20 servers, a rolling restart. The outage puts every device in a call at once
# for tens of seconds, each call a Connect of its own (README, "Model"): MODEL_SMALL (default
# 100,000) devices.
model server-down server-down
model boot-storm --servers 20 --window 300s boot-storm --defaults spread
model rolling-restart rolling-restart
model_devices=${MODEL_SMALL:-100000} model outage outage
if [ "${MODEL_ONLY:-0}" = 1 ]; then
    exit 0
fi

run boot-sqlite-http boot-storm
run boot-sqlite-https --tls boot-storm
run boot-postgres-http --postgres boot-storm
run boot-postgres-https --postgres --tls boot-storm
run server-down server-down
devices=3000 run server-down-3000 server-down
devices=$rolling_devices run rolling-restart rolling-restart
devices=$rolling_devices repeat=1 run rolling-restart-rebalance rolling-restart --rebalance
repeat=1 run drain-keep drain --rebalance
devices=$outage_devices run outage outage
devices=${BIG_DEVICES:-100000} repeat=1 run boot-big --window 60s boot-storm --defaults spread
for n in ${IN_FLIGHT:-5000 20000}; do
    devices=$n repeat=1 run "in-flight-$n" --window 0 boot-storm --defaults spread
done

echo
echo "### boot storm, $devices devices, window 10s: medians of $repeat runs (ratio to SQLite over HTTP)"
base=$(figure boot-sqlite-http "connect latency p99")
printf '%-20s | %8s | %8s | %8s | %8s | %10s | %8s | %s\n' run "p50 ms" "p99 ms" "max ms" failures migrations "RSS MiB" "p99 ratio"
for name in boot-sqlite-http boot-sqlite-https boot-postgres-http boot-postgres-https; do
    p99=$(figure $name "connect latency p99")
    ratio=$(awk -v a="$p99" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-20s | %8s | %8s | %8s | %8s | %10s | %8s | %s\n' "${name#boot-}" \
        "$(figure $name "connect latency p50")" "$p99" "$(figure $name "connect latency max")" \
        "$(figure $name failures)" "$(figure $name "migrations (not on the first live server of its order)")" \
        "$(figure $name "peak RSS of this process (VmHWM)")" "$ratio"
done
echo
echo "### devices in flight at once (boot storms with --window 0): most calls in flight, failures, peak threads"
for n in ${IN_FLIGHT:-5000 20000}; do
    printf '%8s devices | %8s in flight | %6s failures | %4s threads\n' "$n" \
        "$(figure "in-flight-$n" "most calls in flight at once (loop driver, so far)")" \
        "$(figure "in-flight-$n" failures)" "$(figure "in-flight-$n" "peak threads of this process (sampled every 20 ms)")"
done
echo
echo "### server-down, rolling-restart, outage and the big boot storm: see $out/*.txt and the pictures in $out/*/"
