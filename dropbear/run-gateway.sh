#!/bin/sh
# Start a local gateway on 127.0.0.1 with the podman backend (`make
# run-gateway`; docs/gateway.md).  Everything lives in .run/gateway/
# (ignored by git): the gateway's host key, a key pair per user, the users
# directory (one file per user, as a Secret shows it), the state directory,
# the hook config and an ssh_config that jumps through the gateway.
#
# The gateway never runs as root:
#   - as a normal user, it runs as you and drives your own (rootless) podman,
#     unless WS_PODMAN_URL names a service;
#   - as root, it runs as WS_RUN_UID, else $SUDO_UID, else the first uid from
#     1000 up without a passwd entry, in a private mount namespace
#     (as-workspace-user.sh, no_new_privs), and drives root podman through a
#     podman service started here on a socket only that uid can open
#     (.run/gateway/podman/podman.sock, 0600, in root's 0711 directory).  That
#     socket is root's container engine: whoever controls the gateway's uid
#     controls every container of root podman, which is why nothing else gets
#     it, and the workspace containers never see it.
# The workspaces are containers of WS_GATEWAY_IMAGE (make image).  Ctrl-C
# stops the gateway, the workspaces of its users (their homes are kept) and
# the podman service.
# Settings: WS_GATEWAY_PORT (2200), WS_GATEWAY_USERS ("alice bob"),
# WS_GATEWAY_IMAGE, WS_GATEWAY_IDLE_STOP (30m), WS_RUN_UID, WS_RUN_DIR (.run),
# WS_PODMAN_CONF (as container-image/build.sh: host-containers.conf).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd -P)
build=$(realpath -m "${WS_BUILD:-$top/build}")
run=$(realpath -m "${WS_RUN_DIR:-$top/.run}")/gateway
port=${WS_GATEWAY_PORT:-2200}
users=${WS_GATEWAY_USERS:-alice bob}
image=${WS_GATEWAY_IMAGE:-localhost/ssh-workspace:latest}
idle=${WS_GATEWAY_IDLE_STOP:-30m}
backend=$top/plugins/gateway/ws-gateway-podman
gwuser=gateway

me="make run-gateway"
. "$top/dropbear/run-lib.sh"

run_need podman podman
for f in "$build/bin/dropbear" "$build/bin/dropbearkey" "$build/bin/ws-gateway" \
	"$build/lib/ssh-workspace-hooks.so"; do
	[ -x "$f" ] || [ -f "$f" ] || die "$f is not built: run 'make' first"
done
for u in $users; do
	case $u in [a-z0-9]*[a-z0-9] | [a-z0-9]) ;; *) die "WS_GATEWAY_USERS: '$u' is not a user name" ;; esac
	case $u in *[!a-z0-9-]*) die "WS_GATEWAY_USERS: '$u' is not a user name" ;; esac
done
case $port in '' | *[!0-9]*) die "WS_GATEWAY_PORT must be a port number" ;; esac

podman_conf=${WS_PODMAN_CONF-$top/container-image/host-containers.conf}
pm() { if [ -n "$podman_conf" ]; then CONTAINERS_CONF=$podman_conf podman "$@"; else podman "$@"; fi; }

run_ids "make run-gateway" gateway
pm image exists "$image" || die "no image $image: build it with 'make image' (or set WS_GATEWAY_IMAGE)"

mkdir -p "$run/home" "$run/state" "$run/users" "$run/podman"
chmod 0755 "$run" "$run/users"
chmod 0700 "$run/home" "$run/state"
# root's: the gateway's uid reaches the socket through it, and cannot put
# anything else in the socket's place
chown 0:0 "$run/podman" 2>/dev/null || true
chmod 0711 "$run/podman"
run_passwd "$gwuser" "ssh-workspace gateway" /bin/sh
[ -f "$run/hostkey_ed25519" ] || "$build/bin/dropbearkey" -t ed25519 -f "$run/hostkey_ed25519" >/dev/null 2>&1
# a key pair per user; the users directory holds each one's public key (the
# layout of a Secret with one key per user), owned by whoever runs this
rm -f "$run/users/"*
for u in $users; do
	[ -f "$run/id_$u" ] || LD_PRELOAD="$nss_wrapper" NSS_WRAPPER_PASSWD="$run/passwd" \
		NSS_WRAPPER_GROUP="$run/group" ssh-keygen -q -t ed25519 -N '' -C "$u@ssh-workspace-gateway" -f "$run/id_$u"
	cp "$run/id_$u.pub" "$run/users/$u"
	chmod 0644 "$run/users/$u"
done
hostpub=$("$build/bin/dropbearkey" -y -f "$run/hostkey_ed25519" | grep '^ssh-')
echo "[127.0.0.1]:$port ${hostpub% *}" > "$run/known_hosts"

