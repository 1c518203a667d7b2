#!/usr/bin/python3
"""Dropbear's own test suite (test/ in the upstream tarball) run against our
server: the patched build, with the hook library loaded.

    tests/upstream/run.py [--junitxml=PATH] [pytest arguments...]

The suite runs from the unpacked, patched tree in the build directory
(build/dropbear-VERSION/test), unmodified, with Debian's pytest, asyncssh and
psutil instead of upstream's pip venv.  What it gets:

  --dropbear   a wrapper that runs build/bin/dropbear --hook=... --hook-config=...
               (the suite adds -p, -r, -F, -E); the library logs its events to
               a file, and the run fails unless the logins went through it
  --dbclient   dbclient built in the same patched tree (make upstream-dbclient)
  --dropbearkey, --dropbearconvert   ours, from build/bin

The suite logs in as the user running it, so it runs as the workspace user
(conftest.Workspace: home with upstream's CI keys, an ECDSA key for dbclient
and its OpenSSH copy for asyncssh, plus key2-4 for test_svrauth's
SSH_PUBKEYINFO cases, so DBTEST_IN_ACTION is set).  As root that is an
unprivileged uid in private mount, network and pid namespaces: the suite's
fixed ports (2244, 3344, 7788) cannot clash with anything else on the
machine, and nothing it starts outlives it.  As another user: that user,
named through nss_wrapper, on a free port.

Tests that cannot pass here are skipped with their reason from skip.txt;
tests bound to sub-second timing are retried (retry.txt; ws_upstream_plugin.py)."""
import json
import os
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import (BUILD, DROPBEAR, DROPBEARKEY, HOOK_LIB, USER,  # noqa: E402
                      Workspace, as_workspace_user_argv, free_port, nss_wrapper)

HOST = "127.0.5.5"  # the suite's LOCALADDR
PY = "/usr/bin/python3"
TIMEOUT = 600  # the whole suite; it takes 20-60 s


def pin(name):
    with open(os.path.join(REPO, "dropbear", "pin")) as f:
        for line in f:
            if line.startswith(name + "="):
                return line.split("=", 1)[1].strip()
    raise SystemExit(f"dropbear/pin has no {name}")


def dropbearkey(path, comment):
    """An ECDSA client key in Dropbear's format; returns its public line."""
    out = subprocess.run([DROPBEARKEY, "-t", "ecdsa", "-f", path], check=True,
                         capture_output=True, text=True).stdout
    pub = next(line for line in out.splitlines() if line.startswith(("ecdsa-", "ssh-")))
    return pub.rsplit(" ", 1)[0] + " " + comment


def dbclient_path(db_dir):
    """make upstream-dbclient builds it out of tree, client only: the
    server's build compiles the shared objects without client code."""
    return os.path.join(db_dir, "build-dbclient", "dbclient")


def prepare(ws):
    """The user's ~/.ssh as upstream's CI sets it up (.github/workflows/build.yml)."""
    ssh = os.path.join(ws.home, ".ssh")
    # the workspace's own key is not used by this suite
    open(os.path.join(ssh, "authorized_keys"), "w").close()
    # The main key made by ssh-keygen, converted for dbclient (upstream's CI
    # goes the other way, but dropbearconvert pads a full block after an
    # aligned OpenSSH private key, which asyncssh 2.10 refuses to load)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "",
                    "-f", os.path.join(ssh, "id_ecdsa")], check=True)
    subprocess.run([os.path.join(BUILD, "bin", "dropbearconvert"), "openssh", "dropbear",
                    os.path.join(ssh, "id_ecdsa"), os.path.join(ssh, "id_dropbear")],
                   check=True, capture_output=True)
    with open(os.path.join(ssh, "id_ecdsa.pub")) as f:
        keys = [f.read().strip()]
    for n, comment in ((2, "key2 extra"), (3, "key3%char"), (4, "key4,char")):
        keys.append(dropbearkey(os.path.join(ssh, f"id_dropbear_key{n}"), comment))
    with open(os.path.join(ssh, "authorized_keys"), "w") as f:
        f.write("\n".join(keys) + "\n")
    os.chmod(os.path.join(ssh, "authorized_keys"), 0o600)
    # the host key is known in advance, so dbclient (even with the suite's -y)
    # and asyncssh check it rather than take whatever is offered (dbclient's
    # format: the host without the port, which asyncssh also matches)
    with open(os.path.join(ssh, "known_hosts"), "w") as f:
        f.write(f"{HOST} {' '.join(ws.hostpub.split()[:2])}\n")
    events = os.path.join(ws.server_dir, "events.log")
    ws.write_config(f"event_log = {events}\n"
                    f"activity_dir = {os.path.join(ws.server_dir, 'activity')}\n")
    os.makedirs(os.path.join(ws.server_dir, "activity"))
    os.makedirs(os.path.join(ws.server_dir, "tmp"))
    ws.chown(ws.home, ws.server_dir)
    return events


