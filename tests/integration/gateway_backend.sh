#!/bin/sh
# A command backend for the gateway tests (test_gateway.py, and the end to
# end ones through the server, test_gateway_e2e*.py): each workspace is a
# real server (the build's dropbear) on a loopback port.  Its state lives
# in $GW_TEST_DIR:
#   NAME/hostkey, NAME/port, NAME/pid   one workspace (pid while running)
#   starts                              one line per start (to count them)
#   mode-hang, mode-garbage, mode-fail  make start hang, status print
#                                       garbage, start fail
#   mode-slow                           start waits this many seconds first
#   mode-inherit                        the server it starts keeps its stdout
#   mode-slow-create, mode-late-server  create takes 2 s; the server of a
#                                       start listens 1.5 s after it returns
#   mode-hostname                       status names the host rebind.test
#   NAME/activity                       what `activity NAME` prints
# DROPBEAR is the server to run.  With HOOK_LIB set (the end to end tests),
# a workspace is what a user gets: the server with the hook library, its
# own home (NAME/home, ~/.ssh/authorized_keys = the keys of `create`) where
# its user `developer` (the server's uid, through nss_wrapper: NSS_WRAPPER_LIB)
# lands, its events in NAME/events.log and its activity records in
# NAME/activity.d; then `activity NAME` is the newest last_activity_ms of
# those records, or now while a file NAME/activity.d/hold exists.
set -u
d=${GW_TEST_DIR:?}
verb=${1:-}
name=${2:-}

# a process runs: it exists and is not a zombie (one whose parent is gone
# waits for init to collect it, which can take a while; signal 0 still
# reaches it)
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$state" ] && [ "$state" != Z ]
}

running() { [ -f "$d/$name/pid" ] && alive "$(cat "$d/$name/pid")"; }

# stops a running workspace (with the hook library: its whole session)
halt() {
	running || return 0
	pid=$(cat "$d/$name/pid")
	if [ -n "${HOOK_LIB:-}" ]; then kill -- "-$pid"; else kill "$pid"; fi
	# gone (its port free) before the answer, for at most 5 s
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		alive "$pid" || return 0
		sleep 0.5
	done
}

# the home, account and hook config of a workspace with the hook library
make_home() {
	w=$d/$name
	mkdir -m 700 "$w/home" "$w/home/.ssh"
	cp "$w/keys" "$w/home/.ssh/authorized_keys"
	chmod 600 "$w/home/.ssh/authorized_keys"
	echo "developer:x:$(id -u):$(id -g):workspace:$w/home:/bin/sh" > "$w/passwd"
	echo "developer:x:$(id -g):" > "$w/group"
	mkdir "$w/activity.d"
	cat > "$w/hooks.conf" <<CONF
event_log = $w/events.log
activity_dir = $w/activity.d
activity_interval = 1
agent_dir = $w/agent
CONF
}

run_server() {
	w=$d/$name
	# mode-inherit: the server keeps the backend's stdout (a daemon started
	# without redirecting it); the call still ends when the backend exits
	out=$w/log
	if [ -e "$d/mode-inherit" ]; then out=/dev/stdout; fi
	late=0  # mode-late-server: only without HOOK_LIB
	if [ -e "$d/mode-late-server" ]; then late=1.5; fi
	if [ -n "${HOOK_LIB:-}" ]; then
		# a session of its own: `stop` ends it whole, connections too,
		# as stopping a container does
		LD_PRELOAD=${NSS_WRAPPER_LIB:?} NSS_WRAPPER_PASSWD=$w/passwd NSS_WRAPPER_GROUP=$w/group \
			setsid "$DROPBEAR" -F -E -p "127.0.0.1:$(cat "$w/port")" -r "$w/hostkey" \
			-P "$w/dropbear.pid" --hook="$HOOK_LIB" --hook-config="$w/hooks.conf" \
			</dev/null >>"$out" 2>>"$w/log" &
	else
		(sleep "$late"; exec "$DROPBEAR" -F -E -p "127.0.0.1:$(cat "$w/port")" \
			-r "$w/hostkey") </dev/null >>"$out" 2>>"$w/log" &
	fi
	echo $! > "$w/pid"
}

case $verb in
status)
	if [ -e "$d/mode-garbage" ]; then echo "running; rm -rf / 99999"; exit 0; fi
	if [ ! -d "$d/$name" ]; then echo missing
	elif running && [ -e "$d/mode-hostname" ]; then echo "running rebind.test $(cat "$d/$name/port")"
	elif running; then echo "running 127.0.0.1 $(cat "$d/$name/port")"
	else echo stopped; fi ;;
start)
	echo "$name" >> "$d/starts"
	if [ -e "$d/mode-fail" ]; then echo "engine says no" >&2; exit 1; fi
	if [ -e "$d/mode-hang" ]; then sleep 600; fi
	if [ -e "$d/mode-slow" ]; then sleep "$(cat "$d/mode-slow")"; fi
	running && exit 0
	# the keys the gateway wrote for this start, as a container engine's
	# backend hands them to the workspace (ws-gateway-podman does)
	if [ -n "${WS_GATEWAY_STATE:-}" ] && [ -f "$WS_GATEWAY_STATE/keys/$name" ]; then
		cp "$WS_GATEWAY_STATE/keys/$name" "$d/$name/keys"
		if [ -d "$d/$name/home/.ssh" ]; then
			cp "$d/$name/keys" "$d/$name/home/.ssh/authorized_keys"
		fi
	fi
	run_server ;;
stop)
	halt
	rm -f "$d/$name/pid" ;;
create)
	if [ -e "$d/mode-slow-create" ]; then sleep 2; fi
	mkdir "$d/$name" || exit 1
	cp "$4" "$d/$name/hostkey"
	cp "$3" "$d/$name/keys"
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$d/$name/port"
	if [ -n "${HOOK_LIB:-}" ]; then make_home; fi ;;
delete)
	halt
	rm -rf "${d:?}/$name" ;;
list)
	for w in "$d"/*/; do
		[ -d "$w" ] || continue
		name=$(basename "$w")
		if running; then echo "$name running"; else echo "$name stopped"; fi
	done ;;
activity)
	if [ -d "$d/$name/activity.d" ]; then
		/usr/bin/python3 - "$d/$name/activity.d" <<'PY'
import glob, json, os, sys, time
if os.path.exists(os.path.join(sys.argv[1], "hold")):
    print(int(time.time() * 1000))
    sys.exit(0)
newest = 0
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    try:
        with open(path) as f:
            newest = max(newest, json.load(f)["last_activity_ms"])
    except (OSError, ValueError, KeyError):
        pass
print(newest)
PY
	else
		cat "$d/$name/activity" 2>/dev/null || echo 0
	fi ;;
*)
	echo "unknown verb $verb" >&2; exit 2 ;;
esac
