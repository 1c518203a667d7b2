#!/usr/bin/python3
"""The gateway role next to a direct connection to the same workspace, from
one run: a gateway (our server, role = gateway, users from a directory) in
front of tests/integration/gateway_backend.sh, whose workspaces are real
build/bin/dropbear servers with the hook library on loopback ports.

1. bulk throughput through the jump (`ssh -J`: direct-tcpip at the
   gateway) and directly to the workspace, same client and cipher;
2. a jump's first output from a new, a stopped and a running workspace,
   in parts (the gateway's handshake, the backend's calls, the banner
   wait, the workspace's handshake); and the same with podman workspaces
   (plugins/gateway/ws-gateway-podman) when podman runs as root and has
   the image;
3. N idle jump connections held by one gateway (an asyncssh client: one
   gateway connection each, a tunnelled SSH connection to the workspace
   inside it): the gateway's PSS per connection, next to the workspace's
   PSS per idle direct connection.

    tests/bench/bench_gateway.py [--quick]

Servers (the gateway, and the workspaces it starts) run on CPU 0, clients
on CPU 1, as in bench.py.  A benchmark, not a test: nothing here fails on
a number.
"""
import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import (CLIENT_CPU, OUT, Peer, cpu_ms, machine, pss_kib, ratio, run,  # noqa: E402
                   save, throughput, tree)
from conftest import (BUILD, DROPBEAR, HOOK_LIB, REPO, Workspace,  # noqa: E402
                      wait_for)
sys.path.insert(0, os.path.join(REPO, "tests"))
import podman_cli  # noqa: E402  (optional here: its line is skipped without podman)

WS_GATEWAY = os.path.join(BUILD, "bin", "ws-gateway")
TEST_BACKEND = os.path.join(REPO, "tests", "integration", "gateway_backend.sh")
PODMAN_BACKEND = os.path.join(REPO, "plugins", "gateway", "ws-gateway-podman")
BULK_CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Gateway:
    """A gateway server in front of one backend; each backend call is timed
    by a wrapper (verb, start and end in ns, one line each in `calls`)."""

    def __init__(self, ws, name, backend, env):
        self.ws, self.name = ws, name
        d = ws.path(name)
        self.state, self.users = os.path.join(d, "state"), os.path.join(d, "users")
        os.makedirs(self.state)
        os.makedirs(self.users)
        os.chmod(d, 0o755)
        os.chmod(self.users, 0o755)
        self.calls = os.path.join(ws.server_dir, f"{name}-backend-calls")
        self.events_path = os.path.join(ws.server_dir, f"{name}-events.log")
        exports = "".join(f"export {k}='{v}'\n" for k, v in env.items())  # sessions' env is clean
        wrapper = write(os.path.join(d, "backend"), f"""#!/bin/sh
{exports}s=$(date +%s%N); {backend} "$@"; rc=$?
echo "$1 $s $(date +%s%N)" >> {self.calls}; exit $rc
""", 0o755)
        config = write(os.path.join(d, "hooks.conf"), "".join(f"{k} = {v}\n" for k, v in {
            "role": "gateway", "event_log": self.events_path, "gateway_users_dir": self.users,
            "gateway_backend": wrapper, "gateway_state_dir": self.state, "gateway_create": "on",
            "gateway_wake_timeout": "120", "gateway_program": WS_GATEWAY,
            "gateway_host": "127.0.0.1"}.items()))
        ws.chown(self.state)
        self.peer = Peer(ws, name, [DROPBEAR, "-F", "-E", "-p", "127.0.0.1:{PORT}", "-r", ws.hostkey,
                                    "-k", "-c", f"{WS_GATEWAY} control", f"--hook={HOOK_LIB}",
                                    f"--hook-config={config}"], ws.hostpub)
        self.peer.start()

    def add_user(self, user):
        shutil.copy(self.ws.key + ".pub", os.path.join(self.users, user))
        os.chmod(os.path.join(self.users, user), 0o644)

    def events(self, name):
        try:
            with open(self.events_path) as f:
                return [e for e in map(json.loads, f) if e["event"] == name]
        except FileNotFoundError:
            return []

    def backend_calls(self):
        try:
            with open(self.calls) as f:
                return [(v, (int(e) - int(s)) / 1e6) for v, s, e in map(str.split, f)]
        except FileNotFoundError:
            return []

    def hostkey_line(self, workspace):
        with open(os.path.join(self.state, "hostkeys", workspace + ".pub")) as f:
            return " ".join(f.read().split()[:2])


