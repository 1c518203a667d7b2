#!/bin/sh
# Makes the base image of the Containerfile, docker.io/library/debian:trixie-slim,
# available to podman on a machine that reaches Debian's mirror but no
# container registry: debootstrap a minbase trixie once, keep the tarball in
# the cache, and `podman import` it under the official name so that the
# unmodified Containerfile builds with --pull=never.
#   base-image.sh            import (or build and import) unless podman has it
#   base-image.sh --tarball  print the cached tarball's path (building it if needed)
# Settings: WS_CACHE_DIR (~/.cache/ssh-workspace), WS_DEBIAN_MIRROR.
# An image podman already has (pulled from a registry, or imported before) is
# used as it is; `podman rmi` it and remove the tarball to refresh.
set -eu
image=docker.io/library/debian:trixie-slim
cache_dir=${WS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ssh-workspace}
tarball=$cache_dir/debian-trixie-minbase-slim.tar.gz
mirror=${WS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "base-image: $*" >&2; }

make_tarball() {
	[ -f "$tarball" ] && return 0
	command -v debootstrap >/dev/null 2>&1 ||
		{ say "debootstrap is missing: apt-get install -y debootstrap"; exit 1; }
	[ "$(id -u)" -eq 0 ] || { say "debootstrap needs root to make $tarball"; exit 1; }
	mkdir -p "$cache_dir"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ws-base.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	say "debootstrap --variant=minbase trixie from $mirror"
	debootstrap --variant=minbase trixie "$dir/root" "$mirror" >"$dir/log" 2>&1 ||
		{ tail -n 20 "$dir/log" >&2; say "debootstrap failed"; exit 1; }
	# What the official slim image also leaves out: downloaded packages and
	# lists, and (through dpkg's path-exclude, so for later installs too)
	# documentation, manual pages and translations; copyright files stay.
	rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
	cat > "$dir/root/etc/dpkg/dpkg.cfg.d/slim" <<-'SLIM'
	path-exclude /usr/share/doc/*
	path-include /usr/share/doc/*/copyright
	path-exclude /usr/share/man/*
	path-exclude /usr/share/groff/*
	path-exclude /usr/share/info/*
	path-exclude /usr/share/lintian/*
	path-exclude /usr/share/locale/*
	SLIM
	find "$dir/root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	rm -rf "$dir/root/usr/share/man/"* "$dir/root/usr/share/groff/"* "$dir/root/usr/share/info/"* \
		"$dir/root/usr/share/lintian/"* "$dir/root/usr/share/locale/"*
	tar --numeric-owner -C "$dir/root" -czf "$tarball.tmp.$$" .
	mv -f "$tarball.tmp.$$" "$tarball"
	say "cached $tarball"
}

if [ "${1:-}" = "--tarball" ]; then
	make_tarball
	echo "$tarball"
	exit 0
fi
if podman image exists "$image"; then exit 0; fi
make_tarball
podman import -q --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
say "imported $tarball as $image"
