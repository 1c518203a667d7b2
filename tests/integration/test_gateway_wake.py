"""More of ws-gateway against the command backend of real servers
(test_gateway.py's Gateway): the limits and races of waking -- the
per-user maximum under concurrent creates, lock files of names that do
not exist, the wake's alarm and its wait, a backend's host name, and the
keeper's view of a workspace just woken and of its own end."""
import os
import signal
import socket
import subprocess
import threading
import time

from conftest import DROPBEARKEY, wait_for
from test_gateway import BACKEND, GATEWAY, banner, gw  # noqa: F401  (gw: the fixture)


def test_max_per_user_holds_against_concurrent_creates(gw):
    # each name has its own lock: without one for the user, every create
    # would count before any of the others had made its workspace
    gw.write_config(gateway_max_per_user="3")
    results = []

    def one(i):
        results.append(gw.wake("alice", f"alice-{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 20
    woken = [sock for sock, _, _ in results if sock is not None]
    for sock in woken:
        sock.close()
    refused = [r for _, r, _ in results if r is not None]
    assert len(woken) == 3
    assert set(refused) == {"alice has 3 workspaces, the most allowed"}
    assert len([e for e in gw.events("gateway_create") if e["result"] == "ok"]) == 3
    assert len([d for d in os.listdir(gw.backend_dir) if d.startswith("alice-")]) == 3


def test_names_that_do_not_exist_leave_no_lock_files(gw):
    # alice-<anything> is hers to try: trying must not fill the state dir
    def locks():
        d = os.path.join(gw.state, "locks")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []
    gw.write_config(gateway_create="off")
    for i in range(5):
        _, refused, _ = gw.wake("alice", f"alice-x{i}")
        assert refused == f"no workspace 'alice-x{i}' for alice"
    assert gw.control("alice", "start alice-y").returncode == 1
    assert gw.control("alice", "stop alice-y").returncode == 1
    assert gw.control("alice", "rm alice-y --yes").returncode == 1
    assert locks() == []
    # past the maximum, likewise; a workspace that exists keeps its lock
    gw.write_config(gateway_max_per_user="1")
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    for i in range(5):
        _, refused, _ = gw.wake("alice", f"alice-z{i}")
        assert refused == "alice has 1 workspaces, the most allowed"
    assert locks() == ["alice"]
    assert gw.control("alice", "rm alice --yes").returncode == 0
    assert locks() == []


def test_the_wait_for_the_server_counts_from_its_start(gw):
    # create takes 2 of the 3 s, the server answers 1.5 s after its start:
    # the wait for the banner is the 3 s after the start, not what is left
    gw.write_config(gateway_wake_timeout="3")
    gw.mode("slow-create")
    gw.mode("late-server")
    sock, refused, status = gw.wake("alice", "alice")
    assert refused is None and status == 0
    assert banner(sock).startswith(b"SSH-2.0-")
    sock.close()


def test_the_wake_alarm_stops_the_backend_call_under_way(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    gw.control("alice", "stop alice")
    gw.control("alice", "start alice")  # clears "asked"; now stop it quietly
    subprocess.run([BACKEND, "stop", "alice"], env=gw.env, check=True)
    gw.mode("hang")  # start sleeps 600 s
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [GATEWAY, "--config", gw.config, "wake", "alice", "alice"], env=gw.env,
        pass_fds=[3, theirs.fileno()], preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
    theirs.close()
    try:
        assert wait_for(lambda: gw.starts().count("alice") == 3, timeout=20)
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            [backend] = [int(p) for p in f.read().split()]
        os.kill(proc.pid, signal.SIGALRM)  # as when the wake's time is up
        ours.settimeout(20)
        assert ours.recv(4096) == b"workspace 'alice' did not start: timed out"
        assert proc.wait(timeout=20) == 1
        # the backend's group (the shell and its sleep) went with it
        def group_gone():
            try:
                os.killpg(backend, 0)
            except ProcessLookupError:
                return True
            return False
        assert wait_for(group_gone, timeout=10)
    finally:
        ours.close()
        if proc.poll() is None:
            proc.kill()


REBIND_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
/* rebind.test: 127.0.0.1 the first time it is resolved, 127.0.0.2 (where
 * nothing listens) after: a name that changes between probe and connect */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
        struct addrinfo **res) {
    static int (*real)(const char *, const char *, const struct addrinfo *,
        struct addrinfo **);
    static int calls;
    if (real == NULL) {
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    }
    if (node != NULL && strcmp(node, "rebind.test") == 0) {
        node = calls++ == 0 ? "127.0.0.1" : "127.0.0.2";
    }
    return real(node, service, hints, res);
}
"""


def test_a_host_name_from_the_backend_is_resolved_once(gw):
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    shim = os.path.join(gw.root, "rebind.so")
    src = shim[:-3] + ".c"
    with open(src, "w") as f:
        f.write(REBIND_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src, "-ldl"], check=True)
    gw.mode("hostname")
    gw.env["LD_PRELOAD"] = shim
    try:
        sock, refused, status = gw.wake("alice", "alice")
    finally:
        del gw.env["LD_PRELOAD"]
    assert refused is None and status == 0
    assert sock.getpeername()[0] == "127.0.0.1"  # where the banner was seen
    assert banner(sock).startswith(b"SSH-2.0-")
    sock.close()


def test_keeper_leaves_a_workspace_just_woken_alone(gw):
    # long idle, then a jump wakes it: the session has shown no activity
    # yet, and the keeper must not stop it under the user
    sock, _, _ = gw.wake("alice", "alice")
    sock.close()
    with open(os.path.join(gw.backend_dir, "alice", "activity"), "w") as f:
        f.write(f"{int(time.time() * 1000) - 60000}\n")
    gw.write_config(gateway_idle_stop="10")
    keeper = subprocess.Popen([GATEWAY, "--config", gw.config, "keeper"], env=gw.env)
    try:
        time.sleep(6)  # three rounds
        assert gw.events("gateway_stop") == []
        # idle for good now: counted from the wake, not before it
        assert wait_for(lambda: gw.events("gateway_stop"), timeout=20)
    finally:
        keeper.terminate()
        assert keeper.wait(timeout=10) == 0
    [stop] = gw.events("gateway_stop")
    assert 10000 <= stop["idle_ms"] < 30000


def test_a_keeper_that_dies_is_logged(gw):
    # the listener reaps its children without looking: the keeper's own
    # process watches the one doing the rounds
    gw.write_config(gateway_idle_stop="10")
    keeper = subprocess.Popen([GATEWAY, "--config", gw.config, "keeper"], env=gw.env)
    try:
        def worker():
            with open(f"/proc/{keeper.pid}/task/{keeper.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        assert wait_for(worker, timeout=10)
        os.kill(worker()[0], signal.SIGKILL)  # as the out-of-memory killer would
        assert keeper.wait(timeout=10) == 1
    finally:
        if keeper.poll() is None:
            keeper.kill()
    [problem] = gw.events("gateway_problem")
    assert problem["reason"].startswith("the keeper was killed by signal 9")


def test_create_own_makes_only_the_users_own_workspace(gw):
    gw.write_config(gateway_create="own")
    _, refused, _ = gw.wake("alice", "alice-dev")
    assert refused == "no workspace 'alice-dev' for alice"
    sock, refused, _ = gw.wake("alice", "alice")
    assert refused is None
    sock.close()
    assert [d for d in os.listdir(gw.backend_dir) if d.startswith("alice")] == ["alice"]
    out = gw.control("bob", "list").stdout
    assert "no workspaces for bob; one is created on first use: ssh NAME" in out
    assert "(NAME = bob.ws)" in out


def test_user_limits_override_create_and_the_maximum_per_user(gw):
    limits = os.path.join(gw.root, "limits")
    with open(limits, "w") as f:
        f.write("# exceptions\nalice create=yes max=2\nbob create=no\n")
    gw.write_config(gateway_create="own", gateway_user_limits=limits)
    for name in ("alice", "alice-dev"):
        sock, refused, _ = gw.wake("alice", name)
        assert refused is None, refused
        sock.close()
    _, refused, _ = gw.wake("alice", "alice-3")
    assert refused == "alice has 2 workspaces, the most allowed"
    _, refused, _ = gw.wake("bob", "bob")
    assert refused == "no workspace 'bob' for bob"
    # read at each create: bob is let in without a restart
    with open(limits, "w") as f:
        f.write("bob max=1\n")
    sock, refused, _ = gw.wake("bob", "bob")
    assert refused is None
    sock.close()
    # a broken file refuses creating, says so in the log, not to the user
    with open(limits, "w") as f:
        f.write("bob max=lots\n")
    _, refused, _ = gw.wake("bob", "bob-2")
    assert refused == ("workspace 'bob-2' did not start: the gateway's user limits are "
                       "refused (see the gateway log)")
    problems = [e["reason"] for e in gw.events("gateway_problem")]
    assert any("gateway_user_limits" in p and "line 1" in p for p in problems), problems


def test_config_names_the_workspaces_user(gw):
    assert "    User developer\n" in gw.control("alice", "config").stdout
    gw.write_config(gateway_workspace_user="dev")
    assert "    User dev\n" in gw.control("alice", "config").stdout


def known_lines(gw, user):
    """The known_hosts lines `config` prints for user."""
    out = gw.control(user, "config").stdout.partition("# known_hosts lines")[2]
    return [line for line in out.splitlines()[1:] if line.strip()]


def test_config_names_the_host_key_of_a_first_workspace_before_it_exists(gw):
    # bob may create his own workspace: its key is made now, and kept
    [line] = known_lines(gw, "bob")
    assert line.startswith("bob.ws ssh-ed25519 "), line
    assert not os.path.exists(os.path.join(gw.backend_dir, "bob"))
    assert known_lines(gw, "bob") == [line]
    assert not os.path.exists(os.path.join(gw.state, "locks", "bob"))  # only the key stays
    # the create takes it: the server of the workspace has that key
    sock, refused, _ = gw.wake("bob", "bob")
    assert refused is None, refused
    sock.close()
    shown = subprocess.run([DROPBEARKEY, "-y", "-f", os.path.join(gw.backend_dir, "bob",
                                                                  "hostkey")],
                           capture_output=True, text=True, timeout=30, check=True)
    public = next(x for x in shown.stdout.splitlines() if x.startswith("ssh-")).split()[:2]
    assert line == "bob.ws " + " ".join(public)
    assert known_lines(gw, "bob") == [line]  # listed once, now as a workspace
    # none for a first workspace the user could not create: at the most
    # workspaces, or not made on first use
    sock, refused, _ = gw.wake("alice", "alice-dev")
    assert refused is None, refused
    sock.close()
    limits = os.path.join(gw.root, "limits")
    with open(limits, "w") as f:
        f.write("alice max=1\n")
    gw.write_config(gateway_user_limits=limits)
    assert [line.split()[0] for line in known_lines(gw, "alice")] == ["alice-dev.ws"]
    gw.write_config(gateway_create="off")
    assert [line.split()[0] for line in known_lines(gw, "alice")] == ["alice-dev.ws"]
    assert not os.path.exists(os.path.join(gw.state, "hostkeys", "alice"))
