#!/bin/sh
# A current OpenSSH client for the benchmarks: Debian 13 (trixie) debootstrapped
# once into build/debian13-client/root with openssh-client (OpenSSH 10, which
# negotiates mlkem768x25519-sha256 where Debian 12's 9.2 picks sntrup761).
#   tests/bench/debian13-client.sh [BUILD]   make the root unless it is there; print its path
# bench.py runs the root's ssh through the root's own dynamic loader and
# libraries (no chroot, no mounts: the keys and known_hosts files stay
# reachable at their paths, and nothing is left mounted if a run is killed).
# Settings: WS_DEBIAN_MIRROR (http://deb.debian.org/debian).  Needs root and
# debootstrap; remove the directory to refresh.
set -eu
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
dir=$build/debian13-client
root=$dir/root
mirror=${WS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { echo "debian13-client: $*" >&2; }

if [ -f "$dir/.done" ] && [ -x "$root/usr/bin/ssh" ]; then
	echo "$root"
	exit 0
fi
command -v debootstrap >/dev/null 2>&1 ||
	{ say "debootstrap is missing: tests/deps.sh --install bench"; exit 1; }
[ "$(id -u)" -eq 0 ] || { say "debootstrap needs root"; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
say "debootstrap --variant=minbase --include=openssh-client trixie from $mirror"
debootstrap --variant=minbase --include=openssh-client trixie "$root.tmp" "$mirror" \
	>"$dir/debootstrap.log" 2>&1 ||
	{ tail -n 20 "$dir/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
rm -rf "$root.tmp/var/cache/apt/archives/"*.deb "$root.tmp/var/lib/apt/lists/"*
mv "$root.tmp" "$root"
touch "$dir/.done"
say "$("$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" \
	"$root/usr/bin/ssh" -V 2>&1)"
echo "$root"
