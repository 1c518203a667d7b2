"""Users and keys from an HTTP endpoint on a Unix socket
(gateway_keys_socket): a real HTTP server (Python's http.server) that
knows alice, says 404 for everyone else, and fails or hangs for two
names.  The gateway asks it at each login (gateway_e2e.py)."""
import http.server
import os
import socketserver
import threading
import time

import pytest

from gateway_e2e import TIMEOUT

DENIED = "Permission denied (publickey)"


class KeysHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.server.requests.append(self.path)
        user = self.path.partition("?user=")[2]
        if self.path.startswith("/v1/keys?") and user in self.server.keys:
            body = self.server.keys[user].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif user == "broken":
            self.send_error(500)
        elif user == "slow":
            time.sleep(15)
            self.send_error(404)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


class KeysServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def keys_server(workspace):
    path = workspace.path("keys.sock")
    server = KeysServer(path, KeysHandler)
    os.chmod(path, 0o666)  # the gateway runs as the workspace user
    server.keys, server.requests = {}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_users_and_keys_come_from_the_endpoint(gateway_factory, keys_server):
    gateway = gateway_factory(gateway_users_dir=None, gateway_keys_socket=keys_server.server_address)
    with open(gateway.keys["alice"] + ".pub") as f:
        keys_server.keys["alice"] = f.read()
    r = gateway.gw_ssh("alice", "list")
    assert r.returncode == 0, r.stderr
    assert "/v1/keys?user=alice" in keys_server.requests
    # bob's key file exists on disk, but the endpoint does not know him
    r = gateway.gw_ssh_key("bob", gateway.keys["bob"])
    assert r.returncode == 255 and DENIED in r.stderr, r.stderr
    # a user the endpoint fails or stalls for is refused within the limit
    for user in ("broken", "slow"):
        started = time.monotonic()
        r = gateway.gw_ssh_key(user, gateway.keys["alice"], timeout=TIMEOUT)
        assert r.returncode == 255 and DENIED in r.stderr, r.stderr
        assert time.monotonic() - started < 12  # the endpoint's stall is not waited out
    problems = {e["user"]: e["reason"] for e in gateway.events("gateway_problem")}
    assert "HTTP status 500" in problems["broken"], problems
    assert "timed out" in problems["slow"], problems
    # alice's workspace gets the endpoint's keys too
    gateway.control("alice", "start alice")
    gateway.ssh_config("alice", refresh=True)
    r = gateway.jump("alice.ws", "echo in")
    assert (r.returncode, r.stdout) == (0, "in\n"), r.stderr
