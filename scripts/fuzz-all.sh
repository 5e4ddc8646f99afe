#!/usr/bin/env bash
# Runs every fuzz target of the engine module (every `func FuzzXxx` in a
# _test.go file outside bench/) for a while each, and prints how many inputs
# each one ran. A failing input is saved by `go test` under the target's
# testdata/fuzz/ directory and the script stops with its output.
#
#   scripts/fuzz-all.sh [FUZZTIME] [go test flags...]
#   scripts/fuzz-all.sh 5s -race -tags invariants    # CI's short pass
#   scripts/fuzz-all.sh 10m                          # a long run (make fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
shift || true
total=0
targets=0
while IFS= read -r file; do
	pkg="./$(dirname "${file#./}")"
	for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		if ! out=$(go test "$@" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10x "$pkg" 2>&1); then
			echo "$out"
			echo "fuzz: $name in $pkg FAILED (the input is saved under $pkg/testdata/fuzz/$name)"
			exit 1
		fi
		execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2)
		execs=${execs:-0}
		printf 'fuzz: %-24s %-18s %10d inputs\n' "$name" "$pkg" "$execs"
		total=$((total + execs))
		targets=$((targets + 1))
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^\./bench/' | sort)
echo "fuzz: $targets targets, $total inputs, no failure"