# podman: as root, a service for the gateway's uid alone; as a normal user,
# the user's own podman (or the service WS_PODMAN_URL names)
sock=$run/podman/podman.sock
service=""
url=${WS_PODMAN_URL:-}
if [ $as_root = yes ]; then
	rm -f "$sock"
	# (exec'd, so that $! is podman's pid)
	(
		[ -z "$podman_conf" ] || { CONTAINERS_CONF=$podman_conf; export CONTAINERS_CONF; }
		exec podman system service --time=0 "unix://$sock"
	) > "$run/podman/service.log" 2>&1 &
	service=$!
	i=0
	while [ ! -S "$sock" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 "$service" 2>/dev/null ||
			die "the podman service did not start: $(tail -n 3 "$run/podman/service.log")"
		sleep 0.1
	done
	chown "$uid:$gid" "$sock"
	chmod 0600 "$sock"
	url=unix://$sock
fi

cat > "$run/hooks.conf" <<EOF
# ssh-workspace gateway (docs/gateway.md), written by dropbear/run-gateway.sh
role = gateway
event_log = stderr
gateway_users_dir = $run/users
gateway_state_dir = $run/state
gateway_backend = $backend
gateway_program = $build/bin/ws-gateway
gateway_create = on
gateway_idle_stop = $idle
gateway_host = 127.0.0.1:$port
EOF
chmod 0644 "$run/hooks.conf"

# The client side: per user, the gateway as a host and their workspaces
# (USER.ws, USER-*.ws) behind it.  The workspaces' host keys come from the
# gateway itself (its `config` command, run by KnownHostsCommand after the
# jump has created or started the workspace): verified, not trusted on first use.
q() { printf '"%s"' "$1"; }
{
	echo "# written by dropbear/run-gateway.sh: ssh -F THIS_FILE USER.ws"
	for u in $users; do
		cat <<EOF
Host $u.ws $u-*.ws
    ProxyJump $u-gw
    User developer
    IdentityFile $(q "$run/id_$u")
    IdentitiesOnly yes
    UserKnownHostsFile /dev/null
    KnownHostsCommand /usr/bin/ssh -F $(q "$run/ssh_config") $u-gw config
    StrictHostKeyChecking yes
Host $u-gw
    HostName 127.0.0.1
    Port $port
    User $u
    IdentityFile $(q "$run/id_$u")
    IdentitiesOnly yes
    UserKnownHostsFile $(q "$run/known_hosts")
    StrictHostKeyChecking yes
EOF
	done
} > "$run/ssh_config"

if [ $as_root = yes ]; then
	chown -R "$uid:$gid" "$run/home" "$run/state" "$run/hostkey_ed25519"
fi

cfg=$(shell_quote "$run/ssh_config")
echo
echo "  ssh-workspace gateway: 127.0.0.1:$port, podman backend, workspace image $image"
echo "  Log in to a workspace (created, or started, on the way in):"
echo
for u in $users; do
	echo "    ssh -F $cfg $u.ws"
done
echo
echo "  The gateway itself (list, status, start, stop, rm NAME --yes, config):"
echo
for u in $users; do
	echo "    ssh -F $cfg $u-gw"
done
echo
echo "  Ctrl-C stops the gateway, its users' workspaces (homes kept) and the"
echo "  podman service.  Events (JSON) and the server log follow."
echo

# the backend, as the gateway runs it
workspaces() { WS_PODMAN_URL=$url "$backend" "$@"; }
gateway=""
stop_all() {
	trap '' INT TERM
	[ -z "$gateway" ] || { kill "$gateway" 2>/dev/null; wait "$gateway" 2>/dev/null || true; }
	# the running workspaces of these users (not other gateways')
	if [ -z "$url" ] || [ -S "$sock" ]; then
		workspaces list 2>/dev/null | while read -r name state; do
			[ "$state" = running ] || continue
			for u in $users; do
				case $name in "$u" | "$u"-*) workspaces stop "$name" >/dev/null 2>&1 || true ;; esac
			done
		done
	fi
	[ -z "$service" ] || { kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true; }
	[ -z "$service" ] || rm -f "$sock"
	exit 0
}
trap stop_all INT TERM

# The server by absolute path (it re-executes itself); its environment, which
# -e hands on to the control sessions, holds only what the gateway's programs
# need: the podman service and the image.
set -- "$build/bin/dropbear" -F -E -s -w -k -e -p "127.0.0.1:$port" -r "$run/hostkey_ed25519" \
	-c "$build/bin/ws-gateway control" -P "$run/home/dropbear.pid" \
	--hook="$build/lib/ssh-workspace-hooks.so" --hook-config="$run/hooks.conf"
if [ $as_root = no ]; then
	env -i PATH="$PATH" HOME="$run/home" WS_GATEWAY_IMAGE="$image" ${url:+"WS_PODMAN_URL=$url"} \
		${podman_conf:+"CONTAINERS_CONF=$podman_conf"} LD_PRELOAD="$nss_wrapper" \
		NSS_WRAPPER_PASSWD="$run/passwd" NSS_WRAPPER_GROUP="$run/group" "$@" &
else
	env -i PATH="$PATH" HOME="$run/home" WS_GATEWAY_IMAGE="$image" WS_PODMAN_URL="$url" \
		"$top/dropbear/as-workspace-user.sh" "$uid" "$gid" \
		--passwd "$run/passwd" --group "$run/group" \
		--reach "$build" --reach "$run" --reach "$top/plugins/gateway" -- "$@" &
fi
gateway=$!
wait "$gateway" || true
gateway=""
stop_all
