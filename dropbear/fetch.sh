#!/bin/sh
# Fetch the pinned upstream Dropbear tarball and verify its sha256.
#   fetch.sh OUT [USER_TARBALL]
# Sources, in order: USER_TARBALL (./configure --with-dropbear-tarball), the
# local cache, Debian's source package (apt-get source with a private deb-src
# list: /etc/apt is never touched), the upstream release URL.
# Anything whose sha256 is not the pinned one is refused.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pin"
out=$1
user_tarball=${2:-}
name=dropbear-$DROPBEAR_VERSION.tar.bz2
cache_dir=${WS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ssh-workspace}

say() { echo "fetch-dropbear: $*" >&2; }

# verify FILE: 0 if FILE has the pinned sum; prints both sums otherwise.
verify() {
	actual=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$actual" = "$DROPBEAR_SHA256" ] && return 0
	say "sha256 mismatch for $1"
	say "  expected $DROPBEAR_SHA256"
	say "  actual   $actual"
	return 1
}

install_verified() {
	verify "$1" || return 1
	cp "$1" "$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
	mkdir -p "$cache_dir" 2>/dev/null && cp -f "$out" "$cache_dir/$name" 2>/dev/null || true
	say "using $1 (sha256 ok)"
}

if [ -n "$user_tarball" ]; then
	[ -f "$user_tarball" ] || { say "no such file: $user_tarball"; exit 1; }
	# A tarball the user names explicitly must be right: no fallback.
	install_verified "$user_tarball" || { say "refusing $user_tarball"; exit 1; }
	exit 0
fi

if [ -f "$out" ] && verify "$out" 2>/dev/null; then exit 0; fi

if [ -f "$cache_dir/$name" ]; then
	install_verified "$cache_dir/$name" && exit 0
	say "ignoring the bad cached copy $cache_dir/$name"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ws-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

if command -v apt-get >/dev/null 2>&1; then
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/dl"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	for suite in $DEBIAN_SUITES; do
		echo "deb-src [signed-by=$keyring] $DEBIAN_MIRROR $suite main" > "$work/sources.list"
		apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=$work/none
			-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o Debug::NoLocking=1
			-o APT::Sandbox::User=$(id -un)"
		say "trying Debian $suite source package"
		# shellcheck disable=SC2086
		if apt-get -qq $apt_opts update >"$work/apt.log" 2>&1 &&
		   (cd "$work/dl" && apt-get -qq $apt_opts source --download-only "dropbear=$(
			apt-cache $apt_opts showsrc dropbear 2>/dev/null |
			sed -n "s/^Version: \($DROPBEAR_VERSION-.*\)/\1/p" | head -n1)") >>"$work/apt.log" 2>&1 &&
		   [ -f "$work/dl/dropbear_$DROPBEAR_VERSION.orig.tar.bz2" ]; then
			install_verified "$work/dl/dropbear_$DROPBEAR_VERSION.orig.tar.bz2" && exit 0
		fi
		rm -rf "$work/dl"/* "$work/lists"/*Sources* 2>/dev/null || true
	done
	say "Debian source packages did not provide $DROPBEAR_VERSION (log: $(tail -n 2 "$work/apt.log" | tr '\n' ' '))"
fi

for tool in curl wget; do
	command -v $tool >/dev/null 2>&1 || continue
	say "trying $UPSTREAM_URL"
	case $tool in
	curl) curl -fsSL --max-time 60 -o "$work/$name" "$UPSTREAM_URL" 2>/dev/null || continue ;;
	wget) wget -q -T 60 -O "$work/$name" "$UPSTREAM_URL" 2>/dev/null || continue ;;
	esac
	install_verified "$work/$name" && exit 0
done

say "could not get $name (sha256 $DROPBEAR_SHA256)."
say "Download it by hand and run: ./configure --with-dropbear-tarball=PATH"
exit 1
