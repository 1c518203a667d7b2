#!/bin/sh
# Runs a command as the workspace's unprivileged uid, from root, in a private
# mount namespace of its own (nothing it mounts is seen outside):
#
#   as-workspace-user.sh UID GID [--passwd FILE] [--group FILE]
#                        [--reach PATH]... [--private-tmp] -- COMMAND [ARG...]
#
#   --passwd, --group  bind FILE over /etc/passwd (/etc/group): a copy of the
#                      machine's with the workspace user added, so that the
#                      server and every program its sessions run (sftp-server,
#                      scp, id, git) see the user while nothing on the machine
#                      changes
#   --reach PATH       the uid must reach PATH (the build, the run directory)
#                      even when a directory above it is closed to the uid (a
#                      checkout under /root, mode 0700): the highest such
#                      directory is covered with a tmpfs that holds only the
#                      way down to the --reach paths, each bound back at its
#                      own path.  Nothing else of that directory is visible.
#   --private-tmp      a fresh tmpfs /tmp (as an emptyDir of medium Memory in a
#                      pod); the --reach paths under /tmp stay visible
#
# The command runs with no_new_privs: nothing in the namespace (whose
# /etc/passwd the caller chose) can gain privileges through setuid programs.
# setpriv, then COMMAND, are exec'd, so COMMAND's pid is the caller's.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 UID GID [options] -- COMMAND [ARG...]" >&2; exit 2; }
if [ "$1" != --in-namespace ]; then
	exec unshare --mount --propagation private -- "$0" --in-namespace "$@"
fi
shift
uid=$1 gid=$2
shift 2
nl='
'
reach="" private_tmp=no
while [ $# -gt 0 ]; do
	case $1 in
	--passwd) mount --bind "$2" /etc/passwd; shift 2 ;;
	--group) mount --bind "$2" /etc/group; shift 2 ;;
	--reach) reach="$reach$(realpath -e "$2")$nl"; shift 2 ;;
	--private-tmp) private_tmp=yes; shift ;;
	--) shift; break ;;
	*) echo "$0: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "$0: no command" >&2; exit 2; }
# one path a line, shortest first: a path is bound back before the paths
# below it; nothing splits or globs them from here on
reach=$(printf '%s' "$reach" | awk '{ print length($0) "\t" $0 }' | sort -n -s | cut -f2-)
set -f
IFS=$nl

# closed_above PATH: the highest directory above PATH that the uid cannot
# enter (asked as the uid: owner, group and ACLs all count), or nothing
closed_above() {
	d="" rest=${1#/}
	while [ "${rest#*/}" != "$rest" ]; do
		d="$d/${rest%%/*}"
		rest=${rest#*/}
		if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups -- test -x "$d"; then
			echo "$d"
			return
		fi
	done
}

# cover DIR MODE: a fresh tmpfs of MODE on DIR; the --reach paths under DIR
# are bound back at their own paths (with what is mounted below them), taken
# through the old DIR, which stays reachable as the working directory
cover() {
	cd "$1"
	mount -t tmpfs -o "mode=$2" tmpfs "$1"
	for p in $reach; do
		case $p in "$1"/*)
			(umask 022 && mkdir -p "$p")
			mount --no-canonicalize --rbind "./${p#"$1"/}" "$p" ;;
		esac
	done
	cd /
}

[ $private_tmp = no ] || cover /tmp 1777
for p in $reach; do
	closed=$(closed_above "$p")
	[ -z "$closed" ] || cover "$closed" 0755
done
unset IFS

exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --no-new-privs -- "$@"
