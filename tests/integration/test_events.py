"""The hook library's JSON events with the real OpenSSH client: one login
writes each event once, a refused login's carry no user, pty sessions and
signals, log_commands = no, and events to a file instead of stderr."""
import json
import os
import re
import subprocess

from conftest import USER, keygen, unique, wait_for


def fingerprint(pubkey):
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pubkey],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_one_login_writes_each_event_once_as_json(server, workspace):
    r = server.ssh("echo hello; exit 3")
    assert r.returncode == 3
    connect = server.wait_event("connect")
    sid = connect["session"]
    server.wait_event("disconnect", session=sid)
    events = [e for e in server.events() if e.get("session") == sid]
    assert [e["event"] for e in events] == ["connect", "auth", "session_start",
                                            "session_exit", "disconnect"]
    assert re.fullmatch(r"[0-9a-f]{16}", sid)
    for e in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["ts"])
    auth, start, exit_, disc = events[1:]
    assert connect["client"] == "127.0.0.1" and connect["pid"] > 1
    assert auth["user"] == USER and auth["method"] == "publickey"
    assert auth["key_fp"] == fingerprint(workspace.key + ".pub")
    assert start["kind"] == "exec" and start["command"] == "echo hello; exit 3"
    assert start["pty"] is False and start["pid"] > 1
    assert exit_["status"] == 3 and exit_["bytes_out"] == len("hello\n")
    assert exit_["bytes_in"] == 0 and exit_["channel"] == start["channel"]
    assert disc["user"] == USER and disc["reason"] and disc["duration_ms"] >= 0


def test_events_for_a_refused_login_carry_no_user(server, workspace):
    server.ssh("true", key=keygen(workspace.path("stranger")))
    sid = server.wait_event("connect")["session"]
    disc = server.wait_event("disconnect", session=sid)
    assert "user" not in disc
    assert not [e for e in server.events() if e["event"] == "auth"]


def test_pty_sessions_and_signals_are_logged(server):
    server.ssh("kill -TERM $$", extra=["-tt"])
    e = server.wait_event("session_exit")
    assert e["signal"] == 15 and "status" not in e
    start = server.wait_event("session_start")
    assert start["pty"] is True and start["term"]


def test_log_commands_off_keeps_commands_out(start_server, workspace):
    server = start_server(config=workspace.write_config("log_commands = no\n")).wait_ready()
    arg = unique("secret-looking-arg")
    assert server.ssh(f"echo {arg}").returncode == 0
    start = server.wait_event("session_start")
    assert "command" not in start
    assert arg not in server.output()


def test_events_to_a_file(start_server, workspace):
    events = os.path.join(workspace.server_dir, "events.log")
    server = start_server(config=workspace.write_config(f"event_log = {events}\n"))
    server.wait_ready()
    assert server.ssh("true").returncode == 0
    assert wait_for(lambda: '"disconnect"' in open(events).read(), timeout=5)
    names = [json.loads(line)["event"] for line in open(events).read().splitlines()]
    assert names == ["connect", "auth", "session_start", "session_exit", "disconnect"]
    assert os.stat(events).st_mode & 0o777 == 0o600
    assert server.events() == []  # the file, not stderr, gets them
