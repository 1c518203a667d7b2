"""Faults around the server: an environment helper killed or hung, the env
endpoint dying in the middle of a response, the workspace agent sidecar
gone or hung, a full home volume, SIGTERM with live sessions.  For each:
the server does not crash (it still logs people in afterwards, no segfault
message, every connection process ends with its disconnect line), the fault
is said in exactly one clear log line, and a session that was running
meanwhile ends normally.  docs/reliability.md has the table."""
import glob
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import (BUILD, keygen, kill_session_leftovers, listening, unique, wait_for,
                      write_exec)

PROXY = os.path.join(BUILD, "bin", "ws-agent-proxy")
BOUND = 10  # seconds: any session start or end waited for here


def serve(start_server, workspace, config, **kw):
    workspace.config = workspace.write_config("event_log = stderr\n" + config)
    return start_server(**kw).wait_ready()


def first_line(proc, timeout=BOUND):
    """The first line a client printed, waited for at most timeout s."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else f"(nothing after {timeout}s)"


class Bystander:
    """A session that runs through the fault: prints `before`, waits for
    the go file (bounded), prints `after` and exits 0."""

    def __init__(self, server, name, options=(), before="$FROM_SOURCE"):
        self.go = server.ws.path("server", f"go-{name}")
        cmd = (f"echo before {before}; n=0; while [ ! -e {self.go} ] && [ $n -lt 200 ]; "
               f"do sleep 0.1; n=$((n+1)); done; echo after")
        self.proc = subprocess.Popen(server.ssh_args(options=options) + [cmd],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.first = first_line(self.proc)  # the session has started

    def finish(self):
        open(self.go, "w").close()
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.first + out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def assert_no_crash(server):
    """The listener runs and logs people in; every connection process that
    started has ended with its disconnect line (a crash would have none)."""
    assert server.proc.poll() is None, server.output()[-3000:]
    r = server.ssh("echo alive")
    assert r.returncode == 0 and r.stdout == "alive\n", r.stderr

    def all_ended():
        events = server.events()
        started = {e["session"] for e in events if e["event"] == "connect"}
        return started == {e["session"] for e in events if e["event"] == "disconnect"}
    assert wait_for(all_ended, BOUND), server.output()[-3000:]
    for bad in ("segfault", "AddressSanitizer", "runtime error:"):
        assert bad not in server.output()


def events_of(server, event, **fields):
    return [e for e in server.events() if e["event"] == event
            and all(e.get(k) == v for k, v in fields.items())]


def newest_session(server):
    """The session id of the newest connection."""
    return [e for e in server.events() if e["event"] == "connect"][-1]["session"]


# --- the environment helper (env_command) ---

@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_env_helper_killed_or_hung(start_server, workspace, fault):
    state = workspace.path("server")
    helper = write_exec(workspace, "helper.sh", f"""#!/bin/sh
if [ -e {state}/fault ]; then
    rm -f {state}/fault
    echo $$ > {state}/helper.pid
    echo FROM_SOURCE=partial
    exec sleep 60.{os.getpid()}
