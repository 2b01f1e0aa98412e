#!/usr/bin/env bash
# Runs cmocka test binaries and prints one total: "N passed, N failed"
# (and "N skipped" when some were: a missing Go toolchain, saying which).
# A binary that dies before its summary counts as one failure.
set -u
passed=0
failed=0
skipped=0
for t in "$@"; do
	out=$(CMOCKA_MESSAGE_OUTPUT=stdout "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	# A binary may run several groups, each with its own summary.
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | paste -sd+ | sed 's/^$/0/')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | paste -sd+)
	s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | paste -sd+)
	p=$((p))
	skipped=$((skipped + ${s:-0}))
	passed=$((passed + p))
	if [ -n "$f" ]; then
		failed=$((failed + (f)))
	elif [ $rc -ne 0 ] || [ -z "$p" ]; then
		echo "run-unit: $t exited with status $rc before its summary"
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed$([ $skipped -eq 0 ] || echo ", $skipped skipped")"
[ $failed -eq 0 ]
