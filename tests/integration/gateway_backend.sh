#!/bin/sh
# A command backend for tests/integration/test_gateway.py: each workspace is
# a real server (the build's dropbear) on a loopback port.  Its state lives
# in $GW_TEST_DIR:
#   NAME/hostkey, NAME/port, NAME/pid   one workspace (pid while running)
#   starts                              one line per start (to count them)
#   mode-hang, mode-garbage, mode-fail  make start hang, status print
#                                       garbage, start fail
#   mode-slow-create, mode-late-server  create takes 2 s; the server of a
#                                       start listens 1.5 s after it returns
#   mode-hostname                       status names the host rebind.test
#   NAME/activity                       what `activity NAME` prints
# DROPBEAR is the server to run.
set -u
d=${GW_TEST_DIR:?}
verb=${1:-}
name=${2:-}

running() { [ -f "$d/$name/pid" ] && kill -0 "$(cat "$d/$name/pid")" 2>/dev/null; }

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
	running && exit 0
	late=0; [ -e "$d/mode-late-server" ] && late=1.5
	(sleep "$late"; exec "$DROPBEAR" -F -E -p "127.0.0.1:$(cat "$d/$name/port")" \
		-r "$d/$name/hostkey") </dev/null >>"$d/$name/log" 2>&1 &
	echo $! > "$d/$name/pid" ;;
stop)
	if running; then kill "$(cat "$d/$name/pid")"; fi
	rm -f "$d/$name/pid" ;;
create)
	if [ -e "$d/mode-slow-create" ]; then sleep 2; fi
	mkdir "$d/$name" || exit 1
	cp "$4" "$d/$name/hostkey"
	cp "$3" "$d/$name/keys"
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$d/$name/port" ;;
delete)
	if running; then kill "$(cat "$d/$name/pid")"; fi
	rm -rf "${d:?}/$name" ;;
list)
	for w in "$d"/*/; do
		[ -d "$w" ] || continue
		name=$(basename "$w")
		if running; then echo "$name running"; else echo "$name stopped"; fi
	done ;;
activity)
	cat "$d/$name/activity" 2>/dev/null || echo 0 ;;
*)
	echo "unknown verb $verb" >&2; exit 2 ;;
esac
