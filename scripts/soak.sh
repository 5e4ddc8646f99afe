#!/usr/bin/env bash
# A long soak of every randomized reliability suite: rounds of the crash,
# kill-point, fault-injection, metamorphic and model tests, and of the
# cluster's simulation and nemesis runs, each round with
# new seeds (DKV_SEED_BASE) and every other round under the race detector,
# plus a slice of every fuzz target per round, until DURATION has passed.
# The exhaustive corruption and fault sweeps run once, first. At the end it prints
# what was exercised: crash points, kills, faults, corruptions, operations
# and fuzz inputs, added up from the tests' "soak-count:" lines.
#
#   scripts/soak.sh [DURATION]        # 30m, 2h, 90s; default 10m
#   make soak DURATION=30m
#
# A failure stops the soak and prints the end of the failing test's output;
# the whole output is kept under $SOAK_DIR (default /tmp/dkv-soak). Each
# suite names the seed that failed and how to replay it alone.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10m}
case "$duration" in
*h) seconds=$((${duration%h} * 3600)) ;;
*m) seconds=$((${duration%m} * 60)) ;;
*s) seconds=${duration%s} ;;
*[!0-9]* | "")
	echo "soak: DURATION must be a number with s, m or h (e.g. 30m), not \"$duration\"" >&2
	exit 2
	;;
*) seconds=$duration ;;
esac
logdir=${SOAK_DIR:-/tmp/dkv-soak}
mkdir -p "$logdir"

# The size of one round: about two minutes of tests on two cores without
# -race (four with it), then SOAK_FUZZTIME of each fuzz target.
export DKV_CRASH_SEEDS=${DKV_CRASH_SEEDS:-300}
export DKV_CRASH_POINTS=${DKV_CRASH_POINTS:-100000}
export DKV_KILL_PASSES=${DKV_KILL_PASSES:-4}
export DKV_KILL_ROUNDS=${DKV_KILL_ROUNDS:-40}
export DKV_METAMORPHIC_SEEDS=${DKV_METAMORPHIC_SEEDS:-16}
export DKV_FAULT_SEEDS=${DKV_FAULT_SEEDS:-200}
export DKV_MODEL_STEPS=${DKV_MODEL_STEPS:-20000}
export DKV_SIM_SEEDS=${DKV_SIM_SEEDS:-300}
export DKV_CLUSTER_SEEDS=${DKV_CLUSTER_SEEDS:-3}
export DKV_CLUSTER_DURATION=${DKV_CLUSTER_DURATION:-15s}
fuzztime=${SOAK_FUZZTIME:-5s}

# The randomized suites, run every round with new seeds; the exhaustive
# ones (corruption sweeps, the fault matrix) try the same cases every time
# and run once, first.
suites='^(TestCrashRecovery|TestCrashConcurrentWriters|TestCrashPoints|TestKillPoints|TestKillChildProcess|TestMetamorphic|TestRandomOpsModel|TestFaultRandomSweep)$'
# The cluster's: the deterministic simulation and in-process clusters under
# a nemesis, every failing history kept as porcupine HTML in $logdir.
cluster_suites='^(TestSimFaults|TestClusterLinearizableUnderFaults)$'
once='^(TestCorruptionSweep|TestCorruptionSweepLargeLog|TestFaultMatrix|TestFaultNewFiles|TestFaultOpenFlushesRecovered|TestFaultDiskFull|TestFaultTablesRetried)$'

declare -A counts
start=$(date +%s)
deadline=$((start + seconds))

# run LOG go-test-args... runs one go test, adds its soak counts, and stops
# the soak on a failure.
run() {
	local log=$1
	shift
	if ! go test "$@" >"$log" 2>&1; then
		tail -n 60 "$log"
		echo "soak: FAILED after $(($(date +%s) - start))s: go test $* (DKV_SEED_BASE=${DKV_SEED_BASE:-0}); full output in $log"
		exit 1
	fi
	local kind n
	while IFS='=' read -r kind n; do
		counts[$kind]=$((${counts[$kind]:-0} + n))
	done < <(grep -o 'soak-count: [a-z-]*=[0-9]*' "$log" | sed 's/^soak-count: //')
}

echo "soak: $duration, logs in $logdir"
run "$logdir/exhaustive.log" -tags invariants -count=1 -v -timeout 0 -run "$once" .
echo "soak: corruption sweeps and fault matrix passed, $(($(date +%s) - start))s so far"

round=0
while [ "$round" -eq 0 ] || [ "$(date +%s)" -lt "$deadline" ]; do
	round=$((round + 1))
	export DKV_SEED_BASE=$((round * 1000003))
	race=()
	if [ $((round % 2)) -eq 0 ]; then
		race=(-race)
	fi
	run "$logdir/round-$round.log" "${race[@]}" -tags invariants -count=1 -v -timeout 0 -run "$suites" .
	DKV_REPORT_DIR=$logdir run "$logdir/cluster-$round.log" "${race[@]}" -count=1 -v -timeout 0 -run "$cluster_suites" ./cluster/clustertest/
	if ! scripts/fuzz-all.sh "$fuzztime" >"$logdir/fuzz-$round.log" 2>&1; then
		tail -n 60 "$logdir/fuzz-$round.log"
		echo "soak: fuzzing FAILED in round $round; full output in $logdir/fuzz-$round.log"
		exit 1
	fi
	inputs=$(grep -o 'targets, [0-9]* inputs' "$logdir/fuzz-$round.log" | grep -o '[0-9]*')
	counts[fuzz-inputs]=$((${counts[fuzz-inputs]:-0} + inputs))
	echo "soak: round $round passed (seed base $DKV_SEED_BASE${race:+, race}), $(($(date +%s) - start))s so far"
done

echo "soak: $round rounds in $(($(date +%s) - start))s, no failure"
for kind in $(printf '%s\n' "${!counts[@]}" | sort); do
	printf 'soak: %-18s %12d\n' "$kind" "${counts[$kind]}"
done
