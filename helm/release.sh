#!/bin/sh
# Publishes a release to the registry you name: the image and the packaged
# chart (helm/ssh-workspace/README.md, "Publishing a release").
#   helm/release.sh REGISTRY [IMAGE]        (make release REGISTRY=...)
# REGISTRY: host[:port][/path], no scheme, e.g. registry.example.com/team.
# IMAGE: the local image to push; default localhost/ssh-workspace:APPVERSION,
# what `make image` builds.
# It pushes
#   IMAGE as REGISTRY/ssh-workspace:APPVERSION (the tag the chart runs by default)
#   the chart as oci://REGISTRY/charts/ssh-workspace, version Chart.yaml's version
# and writes the package and the image's digest (image.digest) to DEST.
# Log in first where the registry needs it (podman login, helm registry login).
# PLAIN_HTTP=1: a registry without TLS (podman --tls-verify=false, helm --plain-http).
# HELM: the helm program (default helm, from PATH); DEST: default build/release.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
chart=$here/ssh-workspace
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	echo "usage: $0 REGISTRY [IMAGE]   (REGISTRY: host[:port][/path])" >&2
	exit 2
fi
registry=${1%/}
case $registry in
*://*) echo "release: REGISTRY is host[:port][/path], without a scheme: $registry" >&2; exit 2 ;;
esac
# version: "0.1.0" or version: 0.1.0
field() {
	sed -n "s/^$1: *\"\{0,1\}\([^\" ]*\)\"\{0,1\} *\$/\1/p" "$chart/Chart.yaml"
}
version=$(field version)
app_version=$(field appVersion)
if [ -z "$version" ] || [ -z "$app_version" ]; then
	echo "release: no version or appVersion in $chart/Chart.yaml" >&2
	exit 1
fi
image=${2:-localhost/ssh-workspace:$app_version}
# command: the program, not this function, when HELM is unset
helm() { command "${HELM:-helm}" "$@"; }
dest=${DEST:-$top/build/release}
tls="" plain=""
if [ "${PLAIN_HTTP:-0}" = 1 ]; then
	tls=--tls-verify=false plain=--plain-http
fi
podman image exists "$image" ||
	{ echo "release: no image $image (make image builds it)" >&2; exit 1; }
mkdir -p "$dest"
set -x
helm package "$chart" --destination "$dest"
podman push $tls --digestfile "$dest/image.digest" "$image" "$registry/ssh-workspace:$app_version"
helm push $plain "$dest/ssh-workspace-$version.tgz" "oci://$registry/charts"
{ set +x; } 2>/dev/null
echo "release: image $registry/ssh-workspace:$app_version@$(cat "$dest/image.digest")"
echo "release: chart oci://$registry/charts/ssh-workspace --version $version"
