#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that building ignis, `make run`
# and `make test` need. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
	make gcc g++ clang llvm libclang-rt-14-dev pkg-config git
	bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev
	libiberty-dev liblzma-dev libdebuginfod-dev debuginfod
	protobuf-c-compiler libprotobuf-c-dev
	libcmocka-dev libcurl4-openssl-dev libyaml-dev
	libzstd-dev zstd libjson-c-dev libpcre2-dev libmicrohttpd-dev libsystemd-dev
	systemd libcap2-bin openssl
	python3 python3-pytest python3-protobuf protobuf-compiler chromium
	python3-zstandard python3-yaml python3-dev
	golang-go linux-perf bpftrace
	binutils elfutils util-linux procps libc6-dbg xz-utils
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
