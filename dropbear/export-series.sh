#!/bin/sh
# Export the patch series from a git repository of the patched upstream tree
# (import-series.sh makes one): each commit after the tag `upstream` becomes
# one patch, in order, and series lists them.
#   export-series.sh DIR [PATCH_DIR]
# PATCH_DIR defaults to dropbear/patches; the patches series names there are
# replaced (a renamed or dropped patch leaves no stale file behind).
#
# A commit's subject is the patch's file name without .patch and its body the
# patch's DEP-3 header (Description, Author, Forwarded, Bug, Last-Update),
# written as it is.  Every patch gets the same diff format: git's, with no
# index lines (they would change whenever any earlier patch does) and no
# rename detection, so that patch(1) applies it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: export-series.sh DIR [PATCH_DIR]" >&2; exit 2; }
dir=$1
out=${2:-$here/patches}

say() { echo "export-series: $*" >&2; }

git -C "$dir" rev-parse -q --verify upstream >/dev/null || { say "$dir has no tag 'upstream'"; exit 1; }
if [ -n "$(git -C "$dir" status --porcelain --untracked-files=no)" ]; then
	say "$dir has uncommitted changes"
	exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
commits=$(git -C "$dir" rev-list --reverse upstream..HEAD)
for c in $commits; do
	if [ "$(git -C "$dir" rev-list --count --min-parents=2 "$c^!")" != 0 ]; then
		say "merge commit $c: the series must be linear"
		exit 1
	fi
	case $(git -C "$dir" log -1 --format=%s "$c") in
	*/* | '' | .*) say "commit $c: its subject must be a file name"; exit 1 ;;
	esac
done

if [ -f "$out/series" ]; then
	grep -v -e '^#' -e '^[[:space:]]*$' "$out/series" | while read -r p; do
		rm -f "$out/$p"
	done
fi
: > "$out/series.tmp"
for c in $commits; do
	p=$(git -C "$dir" log -1 --format=%s "$c").patch
	{
		git -C "$dir" log -1 --format=%b "$c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
		echo ---
		git -C "$dir" diff --no-color --no-ext-diff --no-renames --src-prefix=a/ \
			--dst-prefix=b/ "$c^" "$c" | sed '/^index [0-9a-f]*\.\.[0-9a-f]*/d'
	} > "$out/$p"
	echo "$p" >> "$out/series.tmp"
	echo "  exported $p"
done
mv "$out/series.tmp" "$out/series"
say "$(wc -l < "$out/series") patches in $out"
