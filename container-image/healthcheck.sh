#!/bin/bash
# Readiness/liveness check that speaks SSH: connects to the server and
# requires its "SSH-2.0-" identification line within WS_HEALTH_TIMEOUT
# seconds (default 5).  A process check would pass for a server that no
# longer accepts connections.  Uses WS_LISTEN as the entrypoint does
# ("PORT" or "ADDRESS:PORT"); bash's /dev/tcp needs no extra tool.
listen=${WS_LISTEN:-2222}
port=${listen##*:}
addr=127.0.0.1
case $listen in *:*) addr=${listen%:*} ;; esac
case $addr in "" | "0.0.0.0" | "[::]" | "::") addr=127.0.0.1 ;; esac
addr=${addr#[}
addr=${addr%]}
timeout=${WS_HEALTH_TIMEOUT:-5}
if ! exec 3<>"/dev/tcp/$addr/$port"; then
	echo "healthcheck: cannot connect to $addr:$port" >&2
	exit 1
fi
# Say who we are first, as an SSH client does: the server hands a connection
# that has spoken to a process at once, while a silent one waits in the
# listener's park (not at all during a flood of silent connects, which
# must not fail the probes and restart a healthy pod).
printf 'SSH-2.0-ssh-workspace-healthcheck\r\n' >&3 2>/dev/null
if ! IFS= read -r -t "$timeout" banner <&3; then
	echo "healthcheck: no banner from $addr:$port within ${timeout}s" >&2
	exit 1
fi
exec 3>&-
case $banner in
SSH-2.0-*) echo "healthcheck: ok: ${banner%$'\r'}" ;;
*) echo "healthcheck: $addr:$port did not answer as an SSH server" >&2; exit 1 ;;
esac