def command(ws, port, junit, db_dir, extra):
    test_dir = os.path.join(db_dir, "test")
    # The suite takes --dropbear as one word (pytest reads a value with a
    # blank as a test path), so the options go into a wrapper; it execs the
    # server by absolute path, which is what the server re-executes.
    server = ws.path("dropbear")
    with open(server, "w") as f:
        f.write(f'#!/bin/sh\nexec {DROPBEAR} --hook={HOOK_LIB} --hook-config={ws.config} "$@"\n')
    os.chmod(server, 0o755)
    pytest = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", "ws_upstream_plugin",
              "-c", os.path.join(HERE, "pytest.ini"), "--rootdir", test_dir, "--confcutdir", test_dir,
              "-q", "-rfEsxR", f"--junitxml={junit}",
              f"--dropbear={server}", f"--dbclient={dbclient_path(db_dir)}",
              f"--dropbearkey={DROPBEARKEY}",
              f"--dropbearconvert={os.path.join(BUILD, 'bin', 'dropbearconvert')}",
              f"--hostkey={ws.hostkey}", f"--port={port}"] + extra + [test_dir]
    env = dict(os.environ, HOME=ws.home, USER=USER, LOGNAME=USER,
               PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1", DBTEST_IN_ACTION="true",
               TMPDIR=os.path.join(ws.server_dir, "tmp"), XDG_RUNTIME_DIR=ws.runtime_dir)
    env.pop("VIRTUAL_ENV", None)  # test_aslr: run the helper with the session's python3
    if os.getuid() != 0:
        env.update(LD_PRELOAD=nss_wrapper(), NSS_WRAPPER_PASSWD=ws.path("passwd"),
                   NSS_WRAPPER_GROUP=ws.path("group"))
        return pytest, env
    # sh is the pid namespace's init: when the suite ends, whatever it left
    # running (a failed test's background dbclient) ends with it
    return ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "--", "sh", "-ec", 'ip link set lo up; "$@"', "sh"
            ] + as_workspace_user_argv(ws) + ["--reach", db_dir, "--"] + pytest, env


def main(argv):
    junit_out = None
    extra = []
    for arg in argv:
        if arg.startswith("--junitxml="):
            junit_out = arg.split("=", 1)[1]
        else:
            extra.append(arg)
    db_dir = os.path.join(BUILD, f"dropbear-{pin('DROPBEAR_VERSION')}")
    for need in (DROPBEAR, HOOK_LIB, dbclient_path(db_dir),
                 os.path.join(db_dir, "test", "conftest.py")):
        if not os.path.exists(need):
            print(f"upstream suite: {need} is missing: run 'make upstream-dbclient'",
                  file=sys.stderr)
            return 2
    ws = Workspace()
    try:
        # as root the suite has a network namespace to itself: upstream's port
        port = 2244 if os.getuid() == 0 else free_port()
        events = prepare(ws)
        junit = os.path.join(ws.server_dir, "upstream.xml")
        args, env = command(ws, port, junit, db_dir, extra)
        proc = subprocess.Popen(args, env=env, cwd=os.path.join(db_dir, "test"),
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"upstream suite: still running after {TIMEOUT}s, stopped", file=sys.stderr)
            rc = 1
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # what the suite left behind
            except ProcessLookupError:
                pass
            proc.wait()
        if junit_out and os.path.exists(junit):
            shutil.copyfile(junit, junit_out)
        # the suite itself cannot tell whether our library was loaded
        logins = 0
        if os.path.exists(events):
            with open(events) as f:
                logins = sum(json.loads(line)["event"] == "auth" for line in f)
        print(f"upstream suite: the hook library logged {logins} logins")
        if logins == 0:
            print("upstream suite: no login went through the hook library", file=sys.stderr)
            return rc or 1
        return rc
    finally:
        ws.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
