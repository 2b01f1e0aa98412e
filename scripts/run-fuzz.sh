#!/usr/bin/env bash
# run-fuzz.sh SECONDS TARGET...: runs each libFuzzer target for SECONDS
# from its corpus and seeds, as many at once as there are CPUs; a target's
# output is shown when it fails. Ends with "fuzz: N passed, N failed".
set -u
seconds=$1
shift
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
export seconds results
printf '%s\n' "$@" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c '
	f={}; name=$(basename "$f"); log=$results/$name.log
	mkdir -p "$f.corpus"
	if "$f" -max_total_time="$seconds" -max_len=65536 "$f.corpus" \
	    "tests/fuzz/seeds/$name" >"$log" 2>&1; then
		echo "fuzz: $name ($seconds s): $(grep -E "^#[0-9]+" "$log" | tail -n1)"
		touch "$results/$name.ok"
	else
		cat "$log"; echo "fuzz: $name failed"
	fi'
passed=$(find "$results" -name '*.ok' | wc -l)
failed=$(($# - passed))
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
