"""Agent forwarding with real ssh-agent and the OpenSSH client: the stable
per-user SSH_AUTH_SOCK that follows live forwarded agents across reconnects,
the workspace agent behind ws-agent-proxy, policy switches, races, and bad
input."""
import concurrent.futures
import fcntl
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import BUILD, USER, keygen, wait_for

PROXY = os.path.join(BUILD, "bin", "ws-agent-proxy")


class Agent:
    """A real ssh-agent (of the test's uid) holding one new key."""

    def __init__(self, ws, name):
        self.sock = ws.path(f"{name}-agent.sock")
        self.key = keygen(ws.path(f"{name}_key"))
        self.proc = subprocess.Popen(["ssh-agent", "-D", "-a", self.sock],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the socket file appears just before ssh-agent listens on it
        assert wait_for(lambda: subprocess.run(
            ["ssh-add", "-q", self.key], env=dict(os.environ, SSH_AUTH_SOCK=self.sock),
            capture_output=True).returncode == 0), "ssh-agent did not start"
        self.fingerprint = subprocess.run(["ssh-keygen", "-lf", self.key + ".pub"], check=True,
                                          capture_output=True, text=True).stdout.split()[1]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def agents(workspace):
    made = []

    def make(name):
        a = Agent(workspace, name)
        made.append(a)
        return a
    yield make
    for a in made:
        a.stop()


def agent_config(ws, extra=""):
    return f"event_log = stderr\nagent_dir = {ws.path('server', 'agent')}\n{extra}"


@pytest.fixture
def agent_server(start_server, workspace):
    def start(extra="", **kw):
        workspace.config = workspace.write_config(agent_config(workspace, extra))
        return start_server(**kw).wait_ready()
    return start


def forward(agent):
    # OpenSSH forwards nothing with IdentityAgent=none, whatever ForwardAgent says
    return [f"IdentityAgent={agent.sock}", "ForwardAgent=yes"]


def stable_path(ws):
    return ws.path("server", "agent", "agent.sock")


def link_target(ws):
    try:
        return os.readlink(stable_path(ws))
    except FileNotFoundError:
        return None


def test_a_forwarded_agent_lists_the_clients_keys(agent_server, workspace, agents):
    server, agent = agent_server(), agents("client")
    r = server.ssh("echo $SSH_AUTH_SOCK; ssh-add -l", options=forward(agent))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == stable_path(workspace)
    assert agent.fingerprint in lines[1]
    mode = os.stat(workspace.path("server", "agent")).st_mode & 0o777
    assert mode == 0o700
    # the connection closed: nothing forwards, no workspace agent, no link
    assert wait_for(lambda: link_target(workspace) is None)
    links = [e for e in server.events() if e["event"] == "agent_link"]
    assert links[-1]["target"] == "none" and links[0]["target"].startswith("/tmp/dropbear-")


def test_a_tmux_session_keeps_its_agent_across_reconnects(agent_server, workspace, agents):
    server, agent = agent_server(), agents("client")
    tmux = workspace.path("server", "tmux.sock")
    result, go = workspace.path("server", "result"), workspace.path("server", "go")
    # connection 1 starts a long-running tmux session, which waits (bounded)
    # for the go file, then uses the agent
    script = (f"n=0; while [ ! -e {go} ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; "
              f"ssh-add -l > {result} 2>&1")
    r = server.ssh(f"tmux -S {tmux} new-session -d '{script}'", options=forward(agent))
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: link_target(workspace) is None), "connection 1's agent is still linked"
    # connection 2 forwards the agent again and stays open while tmux uses it
    conn2 = subprocess.Popen(server.ssh_args(options=forward(agent)) + [f"touch {go}; sleep 10"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: os.path.exists(result) and os.path.getsize(result) > 0, 15)
        with open(result) as f:
            assert agent.fingerprint in f.read()
    finally:
        conn2.kill()
        conn2.wait()
        subprocess.run(["tmux", "-S", tmux, "kill-server"], capture_output=True)


def hold(server, agent, seconds=30):
    """A connection forwarding `agent` that stays open."""
    return subprocess.Popen(server.ssh_args(options=forward(agent)) + [f"sleep {seconds}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def listed(server):
    r = server.ssh("ssh-add -l")
    return r.stdout if r.returncode == 0 else None


def test_closing_one_of_two_forwarding_connections_leaves_the_other(agent_server, workspace, agents):
    server, a, b = agent_server(), agents("a"), agents("b")
    conn_a = hold(server, a)
    try:
        assert wait_for(lambda: a.fingerprint in (listed(server) or ""))
        conn_b = hold(server, b)
        assert wait_for(lambda: b.fingerprint in (listed(server) or ""))  # the newest wins
        conn_b.kill()
        conn_b.wait()
        assert wait_for(lambda: a.fingerprint in (listed(server) or ""))
    finally:
        conn_a.kill()
        conn_a.wait()
    assert wait_for(lambda: link_target(workspace) is None)
    assert listed(server) is None


def start_proxy(workspace, agent, uids, extra=()):
    """ws-agent-proxy in front of agent; sets agent.proxy_sock and .proxy_log."""
    sock = workspace.path("workspace-agent.sock")
    agent.proxy_sock, agent.proxy_log = sock, workspace.path("proxy.log")
    with open(agent.proxy_log, "w") as log:
        proxy = subprocess.Popen([PROXY, "--listen", sock, "--agent", agent.sock,
                                  "--allow-uid", ",".join(map(str, uids))] + list(extra),
                                 stdout=log, stderr=log)
    assert wait_for(lambda: os.path.exists(sock)), "ws-agent-proxy did not start"
    return proxy


@pytest.fixture
def workspace_agent(workspace, agents):
    """ssh-agent of the test's uid (root) behind ws-agent-proxy, which lets
    the workspace uid in; the key file stays root's."""
    agent = agents("deploy")
    proxy = start_proxy(workspace, agent, [workspace.uid])
    yield agent
    proxy.kill()
    proxy.wait()


def test_the_workspace_agent_signs_but_its_keys_stay_unreadable(agent_server, workspace,
                                                                 workspace_agent, agents):
    if os.getuid() != 0:
        pytest.skip("needs two uids: the workspace's and the agent's")
    server = agent_server(f"agent_workspace_socket = {workspace_agent.proxy_sock}\n")
    r = server.ssh(f"ssh-add -l; cat {workspace_agent.key} >/dev/null 2>&1 || echo unreadable")
    assert workspace_agent.fingerprint in r.stdout and "unreadable" in r.stdout, r.stderr
    # a signature through the agent, checked with the public key
    r = server.ssh("echo data > ~/d && ssh-keygen -Y sign -n test -f /dev/stdin ~/d "
                   f"< {workspace_agent.key}.pub >/dev/null && cat ~/d.sig")
    assert "BEGIN SSH SIGNATURE" in r.stdout, r.stderr
    # the workspace can neither remove nor lock the deploy keys
    r = server.ssh("ssh-add -D; ssh-add -x </dev/null; ssh-add -l")
    assert workspace_agent.fingerprint in r.stdout
    assert "refused agent request type 19" in open(workspace_agent.proxy_log).read()
    # a forwarded agent comes first while it lives; then the workspace agent again
    client = agents("client")
    r = server.ssh("ssh-add -l", options=forward(client))
    assert client.fingerprint in r.stdout, (r.stderr, server.output())
    assert wait_for(lambda: workspace_agent.fingerprint in (listed(server) or ""))


def test_the_proxy_refuses_other_uids(workspace, workspace_agent):
    if os.getuid() != 0:
        pytest.skip("needs a second uid")
    r = subprocess.run(["setpriv", f"--reuid={workspace.uid + 7}", f"--regid={workspace.gid}",
                        "--clear-groups", "ssh-add", "-l"], capture_output=True, text=True,
                       env=dict(os.environ, SSH_AUTH_SOCK=workspace_agent.proxy_sock))
    assert r.returncode != 0 and workspace_agent.fingerprint not in r.stdout
    assert wait_for(lambda: f"refused a client with uid {workspace.uid + 7}"
                    in open(workspace_agent.proxy_log).read())


@pytest.mark.parametrize("kind,reason", [("missing", "no such socket"), ("file", "not a socket")])
def test_a_bad_workspace_socket_is_logged_and_sessions_work(agent_server, workspace, kind, reason):
    path = workspace.path("not-there.sock")
    if kind == "file":
        open(path, "w").close()
    server = agent_server(f"agent_workspace_socket = {path}\n")
    r = server.ssh("echo works; ssh-add -l")
    assert r.stdout.startswith("works\n") and r.returncode == 2  # 2: no agent
    problems = [e for e in server.events() if e["event"] == "agent_problem"]
    assert [(p["problem"], p["path"], p["reason"]) for p in problems] == [
        ("workspace_socket", path, reason)]


@pytest.mark.parametrize("setting", ["config", "no-agent-forwarding", "restrict"])
def test_agent_forwarding_can_be_refused(agent_server, workspace, agents, setting):
    agent = agents("client")
    if setting != "config":
        ak = os.path.join(workspace.home, ".ssh", "authorized_keys")
        with open(ak) as f:
            keys = f.read()
        with open(ak, "w") as f:
            f.write(f"{setting} {keys}")
    server = agent_server("agent_forwarding = no\n" if setting == "config" else "")
    r = server.ssh("echo ${SSH_AUTH_SOCK-unset}; ssh-add -l", options=forward(agent))
    assert r.stdout.splitlines()[0] == "unset" and r.returncode == 2, r.stdout
    assert agent.fingerprint not in r.stdout


def test_an_agent_dir_open_to_others_is_refused(agent_server, workspace, agents):
    d = workspace.path("server", "agent")
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    workspace.chown(d)
    server, agent = agent_server(), agents("client")
    r = server.ssh("echo $SSH_AUTH_SOCK; ssh-add -l", options=forward(agent))
    # upstream's per-session socket still works; the stable path is not used
    assert r.stdout.splitlines()[0].startswith("/tmp/dropbear-"), r.stdout
    assert agent.fingerprint in r.stdout
    problem = server.wait_event("agent_problem")
    assert problem["problem"] == "agent_dir"
    assert problem["reason"] == (f"owned by uid {workspace.uid} with mode 755; must be ours "
                                 f"(uid {workspace.uid}) with mode 0700: remove it, or set "
                                 "agent_dir in the hook config")


def test_the_default_agent_dir_on_a_tmpfs_tmp(start_server, workspace, agents):
    """Without XDG_RUNTIME_DIR: /tmp/ssh-workspace-agent-UID (the uid: two
    servers for one user name under two uids must not meet)."""
    if os.getuid() != 0:
        pytest.skip("needs a mount namespace")
    server = start_server(tmpfs_tmp=True, runtime_dir=False).wait_ready()
    agent = agents("client")
    r = server.ssh("stat -f -c %T /tmp; echo $SSH_AUTH_SOCK; stat -c %a $(dirname $SSH_AUTH_SOCK); "
                   "ssh-add -l", options=forward(agent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:3] == [
        "tmpfs", f"/tmp/ssh-workspace-agent-{workspace.uid}/agent.sock", "700"]
    assert agent.fingerprint in r.stdout


def test_the_default_agent_dir_is_in_the_runtime_dir(start_server, workspace, agents):
    """With the server's XDG_RUNTIME_DIR ours and 0700, the agent goes there;
    one that is not ours (a runtime dir inherited from another user's login)
    is passed over for /tmp."""
    server, agent = start_server().wait_ready(), agents("client")
    r = server.ssh("echo $SSH_AUTH_SOCK; ssh-add -l", options=forward(agent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{workspace.runtime_dir}/ssh-workspace-agent/agent.sock"
    assert agent.fingerprint in r.stdout
    if os.getuid() != 0:
        return
    os.chown(workspace.runtime_dir, 0, 0)
    other = start_server(tmpfs_tmp=True).wait_ready()
    r = other.ssh("echo $SSH_AUTH_SOCK", options=forward(agent))
    assert r.stdout.splitlines() == [f"/tmp/ssh-workspace-agent-{workspace.uid}/agent.sock"], r.stderr


def test_parallel_connects_and_disconnects_leave_the_link_absent_or_live(agent_server, workspace,
                                                                          agents):
    server = agent_server()
    client = agents("client")
    loop = ("for i in 1 2 3 4 5; do "
            f"ssh {' '.join(server.ssh_args(options=forward(client))[1:])} 'sleep 0.$i'; done")
    loops = [subprocess.Popen(["sh", "-c", loop], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(8)]
    samples = []
    deadline = time.monotonic() + 60
    while any(p.poll() is None for p in loops) and time.monotonic() < deadline:
        target = link_target(workspace)
        if target is not None:
            samples.append(target)
        time.sleep(0.02)
    for p in loops:
        if p.poll() is None:
            p.kill()
        p.wait()
    assert all(p.returncode == 0 for p in loops)
    assert samples, "the link never appeared"
    assert wait_for(lambda: link_target(workspace) is None), link_target(workspace)
    leftovers = [n for n in os.listdir(workspace.path("server", "agent")) if n.startswith("fwd.")]
    assert leftovers == []


def test_a_killed_connection_process_is_pruned_by_the_next_session(agent_server, workspace, agents):
    server, a, b = agent_server(), agents("a"), agents("b")
    conn_a = hold(server, a)
    conn_b = None
    try:
        assert wait_for(lambda: a.fingerprint in (listed(server) or ""))
        conn_b = hold(server, b)
        assert wait_for(lambda: b.fingerprint in (listed(server) or ""))
        # the connection process of b dies without any cleanup
        events = server.events()
        session_b = [e["session"] for e in events if e["event"] == "agent_socket"][-1]
        pid_b = next(e["pid"] for e in events if e["event"] == "connect" and e["session"] == session_b)
        os.kill(pid_b, 9)
        assert wait_for(lambda: a.fingerprint in (listed(server) or ""))
        assert not [n for n in os.listdir(workspace.path("server", "agent"))
                    if n.startswith(f"fwd.{pid_b}.")]
    finally:
        for c in (conn_a, conn_b):
            if c is not None:
                c.kill()
                c.wait()


def lock_held(path):
    """Does some process hold the flock on path?"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_held_registry_lock_does_not_stall_logins(agent_server, workspace, agents):
    """Any process of the workspace uid can take the registry's flock; logins
    go on without the stable link (the per-session socket) meanwhile."""
    server, agent = agent_server(), agents("client")
    assert server.ssh("true").returncode == 0  # makes the agent dir
    lock = workspace.path("server", "agent", ".lock")
    # its own process group: the sleep it runs holds the lock too
    holder = subprocess.Popen(["flock", lock, "sleep", "15"], start_new_session=True)
    try:
        assert wait_for(lambda: lock_held(lock)), "flock did not take the lock"
        start = time.monotonic()
        r = server.ssh("echo $SSH_AUTH_SOCK; ssh-add -l", options=forward(agent))
        took = time.monotonic() - start
        assert r.returncode == 0, r.stderr
        assert took < 2.5, f"the login took {took:.1f} s"
        assert r.stdout.splitlines()[0].startswith("/tmp/dropbear-"), r.stdout
        assert agent.fingerprint in r.stdout
        assert server.ssh("true").returncode == 0  # a second connection logs it too
        problems = [e for e in server.events() if e["event"] == "agent_problem"]
        assert [(p["problem"], p["path"]) for p in problems] == [("agent_lock", lock)] * 2
        assert "held by another process" in problems[0]["reason"]
        assert len({p["session"] for p in problems}) == 2  # once per connection
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert wait_for(lambda: not lock_held(lock))
    r = server.ssh("echo $SSH_AUTH_SOCK; ssh-add -l", options=forward(agent))
    assert r.stdout.splitlines()[0] == stable_path(workspace), r.stdout
    assert agent.fingerprint in r.stdout


def proxy_clients(path, n, wait=5):
    """n connections to the proxy that send nothing.  Each connect waits
    (at most `wait` seconds: SO_SNDTIMEO) for room in the backlog, as a
    real client's does; one that finds none is None."""
    def connect(_):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", wait, 0))
        try:
            s.connect(path)
        except OSError:
            s.close()
            return None
        s.setblocking(False)
        return s
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        return list(pool.map(connect, range(n)))


def hung_up(s):
    """Has the proxy closed s?  (A closed socket reads EOF or fails.)"""
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def ssh_add_list(agent):
    start = time.monotonic()
    r = subprocess.run(["ssh-add", "-l"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SSH_AUTH_SOCK=agent.proxy_sock))
    return r, time.monotonic() - start


def test_idle_and_trickling_clients_cannot_stall_the_proxy(workspace, agents):
    agent = agents("deploy")
    proxy = start_proxy(workspace, agent, {workspace.uid, os.getuid()},
                        ["--request-timeout", "3"])
    stop = threading.Event()
    idle, trickling = [], []

    def trickle():  # the start of a sign request, one byte a second
        for byte in b"\0\0\1\0\x0d\0\0\0":
            for s in filter(None, trickling):
                try:
                    s.send(bytes([byte]))
                except OSError:
                    pass
            if stop.wait(1):
                return
    sender = threading.Thread(target=trickle)
    try:
        idle += proxy_clients(agent.proxy_sock, 200)
        trickling += proxy_clients(agent.proxy_sock, 20)
        sender.start()
        time.sleep(0.5)
        r, took = ssh_add_list(agent)
        assert r.returncode == 0 and agent.fingerprint in r.stdout, r.stderr
        assert took < 1, f"ssh-add -l took {took:.1f} s"
        assert None not in idle + trickling, "connects waited in vain"
        # a request must end within its timeout from its first byte; idle
        # clients may stay
        assert wait_for(lambda: all(hung_up(s) for s in trickling), 8), "tricklers kept"
        assert not any(hung_up(s) for s in idle)
        log = open(agent.proxy_log).read()
        assert log.count("dropped a client: its request took over 3 s") == 20, log
    finally:
        stop.set()
        if sender.is_alive():
            sender.join()
        for s in filter(None, idle + trickling):
            s.close()
        proxy.kill()
        proxy.wait()


def test_a_full_proxy_closes_the_longest_idle_client_else_refuses(workspace, agents):
    agent = agents("deploy")
    proxy = start_proxy(workspace, agent, {workspace.uid, os.getuid()}, ["--max-clients", "3"])
    idle, busy = [], []
    try:
        # one after the other, so that which is idle longest is known
        for _ in range(3):
            idle += proxy_clients(agent.proxy_sock, 1)
            time.sleep(0.05)
        assert None not in idle
        time.sleep(0.2)
        r, _ = ssh_add_list(agent)  # makes room: the first idle client goes
        assert agent.fingerprint in r.stdout, r.stderr
        assert wait_for(lambda: hung_up(idle[0])) and not any(hung_up(s) for s in idle[1:])
        busy += proxy_clients(agent.proxy_sock, 3)
        for s in busy:  # each in the middle of a request
            s.send(b"\0\0")
        time.sleep(0.2)
        r, _ = ssh_add_list(agent)
        assert r.returncode != 0
        assert wait_for(lambda: "refused 1 client(s): all 3 clients are in the middle of a "
                        "request" in open(agent.proxy_log).read())
    finally:
        for s in filter(None, idle + busy):
            s.close()
        proxy.kill()
        proxy.wait()


def test_messages_in_flight_share_a_bounded_budget(workspace, agents):
    """70 clients each start a 256 KiB message: what the 16 MiB budget
    cannot take is dropped, and a small request is still answered."""
    agent = agents("deploy")
    proxy = start_proxy(workspace, agent, {workspace.uid, os.getuid()})
    big = []
    try:
        big += proxy_clients(agent.proxy_sock, 70)
        for s in big:
            s.send(struct.pack(">I", 256 * 1024) + b"\x0d")
        assert wait_for(lambda: sum(hung_up(s) for s in big) >= 6)
        r, took = ssh_add_list(agent)
        assert agent.fingerprint in r.stdout and took < 1, (r.stderr, took)
        assert "dropped a client: no room for a message of 262148 bytes" in open(
            agent.proxy_log).read()
    finally:
        for s in filter(None, big):
            s.close()
        proxy.kill()
        proxy.wait()
