"""The patched server with the real OpenSSH client: key-only login as the
workspace user, exit status and streams, pty sessions, control characters
in the log, refusals, and an unprivileged server.  The hook library's events
are in test_events.py, its loading in test_hook_library.py."""
import hashlib
import os
import re
import socket
import subprocess

import pytest

from conftest import USER, keygen, unique, wait_for


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


def test_the_server_runs_unprivileged(server, workspace):
    status = open(f"/proc/{server.proc.pid}/status").read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(workspace.uid)] * 4
    assert workspace.uid != 0
    assert re.search(r"^CapEff:\s+0+$", status, re.M)
