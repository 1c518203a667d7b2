#!/bin/sh
# Apply dropbear/patches/series to an unpacked upstream tree, strictly:
# no fuzz, no reversed patches, no partial application.  A patch that does
# not apply cleanly stops the build and says which one.
#   apply-patches.sh TREE [PATCH_DIR]
set -eu
tree=$1
dir=${2:-$(cd "$(dirname "$0")" && pwd)/patches}
[ -f "$dir/series" ] || { echo "apply-patches: no series file in $dir" >&2; exit 1; }
grep -v -e '^#' -e '^[[:space:]]*$' "$dir/series" | while read -r p; do
	[ -f "$dir/$p" ] || { echo "apply-patches: $p is listed in series but missing" >&2; exit 1; }
	# --dry-run first, so a failing patch leaves the tree untouched
	if ! out=$(patch -d "$tree" -p1 --batch --forward --fuzz=0 --dry-run < "$dir/$p" 2>&1); then
		echo "apply-patches: ERROR: $p does not apply cleanly:" >&2
		echo "$out" | sed 's/^/    /' >&2
		echo "apply-patches: refresh the patch series (dropbear/README.md, 'Moving to a new upstream release')" >&2
		exit 1
	fi
	patch -d "$tree" -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch -s < "$dir/$p"
	echo "  applied $p"
done
