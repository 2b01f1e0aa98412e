#!/usr/bin/env bash
# `make test`: builds everything, then runs the unit tests, the unit tests
# under AddressSanitizer+UndefinedBehaviorSanitizer, each fuzz target for a
# few seconds, and the integration tests (real BPF, as root). Ends with the
# line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# Builds use every CPU; the tests themselves run one at a time.
MAKE="${MAKE:-make} -j$(nproc 2>/dev/null || echo 2)"
total_passed=0
total_failed=0

count() {  # count LOG: adds the "N passed, N failed" figures of LOG's last summary
	local line p f
	line=$(grep -E '[0-9]+ (passed|failed)' "$1" | tail -n1)
	p=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	total_passed=$((total_passed + ${p:-0}))
	for f in $(printf '%s' "$line" | grep -oE '[0-9]+ (failed|error|errors)' | grep -oE '[0-9]+'); do
		total_failed=$((total_failed + f))
	done
}

stage() {  # stage NAME CMD...: runs a stage, counts its tests
	local name=$1 log rc start=$SECONDS
	shift
	log=$(mktemp)
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	echo "== $name: $((SECONDS - start)) s"
	count "$log"
	if [ "$rc" -ne 0 ] && ! grep -qE '[0-9]+ failed' "$log"; then
		# The stage failed without running its tests (a build error).
		echo "== $name: failed (status $rc)"
		total_failed=$((total_failed + 1))
	fi
	rm -f "$log"
}

if ! $MAKE --no-print-directory all; then
	echo "0 passed, 1 failed"
	exit 1
fi
stage unit $MAKE --no-print-directory unit
stage unit-sanitize $MAKE --no-print-directory unit-sanitize
# A short run of each fuzz target (seeded), as a regression check.
stage fuzz $MAKE --no-print-directory fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-6}
if [ "$(id -u)" -eq 0 ]; then
	stage integration $MAKE --no-print-directory integration
else
	stage integration sudo -E $MAKE --no-print-directory integration
fi

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
