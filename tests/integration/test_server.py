"""The patched server with the real OpenSSH client: key-only login as the
workspace user, exit status and streams, refusals, the hook library's JSON
events, and startup checks of the library and its config."""
import hashlib
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import DROPBEAR, HOOK_LIB, REPO, USER, keygen, listening, unique, wait_for


def test_key_login_runs_a_command_as_the_workspace_user(server, workspace):
    r = server.ssh("echo $USER; id -u; echo $HOME; echo $SHELL")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [USER, str(workspace.uid), workspace.home, "/bin/bash"]


@pytest.mark.parametrize("status", [0, 1, 7, 255])
def test_exit_status_reaches_the_client(server, status):
    assert server.ssh(f"exit {status}").returncode == status


def test_stdout_and_stderr_stay_separate(server):
    out, err, more = unique("to-out"), unique("to-err"), unique("more-out")
    r = server.ssh(f"echo {out}; echo {err} >&2; echo {more}")
    assert r.stdout == f"{out}\n{more}\n"
    assert f"{err}\n" in r.stderr and out not in r.stderr and more not in r.stderr


def test_stdin_reaches_the_command_byte_for_byte(server):
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = server.ssh("sha256sum", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_a_pty_session_gets_a_terminal_even_with_empty_stdin(server):
    # stdin is /dev/null: the client sends EOF at once (upstream issue #365)
    r = server.ssh("tty; echo $TERM", extra=["-tt"], options=["SetEnv=TERM=xterm-256color"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/"), r.stdout


def test_pty_sessions_write_no_login_records(server):
    """The unprivileged server cannot write lastlog, utmp or wtmp: it is
    built without them, so a pty session logs no error about them."""
    r = server.ssh("true", extra=["-tt"])
    assert r.returncode == 0, r.stderr
    server.wait_event("disconnect")
    log = server.output()
    for word in ("lastlog", "wtmp", "utmp", "syslogin"):
        assert word not in log, log


def processes(uid, argv):
    """pids of processes of uid whose command line is argv."""
    want = "\0".join(argv) + "\0"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                cmdline = f.read()
            st = os.stat(f"/proc/{pid}")
        except OSError:
            continue
        if cmdline == want and st.st_uid == uid:
            found.append(int(pid))
    return found


def test_a_dropped_connection_hangs_up_its_pty_session(server, workspace):
    argv = ["sleep", "117"]
    client = subprocess.Popen(server.ssh_args() + ["-tt", " ".join(argv) + "; echo done"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: processes(workspace.uid, argv)), "the command never started"
        client.kill()  # the client vanishes without closing its channel
        assert wait_for(lambda: not processes(workspace.uid, argv)), \
            "the session's processes outlived the connection"
    finally:
        client.kill()
        client.wait()


def test_control_characters_from_a_client_are_escaped_in_the_log(server):
    """An unauthenticated client's identification string reaches the text
    log (pod log, shared with the JSON events): terminal escapes, DEL, a C1
    control in UTF-8 and a byte that is not UTF-8 come out as \\xNN."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        c.sendall(b"SSH-1.5-\x1b]0;pwned\x07\x1b[2J\x7f\xc2\x9b31m\xff\xc3\xa9-end\r\n")
        c.settimeout(10)
        while c.recv(4096):  # the server hangs up after its log line
            pass
    assert wait_for(lambda: "Incompatible remote version" in server.output())
    with open(server.log_path, "rb") as f:
        out = f.read()
    bad = sorted({b for b in out if (b < 0x20 and b != 0x0a) or b == 0x7f})
    assert not bad, out
    assert b"\xc2\x9b" not in out, out  # nor in the JSON event (\\u009b there)
    assert (b"'SSH-1.5-\\x1b]0;pwned\\x07\\x1b[2J\\x7f\\xc2\\x9b31m\\xff\xc3\xa9-end'"
            in out), out


def test_password_auth_is_not_even_offered(server):
    r = server.ssh("true", options=["PubkeyAuthentication=no",
                                    "PreferredAuthentications=password,keyboard-interactive"],
                   extra=["-v"])
    assert r.returncode == 255
    assert re.search(r"Authentications that can continue: publickey\s*$", r.stderr, re.M), r.stderr
    assert "Permission denied (publickey)" in r.stderr


def test_an_unknown_key_is_refused(server, workspace):
    stranger = keygen(workspace.path("stranger"))
    r = server.ssh("true", key=stranger)
    assert r.returncode == 255
    assert "Permission denied (publickey)" in r.stderr


@pytest.mark.parametrize("user", ["root", "other", "nosuchuser"])
def test_other_user_names_are_refused_even_with_the_right_key(server, user):
    r = server.ssh("true", user=user)
    assert r.returncode == 255
    assert "Permission denied" in r.stderr
    assert server.ssh("true").returncode == 0  # the right name still works


def test_client_env_requests_are_refused_without_an_allowlist(server):
    r = server.ssh("echo ${WS_PROBE-unset}", options=["SetEnv=WS_PROBE=from-client"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "unset\n"


def test_the_server_runs_unprivileged(server, workspace):
    status = open(f"/proc/{server.proc.pid}/status").read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(workspace.uid)] * 4
    assert workspace.uid != 0
    assert re.search(r"^CapEff:\s+0+$", status, re.M)


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


def test_the_server_runs_without_the_library(start_server):
    server = start_server(hook=None, config=None).wait_ready()
    r = server.ssh("echo plain; exit 5")
    assert (r.returncode, r.stdout) == (5, "plain\n")
    assert server.events() == []
    assert "hook library" not in server.output()


def build_library(workspace, abi_version, entry="ws_hook_entry"):
    src, lib = workspace.path("lib.c"), workspace.path(f"lib-{abi_version}-{entry}.so")
    with open(src, "w") as f:
        f.write('#include "ws_hook.h"\n'
                f"static const struct ws_hooks h = {{ {abi_version}, sizeof(h), \"test\" }};\n"
                f"__attribute__((visibility(\"default\"))) const struct ws_hooks *{entry}(void)"
                " { return &h; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-I", os.path.join(REPO, "plugins"),
                    "-o", lib, src], check=True)
    return lib


def assert_startup_stops(server, message):
    rc = server.wait_exit()
    assert rc is not None, "the server kept running"
    assert rc != 0
    assert message in server.output(), server.output()
    assert not listening(server.port)


def test_a_library_for_another_abi_stops_startup(start_server, workspace):
    lib = build_library(workspace, 99)
    assert_startup_stops(start_server(hook=lib),
                         f"hook library {lib}: built for hook ABI 99, this server speaks hook ABI 1")


def test_a_library_of_this_abi_without_config_runs(start_server, workspace):
    lib = build_library(workspace, 1)
    server = start_server(hook=lib, config=None).wait_ready()
    assert server.ssh("exit 4").returncode == 4


def test_not_a_hook_library_stops_startup(start_server, workspace):
    lib = build_library(workspace, 1, entry="something_else")
    assert_startup_stops(start_server(hook=lib, config=None),
                         "no ws_hook_entry() symbol: not an ssh-workspace hook library")
    missing = workspace.path("missing.so")
    assert_startup_stops(start_server(hook=missing, config=None),
                         f"hook library {missing}: {missing}: cannot open shared object file")


@pytest.mark.parametrize("text, message", [
    ("event_log = stderr\nbogus = 1\n", "hooks.conf:2: unknown key 'bogus'"),
    ("log_commands = perhaps\n", "hooks.conf:1: log_commands: expected yes or no"),
    ("event_log = /nonexistent-dir/e.log\n",
     "event_log /nonexistent-dir/e.log: No such file or directory"),
])
def test_a_bad_config_stops_startup_with_a_clear_message(start_server, workspace, text, message):
    server = start_server(config=workspace.write_config(text))
    assert_startup_stops(server, message)
    assert "startup failed" in server.output()


def test_a_missing_config_stops_startup(start_server, workspace):
    missing = workspace.path("nope.conf")
    assert_startup_stops(start_server(config=missing), f"{missing}: No such file or directory")


def test_hook_config_without_hook_is_an_error(start_server, workspace):
    assert_startup_stops(start_server(hook=None), "--hook-config needs --hook")


def test_help_lists_the_hook_options():
    r = subprocess.run([DROPBEAR, "-h"], capture_output=True, text=True)
    assert "--hook <library.so>" in r.stderr + r.stdout
    assert "--hook-config <file>" in r.stderr + r.stdout
    assert os.path.isfile(HOOK_LIB)