fi
echo FROM_SOURCE=helper
""")
    server = serve(start_server, workspace,
                   f"env_command = {helper}\nenv_command_timeout = 1500ms\n")
    bystander = Bystander(server, "b")
    try:
        assert bystander.first == "before helper\n"
        open(os.path.join(state, "fault"), "w").close()
        t0 = time.monotonic()
        faulty = subprocess.Popen(server.ssh_args() + ["echo started ${FROM_SOURCE-unset}"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        pid_file = os.path.join(state, "helper.pid")
        assert wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read().strip(), BOUND)
        helper_pid = int(open(pid_file).read())
        if fault == "killed":
            os.kill(helper_pid, signal.SIGKILL)
        out, err = faulty.communicate(timeout=30)
        took = time.monotonic() - t0
        # the session started without the helper's variables
        assert faulty.returncode == 0 and out == "started unset\n", err
        if fault == "hung":
            assert 1.5 <= took < 1.5 + BOUND, took
            assert not os.path.exists(f"/proc/{helper_pid}"), "the hung helper was not killed"
        rc, out, err = bystander.finish()
        assert (rc, out) == (0, "before helper\nafter\n"), err
    finally:
        bystander.kill()
    failed = events_of(server, "env_source", status="failed")
    reason = {"killed": f"{helper}: killed by signal 9",
              "hung": f"{helper}: timed out after 1500 ms; killed"}[fault]
    assert [e["reason"] for e in failed] == [reason]
    assert server.ssh("echo $FROM_SOURCE").stdout == "helper\n"  # the next one works
    assert_no_crash(server)


# --- the env endpoint (env_socket) dying in the middle of a response ---

ENDPOINT = r'''
import os, socket, sys
path, die_marker = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
os.chmod(path, 0o666)
srv.listen(16)
print("listening", flush=True)
while True:
    conn, _ = srv.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            break
        request += chunk
    body = b'{"FROM_SOURCE": "socket"}'
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    if os.path.exists(die_marker):
        # half of the response, then the whole process is gone
        conn.sendall(head % len(body) + body[:10])
        os._exit(3)
    conn.sendall(head % len(body) + body)
    conn.close()
'''


class Endpoint:
    def __init__(self, ws):
        self.path, self.marker = ws.path("env.sock"), ws.path("die")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.proc = subprocess.Popen([sys.executable, "-c", ENDPOINT, self.path, self.marker],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "listening\n"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_env_endpoint_dying_mid_response(start_server, workspace):
    endpoint = Endpoint(workspace)
    server = serve(start_server, workspace,
                   f"env_socket = {endpoint.path}\nenv_socket_timeout = 2s\n")
    bystander = Bystander(server, "b")
    try:
        assert bystander.first == "before socket\n"
        open(endpoint.marker, "w").close()
        t0 = time.monotonic()
        r = server.ssh("echo started ${FROM_SOURCE-unset}")
        assert r.returncode == 0 and r.stdout == "started unset\n", r.stderr
        assert time.monotonic() - t0 < 2 + BOUND  # the EOF ended the wait, not the timeout
        assert endpoint.proc.wait(BOUND) == 3  # it did die mid-response
        rc, out, err = bystander.finish()
        assert (rc, out) == (0, "before socket\nafter\n"), err
        failed = events_of(server, "env_source", status="failed")
        assert [e["reason"] for e in failed] == [
            f"{endpoint.path}: body shorter than its Content-Length"]
        assert failed[0]["us"] < 2000000
        # while it is down: its socket file is left, nobody listens
        r = server.ssh("echo started ${FROM_SOURCE-unset}")
        assert r.stdout == "started unset\n"
        failed = events_of(server, "env_source", status="failed")
        assert failed[-1]["reason"] == f"{endpoint.path}: Connection refused" and len(failed) == 2
        # back up: the next session has its variables again
        os.unlink(endpoint.marker)
        endpoint = Endpoint(workspace)
        assert server.ssh("echo $FROM_SOURCE").stdout == "socket\n"
    finally:
        bystander.kill()
        endpoint.stop()
    assert_no_crash(server)


# --- the workspace agent sidecar (agent_workspace_socket) ---

class Sidecar:
    """ssh-agent with one key behind ws-agent-proxy, as the sidecar runs them."""

    def __init__(self, ws):
        self.ws = ws
        self.agent_sock, self.sock = ws.path("deploy-agent.sock"), ws.path("workspace-agent.sock")
        self.key = keygen(ws.path("deploy_key"))
        self.agent = subprocess.Popen(["ssh-agent", "-D", "-a", self.agent_sock],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: subprocess.run(
            ["ssh-add", "-q", self.key], env=dict(os.environ, SSH_AUTH_SOCK=self.agent_sock),
            capture_output=True).returncode == 0)
        self.fingerprint = subprocess.run(["ssh-keygen", "-lf", self.key + ".pub"], check=True,
                                          capture_output=True, text=True).stdout.split()[1]
        self.start_proxy()

    def start_proxy(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)  # a killed proxy's, so that the wait below means something
        self.proxy = subprocess.Popen([PROXY, "--listen", self.sock, "--agent", self.agent_sock,
                                       "--allow-uid", str(self.ws.uid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: os.path.exists(self.sock))

    def stop(self):
        for p in (self.proxy, self.agent):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
            p.wait()


@pytest.fixture
def sidecar(workspace):
    s = Sidecar(workspace)
    yield s
    s.stop()


@pytest.mark.parametrize("fault,reason", [
    ("listener died", "Connection refused"),
    ("socket file removed", "no such socket"),
    ("hung", "not accepting connections (its backlog is full)"),
])
def test_workspace_agent_gone_or_hung(start_server, workspace, sidecar, fault, reason):
    server = serve(start_server, workspace,
                   f"agent_dir = {workspace.path('server', 'agent')}\n"
                   f"agent_workspace_socket = {sidecar.sock}\n")
    bystander = Bystander(server, "b", before="$(ssh-add -l | wc -l)")
    queued = []
    try:
        assert bystander.first == "before 1\n"  # it has the deploy key
        if fault == "listener died":
            sidecar.proxy.kill()  # no cleanup: the socket file stays
            sidecar.proxy.wait()
            assert os.path.exists(sidecar.sock)
        elif fault == "socket file removed":
            os.unlink(sidecar.sock)
        else:
            # stopped, and its backlog (128) filled by clients it never accepts
            os.kill(sidecar.proxy.pid, signal.SIGSTOP)
            for _ in range(300):
                c = socket.socket(socket.AF_UNIX)
                c.setblocking(False)
                try:
                    c.connect(sidecar.sock)
                except BlockingIOError:
                    c.close()
                    break
                queued.append(c)
        t0 = time.monotonic()
        r = server.ssh("echo started; ssh-add -l", timeout=30)
        assert time.monotonic() - t0 < BOUND
        assert r.stdout == "started\n" and r.returncode == 2, (r.stdout, r.stderr)  # no agent
        rc, out, err = bystander.finish()
        assert (rc, out) == (0, "before 1\nafter\n"), err
    finally:
        bystander.kill()
        for c in queued:
            c.close()
    problems = events_of(server, "agent_problem")
    assert [(p["problem"], p["reason"]) for p in problems] == [("workspace_socket", reason)]
    assert events_of(server, "agent_link")[-1]["target"] == "none"
    # the sidecar is back: the next session has the deploy key again
    if fault == "hung":
        os.kill(sidecar.proxy.pid, signal.SIGCONT)
    else:
        sidecar.proxy.kill()
        sidecar.proxy.wait()
        sidecar.start_proxy()
    assert wait_for(lambda: sidecar.fingerprint in server.ssh("ssh-add -l").stdout, BOUND)
    assert_no_crash(server)


# --- a full home volume ---

def test_a_full_home_volume(start_server, workspace):
    if os.getuid() != 0:
        pytest.skip("needs root: a 1 MiB tmpfs home in a mount namespace")
    home = workspace.home
    server = serve(start_server, workspace,
                   f"agent_dir = {home}/.agent\nactivity_dir = {home}/activity\n",
                   home_size="1m")
    # the home as the server sees it (its own mount namespace)
    seen = f"/proc/{server.proc.pid}/root{home}"
    assert server.ssh("stat -f -c %T ~").stdout == "tmpfs\n"
    bystander = Bystander(server, "b", before="x")
    agent_sock = workspace.path("client-agent.sock")
    client_agent = subprocess.Popen(["ssh-agent", "-D", "-a", agent_sock],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert bystander.first == "before x\n"
        with open(os.path.join(seen, "fill"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as e:
                assert e.errno == 28  # ENOSPC
        assert wait_for(lambda: os.path.exists(agent_sock))
        r = server.ssh("echo in; echo data > ~/new && echo written; echo $SSH_AUTH_SOCK; "
                       "ssh-add -l; echo agent=$?",
                       options=[f"IdentityAgent={agent_sock}", "ForwardAgent=yes"])
        # the session runs; its writes fail with ENOSPC; the agent link
        # (a symlink: no data block) still works
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["in", f"{home}/.agent/agent.sock",
                                         "The agent has no identities.", "agent=1"], r.stdout
        assert "No space left on device" in r.stderr
        session = newest_session(server)
        rc, out, err = bystander.finish()
        assert (rc, out) == (0, "before x\nafter\n"), err
    finally:
        bystander.kill()
        client_agent.kill()
        client_agent.wait()
    # the activity record of the connection made on the full volume could not
    # be written: one line for it
    problems = events_of(server, "activity_problem", session=session)
    assert [p["reason"] for p in problems] == ["cannot write: No space left on device"], problems
    assert problems[0]["path"] == f"{home}/activity/{session}.json"
    assert not [p for p in events_of(server, "activity_problem")
                if p["session"] not in (session, bystander_session(server))]
    # room again: records are written again, with no new line
    os.unlink(os.path.join(seen, "fill"))
    before = len(events_of(server, "activity_problem"))
    proc = subprocess.Popen(server.ssh_args() + ["sleep 5"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: glob.glob(os.path.join(seen, "activity", "*.json")), BOUND)
    finally:
        proc.kill()
        proc.wait()
    assert len(events_of(server, "activity_problem")) == before
    assert_no_crash(server)


def bystander_session(server):
    return next(e["session"] for e in server.events() if e["event"] == "session_start"
                and e.get("command", "").startswith("echo before x"))


# --- SIGTERM with live sessions ---

def test_sigterm_ends_every_connection_and_the_listener(start_server, workspace):
    """The listener stops listening at once, sends SIGTERM to every
    connection process (logged in or not), waits for them (at most 5 s)
    and exits 0.  Each connection ends with its disconnect line ("Terminated
    by signal"); its client sees the connection closed.  A pty session's
    processes get SIGHUP from the terminal; a command without a pty is not
    signalled and runs on (in the container it ends with the pod)."""
    activity = workspace.path("server", "activity")
    marker = workspace.path("server", "ran-on")
    late = unique("late")  # printed only if a session outlived the server
    server = serve(start_server, workspace,
                   f"activity_dir = {activity}\nagent_dir = {workspace.path('server', 'agent')}\n")
    exec_session = subprocess.Popen(
        server.ssh_args() + [f"echo started; sleep 3; echo {late} > {marker}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pty_session = subprocess.Popen(
        server.ssh_args() + ["-tt", f"echo started; sleep 30; echo {late}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)
    try:
        for p in (exec_session, pty_session):
            assert first_line(p).strip() == "started"
        assert wait_for(lambda: len(events_of(server, "connect")) == 3)
        assert len(glob.glob(os.path.join(activity, "*.json"))) == 3
        pty_pid = events_of(server, "session_start", pty=True)[0]["pid"]
        exec_pid = events_of(server, "session_start", pty=False)[0]["pid"]

        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(BOUND) == 0, server.output()[-3000:]
        assert time.monotonic() - t0 < 5 + 1
        assert not listening(server.port)
        for p in (exec_session, pty_session):
            out, err = p.communicate(timeout=BOUND)
            assert p.returncode == 255 and "closed by remote host" in err, (out, err)
            assert late not in out
        silent.settimeout(BOUND)
        assert silent.recv(4096).startswith(b"SSH-2.0-")  # its banner, then the close
        assert silent.recv(4096) == b""
    finally:
        for p in (exec_session, pty_session):
            if p.poll() is None:
                p.kill()
            p.wait()
        silent.close()
    out = server.output()
    assert out.count("Terminated by signal: ending 3 connections") == 1, out[-3000:]
    ends = events_of(server, "disconnect")
    assert len(ends) == 3 and {e["reason"] for e in ends} == {"Terminated by signal"}, ends
    assert not glob.glob(os.path.join(activity, "*.json"))
    assert "segfault" not in out
    # the pty session's shell got SIGHUP; the command without a pty ran on
    assert wait_for(lambda: not os.path.exists(f"/proc/{pty_pid}"), BOUND)
    assert wait_for(lambda: os.path.exists(marker), BOUND)
    assert not os.path.exists(f"/proc/{exec_pid}") or wait_for(
        lambda: not os.path.exists(f"/proc/{exec_pid}"), BOUND)
    # started again, it logs people in
    again = start_server().wait_ready()
    assert again.ssh("echo again").stdout == "again\n"



def test_sigterm_waits_at_most_5_s_for_a_connection_held_by_a_hung_helper(start_server, workspace):
    """A connection process inside a session start (here: waiting for a
    helper with a 7 s timeout) acts on SIGTERM only when the start is over:
    the listener waits 5 s for it, says so, and exits anyway; the
    connection ends after the helper's timeout."""
    state = workspace.path("server")
    helper = write_exec(workspace, "helper.sh",
                        f"#!/bin/sh\necho $$ > {state}/helper.pid\nexec sleep 60.{os.getpid()}\n")
    server = serve(start_server, workspace, f"env_command = {helper}\nenv_command_timeout = 7s\n")
    client = subprocess.Popen(server.ssh_args() + ["echo started"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid_file = os.path.join(state, "helper.pid")
        assert wait_for(lambda: os.path.exists(pid_file) and open(pid_file).read().strip(), BOUND)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(BOUND) == 0
        took = time.monotonic() - t0
        assert 5 <= took < 5 + 2, took
        assert not listening(server.port)
        out = server.output()
        assert out.count("Terminated by signal: ending 1 connection\n") == 1, out[-2000:]
        assert out.count("1 connection still open after 5 s: left running") == 1, out[-2000:]
        # the helper's timeout ends the session start; then the connection ends
        end = server.wait_event("disconnect", timeout=BOUND)
        assert end["reason"] == "Terminated by signal"
        client.communicate(timeout=BOUND)
        assert client.returncode == 255
    finally:
        if client.poll() is None:
            client.kill()
        client.wait()
        kill_session_leftovers(server)
    assert "segfault" not in server.output()


@pytest.mark.stress
@pytest.mark.skipif(os.environ.get("WS_STRESS") != "1", reason="make stress (WS_STRESS=1) runs it")
def test_sigterm_with_300_live_sessions(start_server, workspace, capsys):
    from test_load import LoadClient, children, listener
    activity = workspace.path("server", "activity")
    server = serve(start_server, workspace, f"activity_dir = {activity}\n")
    pid = listener(server)
    client = LoadClient(server, 300)
    try:
        assert client.wait_open()["open"] == 300
        assert len(children(pid)) == 300
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(BOUND) == 0
        took = time.monotonic() - t0
        with capsys.disabled():
            print(f"\n[faults] SIGTERM with 300 live sessions: the listener exited after "
                  f"{took:.2f} s", flush=True)
        assert took < 5 + 1
        # every session was closed under its client
        done = client.release()
        assert done["completed"] == 0 and len(done["failures"]) == 300, done["failures"][:3]
    finally:
        client.stop()
        kill_session_leftovers(server)
    out = server.output()
    assert out.count("Terminated by signal: ending 300 connections") == 1
    ends = events_of(server, "disconnect")
    assert len(ends) == 300 and {e["reason"] for e in ends} == {"Terminated by signal"}
    assert not glob.glob(os.path.join(activity, "*.json"))
    assert "segfault" not in out
