#!/bin/sh
# ssh-audit 3.3 for the hardening tests.  Debian 12 ships 2.5 (no Terrapin
# or post-quantum checks); trixie's package is pure Python, so its .deb is
# downloaded with a private apt list (/etc/apt is never touched), checked
# against the pinned sha256 and unpacked into the cache.
#   fetch-ssh-audit.sh          fetch if missing; prints the PYTHONPATH to use
#   fetch-ssh-audit.sh --check  exit 1 (saying so) if it is not there
set -eu
VERSION=3.3.0-2
SHA256=5a0fde3b33d133f72624d32ce9a9c165afebd74f3c729fd91de9288aabc0cd45
SUITE=trixie
MIRROR=http://deb.debian.org/debian
cache_dir=${WS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ssh-workspace}
dest=$cache_dir/ssh-audit-$VERSION
pythonpath=$dest/usr/lib/python3/dist-packages

if [ -f "$pythonpath/ssh_audit/__init__.py" ]; then
	echo "$pythonpath"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "ssh-audit $VERSION is not in $cache_dir (tests/deps.sh --install check fetches it)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ws-ssh-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" > "$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=$work/none
	-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o Debug::NoLocking=1
	-o APT::Sandbox::User=$(id -un)"
# shellcheck disable=SC2086
if ! { apt-get -qq $apt_opts update && (cd "$work" && apt-get -qq $apt_opts download "ssh-audit=$VERSION"); } \
		> "$work/apt.log" 2>&1; then
	echo "fetch-ssh-audit: apt-get could not download ssh-audit=$VERSION from $SUITE:" >&2
	tail -n 3 "$work/apt.log" >&2
	exit 1
fi
deb=$work/ssh-audit_${VERSION}_all.deb
actual=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$actual" != "$SHA256" ]; then
	echo "fetch-ssh-audit: sha256 mismatch: expected $SHA256, got $actual" >&2
	exit 1
fi
mkdir -p "$cache_dir"
rm -rf "$dest.tmp"
dpkg -x "$deb" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "$pythonpath"
