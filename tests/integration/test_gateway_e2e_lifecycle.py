"""The gateway end to end, over time and when things go wrong: idle stop
and the next jump's wake, a stop by the user, keys sources and backends
that fail, a slow wake under client keepalives (gateway_e2e.py)."""
import os
import subprocess
import threading
import time

from conftest import keygen, wait_for
from gateway_e2e import HOST, TIMEOUT, refusal

DENIED = "Permission denied (publickey)."


def test_idle_workspaces_stop_and_wake_busy_ones_run_on(gateway_factory):
    gateway = gateway_factory(gateway_idle_stop="10s")
    for name in ("alice", "alice-hold", "alice-busy", "alice-ide"):
        assert gateway.control("alice", f"start {name}").startswith(f"{name} is running")
    r = gateway.jump("alice.ws", "echo kept > kept")
    assert r.returncode == 0, r.stderr
    # "keep me running": a hold file next to the activity records ...
    open(gateway.workspace_dir("alice-hold", "activity.d", "hold"), "w").close()
    # ... or a session that produces output
    busy = subprocess.Popen(["ssh", "-F", gateway.ssh_config("alice"), "alice-busy.ws",
                             "while :; do echo tick; sleep 1; done"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # an IDE left connected with nothing happening, keepalives going: idle
    ide = subprocess.Popen(["ssh", "-F", gateway.ssh_config("alice"), "-N", "-o",
                            "ServerAliveInterval=1", "alice-ide.ws"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(gateway.events("gateway_stop")) == 2, timeout=40), \
            open(gateway.log).read()
        stops = {e["workspace"]: e for e in gateway.events("gateway_stop")}
        assert set(stops) == {"alice", "alice-ide"}
        for stop in stops.values():
            assert stop["reason"] == "idle" and stop["idle_ms"] >= 10000 and "user" not in stop
        assert not gateway.running("alice") and not gateway.running("alice-ide")
        assert ide.wait(timeout=10) == 255  # its connection ended with the workspace
        # a keeper round later the others still run
        time.sleep(3)
        assert len(gateway.events("gateway_stop")) == 2
        assert gateway.running("alice-hold") and gateway.running("alice-busy")
        assert busy.poll() is None
    finally:
        for client in (busy, ide):
            client.terminate()
            client.wait(timeout=10)
    assert gateway.control("alice", "status alice") == "alice stopped idle\n"
    listed = {line.split()[0]: line.split()[1:]
              for line in gateway.control("alice", "list").splitlines() if line.strip()}
    assert listed["alice-ide"] == ["stopped", "(idle)"]
    assert listed["alice-busy"] == ["running"]
    # the next jump wakes it, its home kept
    r = gateway.jump("alice.ws", "cat kept")
    assert (r.returncode, r.stdout) == (0, "kept\n"), r.stderr
    assert gateway.starts().count("alice") == 2

    # stopped by the user: refused until started, and the keeper leaves it
    out = gateway.control("alice", "stop alice-hold")
    assert f"stays stopped until: ssh alice@{HOST} start alice-hold" in out
    r = gateway.jump("alice-hold.ws", "true")
    assert r.returncode == 255
    assert refusal(f"stopped by you: ssh alice@{HOST} start alice-hold") in r.stderr, r.stderr
    assert gateway.control("alice", "status alice-hold") == "alice-hold stopped asked\n"
    gateway.control("alice", "start alice-hold")
    r = gateway.jump("alice-hold.ws", "echo back")
    assert (r.returncode, r.stdout) == (0, "back\n"), r.stderr


def test_unknown_user_is_refused_like_a_wrong_key(gateway):
    stranger = keygen(gateway.ws.path("id_stranger"))
    unknown = gateway.gw_ssh_key("carol", gateway.keys["alice"])
    wrong_key = gateway.gw_ssh_key("alice", stranger)
    assert gateway.gw_ssh_key("alice", gateway.keys["alice"]).returncode == 0
    # the server's own account is no gateway user, whatever its authorized_keys
    assert DENIED in gateway.gw_ssh_key("developer", gateway.ws.key).stderr
    assert unknown.returncode == wrong_key.returncode == 255
    assert DENIED in unknown.stderr
    assert unknown.stderr.replace("carol@", "U@") == wrong_key.stderr.replace("alice@", "U@")
    # and a jump as an unknown user never gets to a route
    r = gateway.jump("carol.ws", "true", user="alice", extra=[
        "-o", f"ProxyCommand=ssh -F {gateway.bootstrap_config('alice')} -W %h:%p carol@{HOST}"])
    assert r.returncode == 255 and DENIED in r.stderr
    assert not gateway.events("gateway_route") and not gateway.events("gateway_route_refused")
    # a user's file that another uid may write decides nothing: refused, logged
    os.chmod(os.path.join(gateway.users, "bob"), 0o666)
    r = gateway.gw_ssh_key("bob", gateway.keys["bob"])
    assert r.returncode == 255 and DENIED in r.stderr
    [problem] = gateway.events("gateway_problem")
    assert problem["user"] == "bob" and "bob" in problem["reason"]


KEYS_COMMAND = """#!/bin/sh
case $1 in
alice) cat {users}/alice ;;
hang) exec sleep 60 ;;
junk) echo 'this is not a key'; cat {users}/alice ;;
*) exit 1 ;;
esac
"""


def test_a_keys_command_that_hangs_or_prints_garbage_is_refused(gateway_factory, workspace):
    command = workspace.write("keys-command", KEYS_COMMAND.format(
        users=workspace.path("gw", "users")), 0o755)
    gateway = gateway_factory(gateway_users_dir=None, gateway_keys_command=command)
    r = gateway.gw_ssh("alice", "list")
    assert r.returncode == 0, r.stderr  # the command's keys work
    for user in ("hang", "junk"):
        started = time.monotonic()
        r = gateway.gw_ssh_key(user, gateway.keys["alice"], timeout=30)
        assert r.returncode == 255 and DENIED in r.stderr, r.stderr
        assert time.monotonic() - started < 15  # the command's limit is 5 s
    problems = {e["user"]: e["reason"] for e in gateway.events("gateway_problem")}
    assert "timed out" in problems["hang"]
    assert "not an authorized_keys line" in problems["junk"]
    # the gateway serves on
    assert gateway.gw_ssh("alice", "list").returncode == 0


def test_a_backend_that_fails_to_start_and_the_gateway_serves_on(gateway):
    gateway.control("alice", "start alice")
    gateway.control("bob", "start bob")
    gateway.ssh_config("alice")
    gateway.ssh_config("bob")
    gateway.stop_behind_its_back("alice")
    gateway.mode("fail")
    r = gateway.jump("alice.ws", "true")
    assert r.returncode == 255
    # the client learns that it failed, the log what the engine said
    generic = "workspace 'alice' did not start: the backend failed (see the gateway log)"
    assert refusal(generic) in r.stderr and "engine says no" not in r.stderr, r.stderr
    [wake] = gateway.events("gateway_wake")
    assert wake["result"] == generic
    assert any("engine says no" in p["reason"] for p in gateway.events("gateway_problem"))
    # right after: another user logs in and reaches a running workspace
    r = gateway.jump("bob.ws", "echo bob here", user="bob")
    assert (r.returncode, r.stdout) == (0, "bob here\n"), r.stderr
    gateway.mode("fail", on=False)
    r = gateway.jump("alice.ws", "echo alice here")
    assert (r.returncode, r.stdout) == (0, "alice here\n"), r.stderr


def test_a_slow_wake_under_client_keepalives(gateway):
    """A start that takes 6 s: the client, which gives up after two
    unanswered keepalives a second apart, stays connected; others are
    served meanwhile."""
    for user in ("alice", "bob"):
        gateway.control(user, f"start {user}")
        gateway.ssh_config(user)
    gateway.stop_behind_its_back("alice")
    gateway.mode("slow", "6")
    jump = (f"ssh -F {gateway.bootstrap_config('alice')} -o ServerAliveInterval=1 "
            f"-o ServerAliveCountMax=2 -W %h:%p alice@{HOST}")
    result = {}

    def slow():
        started = time.monotonic()
        result["r"] = gateway.jump("alice.ws", "echo woke", extra=[
            "-o", f"ProxyCommand={jump}", "-o", "ServerAliveInterval=1",
            "-o", "ServerAliveCountMax=2"])
        result["took"] = time.monotonic() - started
    t = threading.Thread(target=slow)
    t.start()
    try:
        assert wait_for(lambda: gateway.events("gateway_route"), timeout=20)
        r = gateway.jump("bob.ws", "echo meanwhile", user="bob")
        assert (r.returncode, r.stdout) == (0, "meanwhile\n"), r.stderr
        assert "r" not in result  # alice's wake still going
    finally:
        t.join(timeout=TIMEOUT)
    r = result["r"]
    assert (r.returncode, r.stdout) == (0, "woke\n"), r.stderr
    assert result["took"] >= 6
    [*_, wake] = gateway.events("gateway_wake")
    assert wake["workspace"] == "alice" and wake["duration_ms"] >= 6000



def test_the_gateways_own_keepalives_wait_for_a_woken_channel(gateway_factory):
    """The gateway's keepalives (-K 1 here; 30 s by default) go on an open
    channel, but never on the jump's channel while its workspace wakes: the
    client has no id for that channel yet, and OpenSSH ends the whole
    connection at a request on it.  This client sends no keepalives."""
    gateway = gateway_factory(server_args=["-K", "1"])
    gateway.control("alice", "start alice")
    gateway.ssh_config("alice")
    gateway.stop_behind_its_back("alice")
    gateway.mode("slow", "4")
    r = gateway.jump("alice.ws", "echo woke")
    assert (r.returncode, r.stdout) == (0, "woke\n"), r.stderr


def test_a_backend_whose_server_keeps_its_stdout_answers_when_it_exits(gateway_factory):
    """`start` exits at once but leaves the workspace's server holding its
    stdout (as a daemon started without redirecting it does): the call is
    over when the backend exits, not when every process it started has
    closed the pipe."""
    gateway = gateway_factory(gateway_wake_timeout="30")
    gateway.control("alice", "start alice")
    gateway.ssh_config("alice")
    gateway.stop_behind_its_back("alice")
    gateway.mode("inherit")
    started = time.monotonic()
    r = gateway.jump("alice.ws", "echo up")
    assert (r.returncode, r.stdout) == (0, "up\n"), r.stderr
    assert time.monotonic() - started < 15
    # and the server the backend started is the one that answered
    assert gateway.running("alice")
