#!/bin/sh
# Debian packages the project needs, by purpose.
#   tests/deps.sh [build|check|run|bench|all]            print what is missing (exit 1 if any)
#   tests/deps.sh --install [build|check|run|bench|all]  apt-get install what is missing (root or sudo)
#   tests/deps.sh --list [build|check|run|bench|all]     print its packages, one a line
# Installs with --no-install-recommends: a program the tests need from a
# package that is only recommended must be listed here itself.
# tests/deps/check.py (run by make check) checks that every program the
# build and the tests run comes from a package listed for its purpose.
set -eu
install=0 list=0
case ${1:-} in
--install) install=1; shift ;;
--list) list=1; shift ;;
esac
what=${1:-all}

# libssl-dev: the libcrypto AEAD ciphers (./configure --with-libcrypto-ciphers, default auto);
# libc6-dev: the C library's headers and libdl (gcc only recommends it);
# libcurl4-openssl-dev, libcjson-dev: ws-gateway-kube (HTTPS and JSON)
build="gcc libc6-dev make patch bzip2 libtomcrypt-dev libtommath-dev zlib1g-dev libssl-dev libcurl4-openssl-dev libcjson-dev apt ca-certificates debian-archive-keyring"
# make run and make run-gateway (podman: the gateway's workspaces; runc: the
# runtime container-image/host-containers.conf names)
run="openssh-client openssh-sftp-server libnss-wrapper util-linux podman runc"
# the interop matrix's clients (tests/integration/test_interop.py)
interop="dropbear-bin putty-tools python3-paramiko python3-asyncssh nodejs"
# The image tests: podman (runc: see container-image/host-containers.conf;
# catatonit: the pause image of `podman kube play`, only recommended by
# podman) and debootstrap for the offline base image.
image="podman runc catatonit debootstrap"
# The Helm chart tests (tests/helm): YAML, openssl for PKCS#8 host keys, and
# docker-registry (the CNCF distribution registry) that the chart and the
# image are pushed to and pulled from, run by the tests on 127.0.0.1 only.
# helm itself and kubernetes-models come from npm (extras below).  The
# Kubernetes backend's tests (tests/integration/kube_standin.py) use the
# same: openssl for their API server's CA and certificate, and node with
# kubernetes-models (tests/helm/validate.js) to check every object it stores.
helm_tests="python3-yaml openssl docker-registry"
# Dropbear's own test suite (tests/upstream): asyncssh, psutil for test_aslr,
# rerunfailures for its timing-bound tests (tests/upstream/retry.txt)
upstream="python3-asyncssh python3-psutil python3-pytest-rerunfailures iproute2"
# pytest-timeout: every pytest suite of check stops a test that hangs
# (tests/run-all.sh), so that one hang is one failure with its stack, not
# a run that never ends;
# tmux and git: run by the integration tests (an agent kept across
# reconnects in tmux; git ls-files, and git over ssh in test_git.py);
# autoconf: test_build.py checks the committed ./configure against it
check="$run python3 python3-pytest python3-pytest-timeout tmux git autoconf $interop $image $helm_tests $upstream"
# The fuzz targets (tests/fuzz, make fuzz): clang and libFuzzer.  The
# runtime, libclang_rt.fuzzer, is in libclang-rt-N-dev (Debian 12:
# libclang-rt-14-dev), which libclang-rt-dev pulls in for the default clang.
check="$check clang libclang-rt-dev"
# sshd is the peer the benchmarks measure against, run unprivileged on a high
# port; procps: pkill; debootstrap: the Debian 13 root whose current OpenSSH
# client the benchmarks also measure with (tests/bench/debian13-client.sh);
# python3-asyncssh: the gateway benchmark holds 500 jumps in one process
bench="$run python3 python3-asyncssh openssh-server gnuplot-nox procps debootstrap"
case $what in
build) want=$build ;;
run) want="$build $run" ;;
check) want="$build $check" ;;
bench) want="$build $bench" ;;
all) want="$build $check $bench" ;;
*) echo "usage: $0 [--install|--list] [build|check|run|bench|all]" >&2; exit 2 ;;
esac
# Debian's nodejs comes without npm (NodeSource's includes it)
case " $want " in
*" nodejs "*) dpkg-query -S /usr/bin/npm 2>/dev/null | grep -q '^nodejs:' || want="$want npm" ;;
esac
if [ $list = 1 ]; then
	printf '%s\n' $want | sort -u
	exit 0
fi

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done

# Not Debian 12 packages: ssh-audit 3.3 (trixie's .deb, into the cache), helm
# v4 and v3 (pinned npm packages, into the cache), and node modules from each
# package-lock.json: ssh2 (tests/node) and kubernetes-models (tests/helm).
extras() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	case $what in check|all) ;; *) return 0 ;; esac
	fetched tests/fetch-ssh-audit.sh && fetched tests/helm/fetch-helm.sh &&
		node_module tests/node ssh2 && node_module tests/helm kubernetes-models
}

# fetched SCRIPT: runs the fetch script (--check without --install)
fetched() {
	if [ $install = 1 ]; then "$top/$1" >/dev/null; else "$top/$1" --check >/dev/null; fi
}

# node_module DIR MODULE: npm ci in DIR unless MODULE is there already
node_module() {
	[ -d "$top/$1/node_modules/$2" ] && return 0
	if [ $install = 0 ]; then
		echo "node module $2 is missing: run tests/deps.sh --install check" >&2
		return 1
	fi
	echo "deps: npm ci ($2) in $1"
	(cd "$top/$1" && npm ci --ignore-scripts --no-audit --no-fund --silent)
}

if [ -z "$missing" ]; then
	extras
	exit $?
fi
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
# Installing openssh-server must not start a root sshd on port 22, nor
# docker-registry a registry on port 5000 for everyone: Debian's policy-rc.d
# hook refuses service starts while it is there.
guard=""
case " $missing " in
*" openssh-server "*|*" docker-registry "*)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee $guard >/dev/null
		$sudo chmod 755 $guard
	fi ;;
esac
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing || {
	[ -z "$guard" ] || $sudo rm -f $guard; exit 1; }
[ -z "$guard" ] || $sudo rm -f $guard
# The tests start their own registry; docker-registry's service, enabled by
# its postinst, would start at the next boot: disabled (systemd and sysv).
case " $missing " in
*" docker-registry "*)
	$sudo deb-systemd-helper disable docker-registry.service >/dev/null 2>&1 || true
	$sudo update-rc.d docker-registry disable >/dev/null 2>&1 || true ;;
esac
extras
