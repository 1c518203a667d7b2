#!/bin/sh
# Import the patch series into a git repository of the patched upstream tree,
# where patches are edited as commits (rebase, amend, fixup) instead of by
# hand.  export-series.sh writes the series back from that branch.
#   import-series.sh DIR [TARBALL [PATCH_DIR]]
# DIR must not exist.  TARBALL is the pinned upstream release (default: the
# build's copy, then the cache fetch.sh fills); PATCH_DIR defaults to
# dropbear/patches.
#
# The result: one commit tagged `upstream` holding the release as it is, then
# one commit per patch, in series order.  A commit's subject is the patch's
# file name without .patch, its body the patch's DEP-3 header, word for word:
# that is what export-series.sh turns back into the patch.  A patch that does
# not apply strictly (as apply-patches.sh applies it: no fuzz) stops the
# import, naming it; the commits before it are in place to rebase onto.
#
# Moving to a new upstream release: import onto the new tarball (the first
# patch that fails is the one to redo, in DIR, as a commit of the same
# subject), or import onto the old one and `git rebase` onto a commit of the
# new release; then export-series.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pin"
[ $# -ge 1 ] || { echo "usage: import-series.sh DIR [TARBALL [PATCH_DIR]]" >&2; exit 2; }
dir=$1
tarball=${2:-}
patches=${3:-$here/patches}
name=dropbear-$DROPBEAR_VERSION.tar.bz2

say() { echo "import-series: $*" >&2; }

if [ -z "$tarball" ]; then
	for t in "$here/../build/$name" \
			"${WS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ssh-workspace}/$name"; do
		if [ -f "$t" ]; then tarball=$t; break; fi
	done
	[ -n "$tarball" ] || { say "no $name: run make fetch, or name the tarball"; exit 1; }
fi
[ -e "$dir" ] && { say "$dir exists"; exit 1; }
[ -f "$patches/series" ] || { say "no series file in $patches"; exit 1; }
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
patches=$(cd "$patches" && pwd)

mkdir -p "$dir"
tar -xjf "$tarball" -C "$dir" --strip-components=1
cd "$dir"
# A fixed identity unless the user has one: the commits are a work space,
# only what export-series.sh writes from them is kept.
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-$(git config user.name || echo ssh-workspace developers)}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-$(git config user.email || echo ssh-workspace@localhost)}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
git init -q
# upstream's own .gitignore would hide generated files that patches touch
git add -A -f
git commit -q -m "Dropbear $DROPBEAR_VERSION" -m "$(basename "$tarball"), sha256 $DROPBEAR_SHA256"
git tag upstream

msg=$(mktemp "${TMPDIR:-/tmp}/ws-import.XXXXXX")
trap 'rm -f "$msg"' EXIT
grep -v -e '^#' -e '^[[:space:]]*$' "$patches/series" | while read -r p; do
	[ -f "$patches/$p" ] || { say "$p is listed in series but missing"; exit 1; }
	if ! out=$(patch -p1 --batch --forward --fuzz=0 --dry-run < "$patches/$p" 2>&1); then
		say "$p does not apply cleanly:"
		echo "$out" | sed 's/^/    /' >&2
		exit 1
	fi
	patch -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch -s < "$patches/$p"
	# the header: everything before the "---" line that ends it
	{ echo "${p%.patch}"; echo; sed -n '/^---$/q;p' "$patches/$p"; } > "$msg"
	git add -A -f
	git commit -q --allow-empty --cleanup=verbatim -F "$msg"
	echo "  imported $p"
done
say "$dir: upstream + $(git rev-list --count upstream..HEAD) patches"
