"""A gateway as users meet it, for the test_gateway_e2e*.py tests: the
build's dropbear with the hook library in `role = gateway` (users alice and
bob with keys of their own, `-k`, `-c 'ws-gateway control'`), and behind it
the command backend gateway_backend.sh, whose workspaces are the build's
dropbear with the hook library too, each with its own home and the keys
and host key the gateway created it with.  Clients reach them the way the
gateway tells users to: an ssh_config made from `ssh alice@gw config`.
The fixtures `gateway` and `gateway_factory` (conftest.py) make them."""
import json
import os
import shlex
import signal
import subprocess

from conftest import BUILD, DROPBEAR, BackendFiles, HOOK_LIB, keygen, nss_wrapper, wait_for

GATEWAY = os.path.join(BUILD, "bin", "ws-gateway")
BACKEND = os.path.join(os.path.dirname(os.path.realpath(__file__)), "gateway_backend.sh")
HOST = "gw-e2e"  # gateway_host: what `config` puts after ProxyJump alice@
TIMEOUT = 60


class Gateway(BackendFiles):
    def __init__(self, ws, start_server, server_args=(), **keys):
        self.ws = ws
        self.root = ws.path("gw")
        self.users = os.path.join(self.root, "users")
        self.state = os.path.join(self.root, "state")
        self.backend_dir = os.path.join(self.root, "backend")
        for d in (self.root, self.users, self.state, self.backend_dir):
            os.makedirs(d)
            os.chmod(d, 0o755)
        self.keys = {}
        for user in ("alice", "bob"):
            self.keys[user] = keygen(ws.path(f"id_{user}"))
            self.add_user(user, open(self.keys[user] + ".pub").read())
        # the server's uid writes these
        self.log = os.path.join(ws.server_dir, "gateway-events.log")
        ws.chown(self.state, self.backend_dir)
        # the backend gets its settings from here, also when `ws-gateway
        # control` runs it from a session (whose environment is the server's)
        self.backend = ws.write("backend", "#!/bin/sh\n" + "".join(
            f"export {k}={shlex.quote(v)}\n" for k, v in {
                "GW_TEST_DIR": self.backend_dir, "DROPBEAR": DROPBEAR, "HOOK_LIB": HOOK_LIB,
                "NSS_WRAPPER_LIB": nss_wrapper()}.items())
            + f"exec {shlex.quote(BACKEND)} \"$@\"\n", 0o755)
        self.config = self.write_config(**keys)
        self.server = start_server(config=self.config,
                                   extra_args=["-k", "-c", f"{GATEWAY} control",
                                               *server_args]).wait_ready()
        self.client_configs = {}

    def add_user(self, name, keys):
        self.ws.write(os.path.join("gw", "users", name), keys, 0o644)

    def write_config(self, **keys):
        settings = {
            "role": "gateway", "event_log": self.log, "gateway_users_dir": self.users,
            "gateway_backend": self.backend, "gateway_state_dir": self.state,
            "gateway_program": GATEWAY, "gateway_create": "on", "gateway_wake_timeout": "20",
            "gateway_host": HOST,
        }
        settings.update(keys)
        return self.ws.write_config("".join(f"{k} = {v}\n" for k, v in settings.items()
                                            if v is not None), "gateway.conf")

    # --- clients ---

    def ssh_config(self, user="alice", refresh=False):
        """An ssh_config for `user`: the gateway's address, the block
        `ssh USER@gw config` prints, and its known_hosts lines (with the
        gateway's own host key) as the only known hosts: every host key is
        checked.  Made again with refresh (after new workspaces)."""
        if user in self.client_configs and not refresh:
            return self.client_configs[user]
        r = self.gw_ssh(user, "config", config=self.bootstrap_config(user))
        assert r.returncode == 0, r.stderr
        block, _, known = r.stdout.partition("# known_hosts lines")
        known_hosts = self.ws.path(f"known_hosts-{user}")
        with open(known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.server.port} {self.ws.hostpub}\n")
            f.write("".join(line + "\n" for line in known.splitlines()[1:] if line.strip()))
        path = self.ws.path(f"ssh_config-{user}")
        with open(path, "w") as f:
            f.write(self.gateway_block() + block + self.common_block(user, known_hosts))
        self.client_configs[user] = path
        return path

    def gateway_block(self):
        return f"Host {HOST}\n    HostName 127.0.0.1\n    Port {self.server.port}\n\n"

    def common_block(self, user, known_hosts):
        return (f"Host *\n    IdentityFile {self.keys[user]}\n    IdentitiesOnly yes\n"
                f"    IdentityAgent none\n    UserKnownHostsFile {known_hosts}\n"
                "    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 10\n")

    def bootstrap_config(self, user):
        """Enough to reach the gateway itself (before `config`)."""
        path = self.ws.path(f"ssh_config-boot-{user}")
        if not os.path.exists(path):
            known = self.ws.path("known_hosts-gw")
            with open(known, "w") as f:
                f.write(f"[127.0.0.1]:{self.server.port} {self.ws.hostpub}\n")
            with open(path, "w") as f:
                f.write(self.gateway_block() + self.common_block(user, known))
        return path

    def gw_ssh(self, user, command=None, extra=(), config=None, input=None, timeout=TIMEOUT,
               env=None):
        """ssh USER@gw [command]: a session at the gateway."""
        args = ["ssh", "-F", config or self.bootstrap_config(user)] + list(extra) + \
            [f"{user}@{HOST}"] + ([command] if command is not None else [])
        return run(args, input, timeout, env)

    def gw_ssh_key(self, user, key, command="list", timeout=TIMEOUT):
        """ssh USER@gw with exactly this key and no other."""
        return run(self.server.ssh_args(user, key) + [command], None, timeout)

    def jump(self, target, command=None, user="alice", extra=(), input=None, timeout=TIMEOUT,
             env=None):
        """ssh TARGET [command] with the config `config` printed (ProxyJump)."""
        args = ["ssh", "-F", self.ssh_config(user)] + list(extra) + [target] + \
            ([command] if command is not None else [])
        return run(args, input, timeout, env)

    def control(self, user, command):
        r = self.gw_ssh(user, command)
        assert r.returncode == 0, r.stderr
        return r.stdout

    # --- the backend's side ---

    def workspace_dir(self, name, *parts):
        return os.path.join(self.backend_dir, name, *parts)

    def running(self, name):
        return pid_alive(self.workspace_dir(name, "pid"))

    def stop_behind_its_back(self, name):
        """Stopped as the engine would stop it (not by the gateway: no
        reason recorded), so the next jump starts it."""
        r = subprocess.run([self.backend, "stop", name], capture_output=True, text=True,
                           timeout=TIMEOUT, env=dict(os.environ, WS_GATEWAY_STATE=self.state))
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: not pid_alive(self.workspace_dir(name, "dropbear.pid")),
                        timeout=10)

    def workspace_events(self, name, event=None):
        return read_events(self.workspace_dir(name, "events.log"), event)

    def events(self, event=None):
        return read_events(self.log, event)

    def stop_all(self):
        for name in os.listdir(self.backend_dir):
            pid = self.workspace_dir(name, "pid")
            if os.path.exists(pid):
                try:
                    os.killpg(int(open(pid).read()), signal.SIGTERM)  # its connections too
                except (ProcessLookupError, ValueError):
                    pass


def pid_alive(pidfile):
    """The process pidfile names runs: it exists and is not a zombie (one
    whose parent is gone waits for init to collect it, which can take a
    while; signal 0 still reaches it)."""
    try:
        with open(pidfile) as f:
            pid = int(f.read())
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return False


def read_events(path, event=None):
    try:
        with open(path) as f:
            events = [json.loads(line) for line in f if line.startswith("{")]
    except FileNotFoundError:
        return []
    return [e for e in events if event in (None, e["event"])]


def run(args, input=None, timeout=TIMEOUT, env=None):
    stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout,
                          env=env, **stdin)


def refusal(reason):
    """What the OpenSSH client prints for a channel the gateway refused."""
    return f"open failed: administratively prohibited: {reason}"

