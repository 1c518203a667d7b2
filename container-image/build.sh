#!/bin/sh
# Builds the image offline (`make image`): the base image from the cache or
# debootstrap (base-image.sh), then the unmodified Containerfile with
# --pull=never, the repository as the build context.
#   build.sh IMAGE [VERSION]
# WS_PODMAN_CONF: the containers.conf to use (default: host-containers.conf,
# which these Debian 12 machines need; set it empty to use the machine's own).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
image=$1
version=${2:-0.0.0}
if [ -n "${WS_PODMAN_CONF-$here/host-containers.conf}" ]; then
	CONTAINERS_CONF=${WS_PODMAN_CONF-$here/host-containers.conf}
	export CONTAINERS_CONF
fi
command -v podman >/dev/null 2>&1 ||
	{ echo "build-image: podman is missing: tests/deps.sh --install check" >&2; exit 1; }
"$here/base-image.sh"
# Host networking: apt in the build stages needs Debian's mirror, and the
# bridge network needs iptables setup these machines do not have.
podman build --pull=never --network=host --build-arg VERSION="$version" \
	-f "$here/Containerfile" -t "$image" "$top"
# Rebuilds leave untagged images of ours behind (the build stage, and the
# previous image when the tag moves): remove those, not other projects'.
for label in io.ssh-workspace.stage=build org.opencontainers.image.title=ssh-workspace; do
	podman image prune -f --filter "label=$label" >/dev/null 2>&1 || true
done