class Route:
    """One way to reach a host of the bench's ssh_config (bench.throughput
    calls .ssh(command, options=...))."""

    def __init__(self, name, config, host):
        self.name, self.config, self.host = name, config, host

    def ssh(self, *extra, options=()):
        """options go first in a copy of the file: `ssh -o` would not reach
        the jump's own ssh, and both layers must use the same cipher."""
        config = self.config
        if options:
            config = f"{self.config}-{'-'.join(options).replace('@', '_').replace('=', '_')}"
            with open(self.config) as src:
                write(config, "".join(o.replace("=", " ", 1) + "\n" for o in options) + src.read())
        return CLIENT_CPU + ["ssh", "-F", config, self.host] + list(extra)


def ssh_config(ws, gateways, direct_port):
    """gw-NAME: the gateway NAME as user `user`; W.ws: workspace W through
    the gateway of that name (ProxyJump, so the inner ssh gets this file
    too); direct: the command workspace without the gateway."""
    text = "".join(f"Host gw-{g.name}\n    HostName 127.0.0.1\n    Port {g.peer.port}\n"
                   f"    User {user}\nHost {user}.ws\n    ProxyJump gw-{g.name}\n"
                   for g, user in gateways)
    if direct_port:
        text += f"Host direct\n    HostName 127.0.0.1\n    Port {direct_port}\n"
    text += (f"Host *\n    User developer\n    IdentityFile {ws.key}\n    IdentitiesOnly yes\n"
             f"    IdentityAgent none\n    UserKnownHostsFile {ws.path('known_hosts')}\n"
             "    StrictHostKeyChecking yes\n    BatchMode yes\n    ControlMaster no\n"
             "    ConnectTimeout 150\n")
    return write(ws.path("ssh_config"), text)


