#!/bin/sh
# Debian packages the project needs, by purpose.
#   tests/deps.sh [build|check|run|all]            print what is missing (exit 1 if any)
#   tests/deps.sh --install [build|check|run|all]  apt-get install what is missing (root or sudo)
set -eu
install=0
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
what=${1:-all}

build="gcc make patch bzip2 libtomcrypt-dev libtommath-dev zlib1g-dev apt ca-certificates debian-archive-keyring"
run="openssh-client libnss-wrapper util-linux"
# The image tests: podman (runc: see container-image/host-containers.conf)
# and debootstrap for the offline base image.
image="podman runc debootstrap"
check="$run python3 python3-pytest $image"
case $what in
build) want=$build ;;
run) want="$build $run" ;;
check|all) want="$build $check" ;;
*) echo "usage: $0 [--install] [build|check|run|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
if [ $install = 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "install them with: apt-get install -y$missing" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo="sudo -n"
	else
		echo "deps: root (or sudo) is needed to install:$missing" >&2
		echo "deps: as root, run: apt-get install -y$missing" >&2
		exit 1
	fi
fi
echo "deps: installing$missing"
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
