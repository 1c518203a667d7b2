# Shared by run-local.sh and run-gateway.sh (sourced, after they set top,
# build, run and me): what both need before they start a server.

# Stops with a message that names the command the user typed ($me).
die() { echo "$me: $*" >&2; exit 1; }

# nss_wrapper's path, or a stop naming the Debian packages missing: always
# libnss-wrapper, openssh-client and util-linux, then each PACKAGE whose
# COMMAND is not on PATH.  Usage: run_need [PACKAGE COMMAND]...
run_need() {
	nss_wrapper=$(ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1 || true)
	missing=""
	[ -n "$nss_wrapper" ] || missing="$missing libnss-wrapper"
	set -- openssh-client ssh-keygen util-linux setpriv "$@"
	while [ $# -ge 2 ]; do
		command -v "$2" >/dev/null 2>&1 || missing="$missing $1"
		shift 2
	done
	[ -z "$missing" ] || die "missing:$missing. Install with: apt-get install -y$missing"
}

# Sets uid, gid and as_root: the caller's own ids, or as root WS_RUN_UID,
# else $SUDO_UID, else the first uid from 1000 up without a passwd entry.
# Usage: run_ids "make run" server
run_ids() {
	if [ "$(id -u)" -ne 0 ]; then
		uid=$(id -u); gid=$(id -g); as_root=no
	else
		uid=${WS_RUN_UID:-${SUDO_UID:-}} gid=""
		# sudo's group goes with sudo's uid only
		[ -n "${WS_RUN_UID:-}" ] || [ -z "${SUDO_UID:-}" ] || gid=${SUDO_GID:-}
		if [ -z "$uid" ] || [ "$uid" = 0 ]; then
			uid=1000
			while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
		fi
		[ -n "$gid" ] && [ "$gid" != 0 ] || gid=$uid
		as_root=yes
		echo "$1: running as root, so the $2 runs as unprivileged uid $uid (gid $gid), not root."
	fi
}

# $run/passwd and $run/group: the machine's entries with NAME's first, so
# that its uid's name is NAME (getpwuid takes the first match).  Written
# anew, so that as root they are root's even where a normal user's run left
# its own.  Usage: run_passwd NAME GECOS SHELL
run_passwd() {
	rm -f "$run/passwd" "$run/group"
	{ printf '%s:x:%s:%s:%s:%s:%s\n' "$1" "$uid" "$gid" "$2" "$run/home" "$3"
	  grep -v "^$1:" /etc/passwd || true; } > "$run/passwd"
	{ printf '%s:x:%s:\n' "$1" "$gid"; grep -v "^$1:" /etc/group || true; } > "$run/group"
	chmod 0644 "$run/passwd" "$run/group"
}

# A word as the shell reads it back, also for a path with blanks or quotes.
shell_quote() {
	case $1 in
	*[!A-Za-z0-9_./:@=,+-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}