def login_parts(config, host, extra=()):
    """`ssh -v HOST echo ready` through the jump, each stderr line stamped
    as it arrives: (ms to the output, the client's marks in ms)."""
    proc = subprocess.Popen(CLIENT_CPU + ["ssh", "-v", "-F", config, *extra, host, "echo ready"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0, lines = time.perf_counter(), []

    def read_err():
        for line in proc.stderr:
            lines.append((time.perf_counter(), line))
    reader = threading.Thread(target=read_err)
    reader.start()
    first = proc.stdout.readline()
    t_out = time.perf_counter()
    proc.wait(timeout=300)
    reader.join()
    if first.strip() != "ready":
        said = [line.strip() for _, line in lines if not line.startswith("debug")]
        raise RuntimeError(f"the jump to {host} failed after {time.perf_counter() - t0:.1f} s: "
                           + " / ".join(said[-3:]))
    auth = [t for t, line in lines if "Authenticated to" in line]
    banner = [t for t, line in lines if "Remote protocol version" in line]
    ms = lambda t: (t - t0) * 1000  # noqa: E731
    # the gateway's login, then the workspace's banner arriving through the
    # channel, then the workspace's login
    return ms(t_out), {"gateway_login": ms(auth[0]),
                       "workspace_banner": ms([t for t in banner if t > auth[0]][0]),
                       "workspace_login": ms(auth[1])}


def jump_in_parts(gw, config, workspace, extra=()):
    """One jump's parts: the client's marks, the gateway's wake event and
    the backend calls that wake made."""
    before, skip = len(gw.events("gateway_wake")), len(gw.backend_calls())
    total, marks = login_parts(config, f"{workspace}.ws", extra)
    wake = wait_for(lambda: gw.events("gateway_wake")[before:], 10)[0]["duration_ms"]
    spent = {}
    for verb, ms in gw.backend_calls()[skip:]:
        spent[verb] = spent.get(verb, 0) + ms
    return dict(marks, total=total, wake=wake, backend_create=spent.get("create", 0),
                backend_start=spent.get("start", 0),
                backend_other=sum(v for k, v in spent.items() if k not in ("create", "start")),
                banner_wait=wake - sum(spent.values()))


def cold_start(gw, config, workspace, stop, warm_runs):
    """Jumps to a workspace: new (created by the jump), running (warm_runs,
    medians), then stopped (stop() behind the gateway's back, as if by
    idle, so the jump wakes it)."""
    out = {"new": jump_in_parts(gw, config, workspace, ["-o", "StrictHostKeyChecking=no",
                                                        "-o", "UserKnownHostsFile=/dev/null"])}
    with open(gw.ws.path("known_hosts"), "a") as f:
        f.write(f"{workspace}.ws {gw.hostkey_line(workspace)}\n")
    warm = [jump_in_parts(gw, config, workspace) for _ in range(warm_runs)]
    out["running"] = {k: statistics.median(w[k] for w in warm) for k in warm[0]}
    stop()
    try:
        out["stopped"] = jump_in_parts(gw, config, workspace)
    except RuntimeError as e:
        out["stopped"] = {"failed": str(e)}
    return out


# --- idle connections (asyncssh, one client process) ---

async def hold_connections(spec):
    """Opens spec["n"] connections (8 at a time), prints how many are up,
    keeps them until stdin closes."""
    import asyncssh
    kw = dict(username="developer", client_keys=[spec["key"]], known_hosts=spec["known_hosts"],
              agent_path=None, config=None)
    conns, errors, sem = [], [], asyncio.Semaphore(8)

    async def one():
        async with sem:
            try:
                if spec["gateway_port"]:
                    gw = await asyncssh.connect("127.0.0.1", spec["gateway_port"],
                                                **dict(kw, username=spec["user"]))
                    conns.append(gw)
                    conns.append(await asyncssh.connect(f"{spec['user']}.ws", 22, tunnel=gw, **kw))
                else:
                    conns.append(await asyncssh.connect("127.0.0.1", spec["port"], **kw))
            except (OSError, asyncssh.Error) as e:
                errors.append(str(e))
    await asyncio.gather(*(one() for _ in range(spec["n"])))
    held = len(conns) // (2 if spec["gateway_port"] else 1)
    print(json.dumps({"held": held, "errors": errors[:3]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for c in conns:
        c.close()


def idle_pss(spec, trees):
    """Runs the holding client; returns (held, {name: PSS KiB per connection
    of that process tree, its root's own PSS left out})."""
    roots = {name: pss_kib(tree_of()) for name, tree_of in trees.items()}
    proc = subprocess.Popen(CLIENT_CPU + [sys.executable, "-W", "ignore", __file__, "--hold",
                                          json.dumps(spec)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    status = json.loads(proc.stdout.readline())
    time.sleep(2)
    held = status["held"]
    per = {name: (pss_kib(tree_of()) - roots[name]) / max(held, 1) for name, tree_of in trees.items()}
    if status["errors"]:
        print(f"  some connections failed: {status['errors']}", flush=True)
    proc.stdin.close()
    proc.wait(timeout=120)
    return held, per


# --- podman ---

def podman_image():
    """The image for the podman line, or None and why not."""
    if os.getuid() != 0:
        return None, "needs root (podman as root, as the image tests run it)"
    try:
        r = podman_cli.podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    except OSError:
        return None, "podman is not installed"
    found = [i for i in r.stdout.split() if i.startswith("localhost/ssh-workspace:")]
    if os.environ.get("WS_IMAGE"):  # make bench: this version's (make image)
        found = [i for i in found if i == os.environ["WS_IMAGE"]]
    return (found[0], None) if found else (
        None, f"no image {os.environ.get('WS_IMAGE', 'localhost/ssh-workspace:*')} (make image)")


def podman_service(ws):
    """A root podman API service on a socket of the workspace directory,
    given to the server's uid: the gateway runs unprivileged."""
    sock = ws.path("podman.sock")
    proc = podman_cli.service(sock)
    if not wait_for(lambda: os.path.exists(sock), 20):
        proc.kill()
        raise RuntimeError("podman system service did not start")
    ws.chown(sock)
    return proc, f"unix://{sock}"


def podman_cleanup(name):
    for args in (["rm", "-f", "-t", "0", f"ws-{name}"], ["volume", "rm", "-f", f"ws-home-{name}"],
                 *(["secret", "rm", f"ws-{s}-{name}"] for s in ("keys", "hostkey", "hooks"))):
        podman_cli.podman(*args, check=False)


def podman_cold_start(ws, gw, ws_port, image, warm_runs, podman, gateways):
    """cold_start with a second gateway whose backend is ws-gateway-podman,
    driving root's podman through its API socket (podman: what to clean up)."""
    podman["service"], url = podman_service(ws)
    user = podman["user"] = "bench" + secrets.token_hex(4)
    pgw = Gateway(ws, "podman", PODMAN_BACKEND,
                  {"WS_PODMAN_URL": url, "WS_GATEWAY_IMAGE": image, "HOME": ws.home})
    gateways.append(pgw)
    pgw.add_user(user)
    with open(ws.path("known_hosts"), "a") as f:
        f.write(f"[127.0.0.1]:{pgw.peer.port} {ws.hostpub}\n")
    config = ssh_config(ws, [(gw, "alice"), (pgw, user)], ws_port)
    stop = lambda: run([PODMAN_BACKEND, "stop", user], env=podman_cli.env())  # noqa: E731
    return dict(cold_start(pgw, config, user, stop, warm_runs), image=image)


# --- report ---

def report(res):
    m, q = res["machine"], res["quick"]
    lines = [f"machine: {m['cpu']}, {m['cpus']} CPUs, kernel {m['kernel']}; {m['pinned']}",
             f"client: {m['ssh']}; ours: {m['dropbear']}" + (" (--quick)" if q else ""), "",
             f"1. bulk MiB/s, {res['mib']} MiB each way, best of {res['rounds']}"
             f"{'':<6}{'jump':>9}{'direct':>9}{'jump/direct':>13}"]
    for cipher, per in res["throughput"].items():
        for d in ("upload", "download"):
            j, di = per.get("jump", {}).get(d), per.get("direct", {}).get(d)
            lines.append(f"   {d:<9}{cipher:<41}{j or 0:>9.1f}{di or 0:>9.1f}{ratio(j, di):>13}")
    cpu = res["cpu_ms_per_mib"]
    lines.append(f"   server CPU ms per MiB: gateway (jumps) {cpu['gateway']:.2f}, workspace (jumps "
                 f"and direct) {cpu['workspace']:.2f}")
    lines += ["", "2. a jump's first output, ms (ssh -v line times; the gateway's wake event; "
              "the backend calls)"]
    parts = [("total: ssh start to the command's output", "total"),
             ("  gateway handshake (client: ssh start to authenticated)", "gateway_login"),
             ("  channel open to the workspace's banner (client)", "to_banner"),
             ("    wake at the gateway (gateway_wake duration_ms)", "wake"),
             ("      backend create", "backend_create"),
             ("      backend start", "backend_start"),
             ("      backend status and list calls", "backend_other"),
             ("      the rest: host key, banner wait, connect", "banner_wait"),
             ("  workspace handshake (banner to authenticated)", "workspace_handshake"),
             ("  session and command", "session")]
    states = ("new", "stopped", "running")
    for label, c in res["cold_start"].items():
        if "skipped" in c:
            lines.append(f"   {label}: skipped: {c['skipped']}")
            continue
        lines.append(f"   {label + ', workspace:':<58}" + "".join(f"{k:>9}" for k in states))
        if "image" in c:
            lines.append(f"   (image {c['image']})")
        for text, key in parts:
            row = [None if "failed" in c[k] else derive(c[k], key) for k in states]
            lines.append(f"   {text:<58}" + "".join(f"{v:>9.0f}" if v is not None else f"{'-':>9}"
                                                  for v in row))
        for k in states:
            if "failed" in c[k]:
                lines.append(f"   {k}: {c[k]['failed']}")
    mem = res["memory"]
    if "skipped" in mem:
        return "\n".join(lines + ["", f"3. idle connections: skipped: {mem['skipped']}"])
    lines += ["", f"3. idle connections: {mem['jump_held']} of {mem['n']} jumps held by one gateway, "
              f"{mem['direct_held']} of {mem['n']} direct",
              f"   gateway PSS MiB per jump connection              {mem['gateway_per_jump']:>7.2f}",
              f"   workspace PSS MiB per idle direct connection     {mem['workspace_per_direct']:>7.2f}",
              f"   workspace PSS MiB per connection through a jump  {mem['workspace_per_jump']:>7.2f}",
              f"   gateway / workspace (direct)                     "
              f"{ratio(mem['gateway_per_jump'], mem['workspace_per_direct']):>7}"]
    return "\n".join(lines)


def derive(p, key):
    if key == "to_banner":
        return p["workspace_banner"] - p["gateway_login"]
    if key == "workspace_handshake":
        return p["workspace_login"] - p["workspace_banner"]
    if key == "session":
        return p["total"] - p["workspace_login"]
    return p.get(key)


def idle_connections(gw, ws, ws_port, n, ws_tree):
    spec = {"n": n, "key": ws.key, "known_hosts": ws.path("known_hosts"), "port": ws_port,
            "gateway_port": None, "user": "alice"}
    direct_held, per = idle_pss(spec, {"workspace": ws_tree})
    wait_for(lambda: len(ws_tree()) == 1, 30)
    jump_held, per_jump = idle_pss(dict(spec, gateway_port=gw.peer.port),
                                   {"gateway": gw.peer.pids, "workspace": ws_tree})
    return {"n": n, "direct_held": direct_held, "jump_held": jump_held,
            "workspace_per_direct": per["workspace"] / 1024,
            "gateway_per_jump": per_jump["gateway"] / 1024,
            "workspace_per_jump": per_jump["workspace"] / 1024}


def main():
    if sys.argv[1:2] == ["--hold"]:
        return asyncio.run(hold_connections(json.loads(sys.argv[2])))
    quick = "--quick" in sys.argv
    mib, rounds, warm_runs, n = (256, 1, 3, 100) if quick else (1024, 2, 5, 500)
    os.makedirs(OUT, exist_ok=True)
    ws = Workspace()
    backend_dir = ws.path("backend")
    os.makedirs(backend_dir)
    ws.chown(backend_dir)
    # the backend's workspaces: our server with the hook library, default settings
    ws_server = write(ws.path("workspace-server"),
                      f'#!/bin/sh\nexec {DROPBEAR} --hook={HOOK_LIB} "$@"\n', 0o755)
    cmd_env = {"GW_TEST_DIR": backend_dir, "DROPBEAR": ws_server}
    gateways, podman = [], {}
    res = {"machine": machine({"debian12": ["ssh"]}), "quick": quick, "mib": mib, "rounds": rounds, "cold_start": {}}
    try:
        gw = Gateway(ws, "command", TEST_BACKEND, cmd_env)
        gateways.append(gw)
        gw.add_user("alice")
        with open(ws.path("known_hosts"), "w") as f:
            f.write(f"[127.0.0.1]:{gw.peer.port} {ws.hostpub}\n")
        config = ssh_config(ws, [(gw, "alice")], None)
        print("jumps to a new, a running and a stopped workspace ...", flush=True)
        stop = lambda: run([TEST_BACKEND, "stop", "alice"], env=dict(os.environ, **cmd_env))  # noqa: E731
        res["cold_start"]["command backend (build/bin/dropbear)"] = cold_start(
            gw, config, "alice", stop, warm_runs)
        with open(os.path.join(backend_dir, "alice", "port")) as f:
            ws_port = int(f.read())
        with open(ws.path("known_hosts"), "a") as f:
            f.write(f"[127.0.0.1]:{ws_port} {gw.hostkey_line('alice')}\n")
        config = ssh_config(ws, [(gw, "alice")], ws_port)

        image, why = podman_image()
        label = "podman backend (ws-gateway-podman)"
        if image:
            print(f"   podman, image {image} ...", flush=True)
            try:
                res["cold_start"][label] = podman_cold_start(ws, gw, ws_port, image, warm_runs, podman,
                                                             gateways)
            except (RuntimeError, SystemExit, IndexError) as e:
                res["cold_start"][label] = {"skipped": f"failed: {e}"}
        else:
            res["cold_start"][label] = {"skipped": why}

        print(f"throughput ({mib} MiB each way, best of {rounds}) ...", flush=True)
        routes = [Route("jump", config, "alice.ws"), Route("direct", config, "direct")]
        ws_pid = lambda: int(open(os.path.join(backend_dir, "alice", "pid")).read())  # noqa: E731
        cpu0 = gw.peer.cpu_ms(), cpu_ms(ws_pid())
        res["throughput"] = throughput(routes, mib, rounds, BULK_CIPHERS)
        time.sleep(1)  # the last connection processes are reaped
        relayed = mib * 2 * len(BULK_CIPHERS) * rounds  # per route
        res["cpu_ms_per_mib"] = {"gateway": (gw.peer.cpu_ms() - cpu0[0]) / relayed,
                                 "workspace": (cpu_ms(ws_pid()) - cpu0[1]) / (2 * relayed)}

        print(f"{n} idle connections, direct, then through the gateway ...", flush=True)
        if importlib.util.find_spec("asyncssh") is None:
            res["memory"] = {"skipped": "python3-asyncssh is not installed"}
        else:
            res["memory"] = idle_connections(gw, ws, ws_port, n, lambda: tree(ws_pid()))
    finally:
        for g in gateways:
            g.peer.stop()
        run([TEST_BACKEND, "stop", "alice"], env=dict(os.environ, **cmd_env))
        if podman.get("user"):
            podman_cleanup(podman["user"])
        if podman.get("service"):
            podman["service"].terminate()
            podman["service"].wait(timeout=30)
        ws.cleanup()
    save(res, report(res), "gateway")
    print(f"\nresults: {OUT}/gateway.json, gateway.txt")


if __name__ == "__main__":
    main()
