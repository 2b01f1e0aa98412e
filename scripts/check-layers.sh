#!/usr/bin/env bash
# check-layers.sh LAYER...: the layers bottom first. Fails, naming the line,
# on an #include "dir/x.h" in a layer's folder that points at a later layer:
# code may include its own folder's headers and those of the layers below.
# bpf/ (shared record types) and proto/ (generated) are below every layer.
set -u
cd "$(dirname "$0")/.."
declare -A rank
i=0
for l in "$@"; do rank[$l]=$i; i=$((i + 1)); done
bad=0
for l in "$@"; do
	[ -d "$l" ] || continue
	while IFS= read -r hit; do
		file=${hit%%:*}
		rest=${hit#*:}
		line=${rest%%:*}
		dir=$(printf '%s' "$rest" | sed -n 's/.*#include "\([^/"]*\)\/.*/\1/p')
		[ -n "$dir" ] || continue
		case "$dir" in bpf|proto|tests) continue ;; esac
		if [ -z "${rank[$dir]+x}" ]; then
			echo "$file:$line: includes from $dir/, which is not a layer"
			bad=1
		elif [ "${rank[$dir]}" -gt "${rank[$l]}" ]; then
			echo "$file:$line: $l/ includes $dir/, a layer above it"
			bad=1
		fi
	done < <(grep -Hn '^#include "' "$l"/*.c "$l"/*.h 2>/dev/null)
done
[ $bad -eq 0 ] || { echo "check-layers: includes point up the layers (ARCHITECTURE.md)"; exit 1; }
