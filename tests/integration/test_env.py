"""The per-user environment with the real OpenSSH client: each source
(directory, dotenv file, helper command, Unix-socket endpoint), their
precedence, every kind of session, and bad input that must neither crash
the server nor put a value (nor a helper's malformed line) in its log.
Client env requests are in test_client_env.py, sources someone else can
write in test_env_trust.py."""
import os
import socketserver
import threading
import time

import pytest

from conftest import USER, serve_with, unique, wait_for, write_exec

SECRET = unique("s3cr3t-value-never-logged")


def env_of(output):
    """NAME=VALUE lines of `env` output as a dict (values on one line)."""
    out = {}
    for line in output.replace("\r", "").splitlines():
        name, sep, value = line.partition("=")
        if sep:
            out[name] = value
    return out


def kubelet_dir(root, files):
    """A Secret volume as the kubelet writes it: files in a timestamped
    directory, `..data` pointing at it, visible names pointing through it."""
    os.makedirs(root, exist_ok=True)
    data = os.path.join(root, "..2026_11_23_00_00_00.123")
    for name, value in files.items():
        path = os.path.join(data, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(value)
    os.symlink(os.path.basename(data), os.path.join(root, "..data"))
    for top in {name.split("/")[0] for name in files}:
        os.symlink(os.path.join("..data", top), os.path.join(root, top))
    return root


class EnvEndpoint:
    """An HTTP server on a Unix socket, answering GET with a JSON body (or
    whatever `reply` says), recording request lines."""

    def __init__(self, path, body='{}', status="200 OK", delay=0.0, raw=None):
        self.path, self.requests = path, []
        endpoint = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                endpoint.requests.append(self.rfile.readline().decode().rstrip())
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                time.sleep(delay)
                payload = raw if raw is not None else (
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

        self.server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self.server.daemon_threads = True
        os.chmod(path, 0o666)  # the server runs as the workspace uid
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(workspace):
    made = []

    def start(**kw):
        e = EnvEndpoint(workspace.path(f"env-{len(made)}.sock"), **kw)
        made.append(e)
        return e
    yield start
    for e in made:
        e.close()


def assert_no_secret_logged(server):
    assert SECRET not in server.output()


def test_each_source_sets_variables_and_later_sources_win(start_server, workspace, endpoint):
    kubelet_dir(workspace.path("envdir"), {
        "WHO": "dir\n", "FROM_DIR": "d", "DIR_AND_FILE": "dir",
        f"{USER}/FROM_USER_DIR": "u", f"{USER}/DIR_AND_FILE": "user-dir"})
    with open(workspace.path(f"{USER}.env"), "w") as f:
        f.write(f"WHO=file\nexport FROM_FILE='f f'\nDIR_AND_FILE=file\nTOKEN={SECRET}\n")
    helper = write_exec(workspace, "helper.sh",
                        "#!/bin/sh\necho WHO=command\necho FROM_COMMAND=\"$1 $2 $3 $4\"\n")
    sock = endpoint(body='{"WHO": "socket", "FROM_SOCKET": "s\\u00e9"}')
    server = serve_with(start_server, workspace,
                        f"env_dir = {workspace.path('envdir')}\n"
                        f"env_file = {workspace.path('%u.env')}\n"
                        f"env_command = {helper}\n"
                        f"env_socket = {sock.path}\n")
    r = server.ssh("env")
    assert r.returncode == 0, r.stderr
    env = env_of(r.stdout)
    assert env["WHO"] == "socket"
    assert env["FROM_DIR"] == "d" and env["FROM_USER_DIR"] == "u"
    assert env["DIR_AND_FILE"] == "file"
    assert env["FROM_FILE"] == "f f" and env["TOKEN"] == SECRET
    session = server.wait_event("auth")["session"]
    fp = server.wait_event("auth")["key_fp"]
    assert env["FROM_COMMAND"] == f"{USER} {session} 127.0.0.1 {fp}"
    assert env["FROM_SOCKET"] == "s\u00e9"
    assert sock.requests == [f"GET /v1/env?user={USER}&session={session} HTTP/1.0"]
    sources = [e for e in server.events() if e["event"] == "env_source"]
    assert [(e["source"], e["status"], e["vars"]) for e in sources] == [
        ("dir", "ok", 5), ("file", "ok", 4), ("command", "ok", 2), ("socket", "ok", 2)]
    assert_no_secret_logged(server)


def test_a_user_without_a_per_user_file_gets_the_shared_ones(start_server, workspace):
    kubelet_dir(workspace.path("envdir"), {"SHARED": "1", "someone-else/X": "2"})
    server = serve_with(start_server, workspace,
                        f"env_dir = {workspace.path('envdir')}\n"
                        f"env_file = {workspace.path('%u.env')}\n")
    env = env_of(server.ssh("env").stdout)
    assert env["SHARED"] == "1" and "X" not in env
    statuses = {e["source"]: e["status"] for e in server.events() if e["event"] == "env_source"}
    assert statuses == {"dir": "ok", "file": "absent"}


def test_a_secret_update_reaches_the_next_session(start_server, workspace):
    root = kubelet_dir(workspace.path("envdir"), {"TOKEN": "old"})
    server = serve_with(start_server, workspace, f"env_dir = {root}\n")
    assert env_of(server.ssh("env").stdout)["TOKEN"] == "old"
    # the kubelet's atomic swap: a new timestamped dir, then ..data renamed over
    new = os.path.join(root, "..2026_11_23_00_05_00.456")
    os.makedirs(new)
    with open(os.path.join(new, "TOKEN"), "w") as f:
        f.write("new")
    os.symlink(os.path.basename(new), os.path.join(root, "..data_tmp"))
    os.rename(os.path.join(root, "..data_tmp"), os.path.join(root, "..data"))
    assert env_of(server.ssh("env").stdout)["TOKEN"] == "new"


def test_env_reaches_pty_shells_exec_and_sftp(start_server, workspace):
    with open(workspace.path("all.env"), "w") as f:
        f.write("WS_KIND_PROBE=present\n")
    server = serve_with(start_server, workspace, f"env_file = {workspace.path('all.env')}\n")
    # exec without a pty
    assert env_of(server.ssh("env").stdout)["WS_KIND_PROBE"] == "present"
    # exec with a pty
    r = server.ssh("env", extra=["-tt"])
    assert env_of(r.stdout).get("WS_KIND_PROBE") == "present", r.stdout
    # a login shell with a pty, driven through stdin
    r = server.ssh(None, extra=["-tt"], input="echo probe=$WS_KIND_PROBE; exit\n")
    assert "probe=present" in r.stdout.replace("\r", ""), r.stdout
    # the sftp subsystem: read the environment of the running sftp-server,
    # which makes itself non-dumpable: only root may read it
    if os.getuid() != 0:
        return
    import subprocess
    proc = subprocess.Popen(server.ssh_args()[:-1] + ["-s", f"{USER}@127.0.0.1", "sftp"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        start = server.wait_event("session_start", timeout=10)
        started = [e for e in server.events() if e["event"] == "session_start"
                   and e["kind"] == "subsystem"]
        pid = wait_for(lambda: next((e["pid"] for e in server.events()
                                     if e["event"] == "session_start"
                                     and e["kind"] == "subsystem"), None))
        assert start and pid, started

        def environ():
            with open(f"/proc/{pid}/environ", "rb") as f:
                return f.read().split(b"\0")
        assert wait_for(lambda: b"WS_KIND_PROBE=present" in environ()), environ()
    finally:
        proc.kill()
        proc.wait()


def test_path_can_be_allowed_explicitly(start_server, workspace):
    with open(workspace.path("all.env"), "w") as f:
        f.write("PATH=/opt/tools/bin:/usr/bin:/bin\n")
    server = serve_with(start_server, workspace,
                        f"env_file = {workspace.path('all.env')}\nenv_allow_path = yes\n")
    assert server.ssh("echo $PATH").stdout.strip() == "/opt/tools/bin:/usr/bin:/bin"


# --- bad input: each must leave the server running, the session starting
# (fail-open, the default) and no value in the log ---

def rejected_of(server, source):
    e = next(e for e in server.events() if e["event"] == "env_source" and e["source"] == source)
    return e


def test_invalid_and_denied_names_are_skipped_and_named(start_server, workspace):
    kubelet_dir(workspace.path("envdir"), {
        "GOOD": SECRET, "bad-name": SECRET, "LD_PRELOAD": "/tmp/x.so", "HOME": "/tmp",
        "SSH_AUTH_SOCK": "/tmp/s", "PATH": "/tmp", "9LIVES": "x", ".hidden": "x"})
    server = serve_with(start_server, workspace, f"env_dir = {workspace.path('envdir')}\n")
    r = server.ssh("env")
    env = env_of(r.stdout)
    assert env["GOOD"] == SECRET and env["HOME"] == workspace.home
    assert "LD_PRELOAD" not in env and "9LIVES" not in env and ".hidden" not in env
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    e = rejected_of(server, "dir")
    assert e["status"] == "ok" and e["vars"] == 1 and e["rejected"] == 6
    for name in ("bad-name (invalid name)", "LD_PRELOAD (denied name)", "HOME (denied name)",
                 "SSH_AUTH_SOCK (denied name)", "PATH (denied name)", "9LIVES (invalid name)"):
        assert name in e["rejected_names"]
    assert_no_secret_logged(server)


def test_nul_bytes_oversized_values_and_too_many_variables(start_server, workspace):
    helper = write_exec(workspace, "helper.sh",
                        "#!/bin/sh\nprintf 'NUL=a\\000b\\nBIG=%s\\n' \"$(head -c 5000 /dev/zero | tr '\\0' x)\"\n"
                        f"for i in 1 2 3 4 5; do echo V$i={SECRET}; done\n")
    server = serve_with(start_server, workspace,
                        f"env_command = {helper}\nenv_value_max = 4096\nenv_max_vars = 3\n")
    env = env_of(server.ssh("env").stdout)
    assert [n for n in ("NUL", "BIG", "V1", "V2", "V3", "V4", "V5") if n in env] == ["V1", "V2", "V3"]
    e = rejected_of(server, "command")
    assert e["rejected_names"] == ("NUL (NUL byte in value), BIG (value too long), "
                                   "V4 (too many variables), V5 (too many variables)")
    assert_no_secret_logged(server)


def test_total_size_cap(start_server, workspace):
    kubelet_dir(workspace.path("envdir"), {f"V{i}": "x" * 1000 for i in range(10)})
    server = serve_with(start_server, workspace,
                        f"env_dir = {workspace.path('envdir')}\nenv_max_bytes = 4K\n")
    env = env_of(server.ssh("env").stdout)
    assert sum(1 for n in env if n.startswith("V")) == 4  # 4 x 1003 bytes fit in 4096
    assert rejected_of(server, "dir")["rejected"] == 6


@pytest.mark.parametrize("script,reason", [
    ("echo A=1\nexit 3\n", "exited with status 3"),
    ("echo 'this is not an assignment'\n", "output line 2: expected NAME=VALUE"),
    ("head -c 300000 /dev/urandom\n", None),  # binary garbage: too large or not lines
    ("kill -9 $$\n", "killed by signal 9"),
])
def test_a_failing_helper_is_logged_and_the_session_starts(start_server, workspace, script, reason):
    helper = write_exec(workspace, "helper.sh", f"#!/bin/sh\necho SET_BEFORE={SECRET}\n{script}")
    server = serve_with(start_server, workspace, f"env_command = {helper}\n")
    r = server.ssh("echo started ${SET_BEFORE-unset} ${A-unset}")
    assert r.stdout == "started unset unset\n", r.stderr
    e = rejected_of(server, "command")
    assert e["status"] == "failed" and e["vars"] == 0
    if reason:
        assert e["reason"] == f"{helper}: {reason}"
    assert_no_secret_logged(server)


def test_a_hanging_helper_costs_only_its_timeout(start_server, workspace):
    # a duration of its own: other test runs on the machine may sleep 60 too
    nap = f"60.{os.getpid()}"
    helper = write_exec(workspace, "helper.sh", f"#!/bin/sh\necho A=1\nsleep {nap}\n")
    server = serve_with(start_server, workspace,
                        f"env_command = {helper}\nenv_command_timeout = 700ms\n")
    t0 = time.monotonic()
    r = server.ssh("echo started ${A-unset}")
    took = time.monotonic() - t0
    assert r.stdout == "started unset\n", r.stderr
    assert took < 0.7 + 5, took  # the timeout plus a login; bounded, not a benchmark
    e = rejected_of(server, "command")
    assert e["reason"] == f"{helper}: timed out after 700 ms; killed"
    assert 690000 <= e["us"] < 3000000
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == ["sleep", nap]]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


@pytest.mark.parametrize("kind,reason", [
    ("absent", "No such file or directory"),
    ("slow", "response timed out after 500 ms"),
    ("500", "HTTP status 500"),
    ("invalid", "the value of \"A\" is not a string"),
    ("truncated", "unterminated string"),
])
def test_a_failing_socket_is_logged_and_the_session_starts(start_server, workspace, endpoint,
                                                           kind, reason):
    body = {"slow": '{"A": "1"}', "500": '{"A": "1"}', "invalid": '{"A": 1}',
            "truncated": f'{{"A": "{SECRET}'}.get(kind, "{}")
    if kind == "absent":
        path = workspace.path("no.sock")
    else:
        path = endpoint(body=body, status="500 Internal Server Error" if kind == "500" else "200 OK",
                        delay=2.0 if kind == "slow" else 0).path
    server = serve_with(start_server, workspace,
                        f"env_socket = {path}\nenv_socket_timeout = 500ms\n")
    r = server.ssh("echo started ${A-unset}")
    assert r.stdout == "started unset\n", r.stderr
    e = rejected_of(server, "socket")
    assert e["status"] == "failed" and reason in e["reason"], e
    assert_no_secret_logged(server)


def test_fail_closed_refuses_the_session(start_server, workspace):
    helper = write_exec(workspace, "helper.sh", "#!/bin/sh\nexit 1\n")
    marker = workspace.path("server", "ran")
    server = serve_with(start_server, workspace,
                        f"env_command = {helper}\nenv_on_failure = closed\n")
    r = server.ssh(f"touch {marker}")
    assert r.returncode != 0
    assert not os.path.exists(marker)
    assert rejected_of(server, "command")["status"] == "failed"
    # the same helper succeeding lets sessions in again
    write_exec(workspace, "helper.sh", "#!/bin/sh\necho OK=1\n")
    assert server.ssh("echo $OK").stdout == "1\n"


def test_a_missing_helper_stops_startup(start_server, workspace):
    workspace.config = workspace.write_config(f"env_command = {workspace.path('nope')}\n")
    server = start_server()
    assert server.wait_exit() not in (None, 0)
    assert f"env_command {workspace.path('nope')}: No such file or directory" in server.output()


# --- a helper's malformed lines: their text never reaches the log ---

def test_text_of_a_malformed_helper_line_is_not_logged(start_server, workspace):
    secret = unique("S3cretPassw0rd")
    helper = write_exec(workspace, "helper.sh",
                        "#!/bin/sh\necho GOOD=1\n"
                        f"echo 'DATABASE_URL: postgres://app:{secret}@db:5432/app?sslmode=require'\n"
                        f"echo 'API_SECRET_B64 {secret}=='\n")
    server = serve_with(start_server, workspace, f"env_command = {helper}\n")
    r = server.ssh("echo ${GOOD-unset}")
    rejected_of(server, "command")  # logged by now
    assert secret not in server.output()
    assert r.stdout == "unset\n"  # a malformed line fails the whole source
    e = rejected_of(server, "command")
    assert e["status"] == "failed" and e["vars"] == 0
    assert e["reason"] == f"{helper}: output line 2: invalid variable name", e
    assert "rejected_names" not in e
