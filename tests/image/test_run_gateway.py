"""`make run-gateway` (dropbear/run-gateway.sh): a gateway on 127.0.0.1 as
an unprivileged uid, with the podman backend driving root podman through a
service socket only that uid can open; the ssh line it prints logs in to a
podman workspace through the jump, and stopping the script stops the
gateway, the workspaces and the service."""
import os
import stat
import subprocess

from conftest import listening, podman, wait_for


def test_run_gateway_line_logs_in_through_the_jump_and_stop_ends_everything(run_gateway):
    gw = run_gateway()
    alice, bob = gw.users
    out = gw.output()
    assert f"runs as unprivileged uid {gw.uid}" in out, out
    # the gateway is that uid; the socket is its alone
    with open(f"/proc/{gw.gateway_pid()}/status") as f:
        uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
    assert set(uids) == {str(gw.uid)}, uids
    st = os.stat(gw.socket)
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == gw.uid and st.st_mode & 0o777 == 0o600
    # in root's directory: the gateway's uid cannot put another in its place
    parent = os.stat(os.path.dirname(gw.socket))
    assert parent.st_uid == 0 and parent.st_mode & 0o022 == 0

    # the printed line as printed: the workspace is created on the way in,
    # its host key checked against what the gateway knows (KnownHostsCommand)
    line = gw.lines[alice]
    assert line[:2] == ["ssh", "-F"] and line[-1] == f"{alice}.ws"
    r = subprocess_run(line + ["-o", "BatchMode=yes", "id -un; id -u; echo $HOME"])
    assert r.returncode == 0, r.stderr + gw.output()[-3000:]
    assert r.stdout.split() == ["developer", "1000", "/home/developer"], r.stdout
    assert gw.status(alice) == "running" and gw.status(bob) == "missing"
    listing = gw.control(alice, "list").stdout
    assert f"{alice} " in listing and "running" in listing, listing
    # bob's key does not open alice's workspace, nor alice's bob's name
    r = gw.ssh(f"{bob}.ws", "true", jump=alice, check=False)
    assert r.returncode != 0 and f"no workspace '{bob}' for {alice}" in r.stderr, r.stderr

    service = gw.service_pids()
    assert len(service) == 1, service
    assert gw.stop() == 0
    assert not listening(gw.port)
    assert wait_for(lambda: not os.path.exists(f"/proc/{service[0]}"), 15), "podman service left running"
    assert not os.path.exists(gw.socket)
    # the workspace is stopped, its home kept
    assert gw.status(alice) == "stopped"
    assert podman("volume", "exists", f"ws-home-{alice}", check=False).returncode == 0


def subprocess_run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
