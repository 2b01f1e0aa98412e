#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that building ignis, `make run`
# and `make test` need. Idempotent: installs only what is missing.
# The Go toolchains the tests build with: Debian's golang-go (1.19), and
# golang-1.21-go / golang-1.23-go (/usr/lib/go-1.2x/bin/go), which only the
# official bookworm-backports archive has: its source is added when one of
# them is missing and no source names that suite yet. They are optional:
# when the archive cannot be reached, the tests of those Go versions are
# skipped (saying so) and everything else is installed all the same.
set -euo pipefail

packages=(
	make gcc g++ clang llvm libclang-rt-14-dev pkg-config git
	bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev
	libiberty-dev liblzma-dev libdebuginfod-dev debuginfod
	protobuf-c-compiler libprotobuf-c-dev
	libcmocka-dev libcurl4-openssl-dev libyaml-dev
	libzstd-dev zstd libjson-c-dev libpcre2-dev libmicrohttpd-dev
	systemd libcap2-bin openssl
	python3 python3-pytest python3-protobuf protobuf-compiler chromium
	python3-zstandard python3-yaml python3-dev
	golang-go linux-perf bpftrace
	binutils elfutils util-linux procps libc6-dev libc6-dbg xz-utils time
)
backports=(golang-1.21-go golang-1.23-go)

missing_of() {  # missing_of PACKAGE...: those not installed
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			echo "$p"
		fi
	done
}
mapfile -t missing < <(missing_of "${packages[@]}")
mapfile -t missing_bpo < <(missing_of "${backports[@]}")
[ ${#missing[@]} -eq 0 ] && [ ${#missing_bpo[@]} -eq 0 ] && exit 0

wanted=("${missing[@]}" "${missing_bpo[@]}")
echo "deps: installing ${wanted[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
bpo_source=/etc/apt/sources.list.d/bookworm-backports.sources
added=""
# Packages only bookworm-backports has are its candidates without -t.
if [ ${#missing_bpo[@]} -gt 0 ] &&
	! grep -qs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; then
	echo "deps: adding the bookworm-backports source"
	printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
		'Suites: bookworm-backports' 'Components: main' \
		'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
		$sudo tee "$bpo_source" >/dev/null
	added=1
fi
if ! $sudo apt-get update -q; then
	if [ -n "$added" ]; then
		echo "deps: bookworm-backports cannot be reached: leaving it out"
		$sudo rm -f "$bpo_source"
		missing_bpo=()
	fi
	$sudo apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ ${#missing_bpo[@]} -gt 0 ] &&
	! $sudo apt-get install -y -q --no-install-recommends "${missing_bpo[@]}"; then
	echo "deps: ${missing_bpo[*]} not installed: the tests of those Go versions are skipped"
	if [ -n "$added" ]; then
		$sudo rm -f "$bpo_source"
	fi
fi
