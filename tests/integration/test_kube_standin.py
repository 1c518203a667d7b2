"""The stand-in API server itself (kube_standin.py): it must refuse what the
real one refuses, or the backend's tests would pass against a server more
lenient than a cluster.  Spoken to with Python's own HTTPS client."""
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import time
import urllib.parse

import pytest

from kube_standin import StandIn
from kube_standin_ws import read_frame

A = "/apis/apps/v1/namespaces/ws-test/statefulsets"
S = "/api/v1/namespaces/ws-test/secrets"
P = "/api/v1/namespaces/ws-test/pods"
GUARD = {"op": "test", "path": "/metadata/labels/ssh-workspace~1gateway", "value": "gw"}


def statefulset(name, replicas=0, labels=None):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "labels": labels or {"ssh-workspace/gateway": "gw"}},
            "spec": {"replicas": replicas, "serviceName": "",
                     "selector": {"matchLabels": {"w": name}},
                     "template": {"metadata": {"labels": {"w": name}},
                                  "spec": {"containers": [{"name": "workspace", "image": "i"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "home"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}}


class Client:
    def __init__(self, api):
        self.api = api
        self.ctx = ssl.create_default_context(cafile=api.ca_file)

    def __call__(self, method, path, body=None, token=None, ctype="application/json"):
        conn = http.client.HTTPSConnection("127.0.0.1", self.api.port, context=self.ctx,
                                           timeout=20)
        headers = {"Authorization": "Bearer " + (token or self.api.token),
                   "Accept": "application/json", "Content-Type": ctype}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data) if data.strip() else None


@pytest.fixture
def api():
    d = tempfile.mkdtemp(prefix="ws-kube-standin-")
    s = StandIn(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_the_token_is_the_files_current_one(api):
    call = Client(api)
    old = api.token
    assert call("GET", A)[0] == 200
    api.set_token("new-token")
    assert call("GET", A, token=old)[0] == 401
    assert call("GET", A, token="new-token")[0] == 200


def test_create_conflict_patch_test_and_delete_preconditions(api):
    call = Client(api)
    code, sts = call("POST", A, statefulset("ws-a"))
    assert code == 201 and sts["metadata"]["uid"] and sts["metadata"]["resourceVersion"]
    assert call("POST", A, statefulset("ws-a"))[0] == 409
    patch = "application/json-patch+json"
    replicas = {"op": "replace", "path": "/spec/replicas", "value": 1}
    code, body = call("PATCH", A + "/ws-a", [dict(GUARD, value="other"), replicas], ctype=patch)
    assert code == 422 and body["kind"] == "Status"
    assert api.store.get("statefulsets", "ws-a")["spec"]["replicas"] == 0
    assert call("PATCH", A + "/ws-a", [GUARD, replicas], ctype=patch)[0] == 200
    # the fields a StatefulSet update may not touch
    claims = {"op": "replace", "path": "/spec/volumeClaimTemplates", "value": []}
    assert call("PATCH", A + "/ws-a", [GUARD, claims], ctype=patch)[0] == 422
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ws-a-keys",
              "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                   "name": "ws-a", "uid": sts["metadata"]["uid"]}]},
              "data": {"k": "dg=="}}
    assert call("POST", S, secret)[0] == 201
    options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    code, body = call("DELETE", A + "/ws-a", dict(options, preconditions={"uid": "x"}))
    assert code == 409 and "Precondition failed" in body["message"]
    uid = sts["metadata"]["uid"]
    assert call("DELETE", A + "/ws-a", dict(options, preconditions={"uid": uid}))[0] == 200
    deadline = time.monotonic() + 5  # collected, in the background
    while api.store.get("secrets", "ws-a-keys") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.store.get("secrets", "ws-a-keys") is None
    assert call("GET", A + "/ws-a")[0] == 404
    assert ("patch", "apps", "statefulsets") in api.observed()
    api.problems.clear()  # the wrong patches above were on purpose


def test_invalid_objects_are_refused_and_recorded(api):
    call = Client(api)
    bad = statefulset("ws-a")
    bad["spec"]["replicas"] = "1"
    assert call("POST", A, bad)[0] == 422
    assert call("POST", S, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                            "data": {"k": "not base64!"}})[0] == 422
    unselected = statefulset("ws-b")
    unselected["spec"]["template"]["metadata"]["labels"] = {"w": "other"}
    assert call("POST", A, unselected)[0] == 422
    assert len(api.problems) == 3
    assert api.store.items("statefulsets") == []


def test_the_controller_and_a_watch(api):
    call = Client(api)
    api.controller.pod_ip = "127.9.8.7"
    _, sts = call("POST", A, statefulset("ws-a", replicas=1))
    rv = sts["metadata"]["resourceVersion"]
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=Client(api).ctx, timeout=20)
    conn.request("GET", f"{P}?fieldSelector=metadata.name%3Dws-a-0&watch=1&resourceVersion={rv}"
                 "&timeoutSeconds=3", headers={"Authorization": "Bearer " + api.token,
                                               "Accept": "application/json"})
    events = [json.loads(line) for line in conn.getresponse().read().splitlines()]
    conn.close()
    assert [e["type"] for e in events][0] == "ADDED"
    ready = [e for e in events if e["object"]["status"].get("podIP") == "127.9.8.7"]
    assert ready and ready[0]["type"] == "MODIFIED"
    assert api.store.get("persistentvolumeclaims", "home-ws-a-0") is not None
    api.problems.clear()  # a PATCH without the label test below
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 0}]
    call("PATCH", A + "/ws-a", patch, ctype="application/json-patch+json")
    deadline = time.monotonic() + 5
    while api.store.get("pods", "ws-a-0") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.store.get("pods", "ws-a-0") is None
    assert api.store.get("persistentvolumeclaims", "home-ws-a-0") is not None
    assert api.problems == ["PATCH statefulsets/ws-a: the first op does not test the label"]
    api.problems.clear()


def test_watch_faults(api):
    api.watch_faults += ["gone", "cut"]
    ctx = Client(api).ctx
    headers = {"Authorization": "Bearer " + api.token, "Accept": "application/json"}
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=20)
    conn.request("GET", P + "?watch=1&resourceVersion=1&timeoutSeconds=5", headers=headers)
    [event] = [json.loads(x) for x in conn.getresponse().read().splitlines()]
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
    conn.close()
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=20)
    conn.request("GET", P + "?watch=1&resourceVersion=1&timeoutSeconds=5", headers=headers)
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    conn.close()


def test_exec_over_websocket(api):
    call = Client(api)
    call("POST", A, statefulset("ws-a", replicas=1))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (api.store.get("pods", "ws-a-0") or {}).get(
            "status", {}).get("podIP"):
        time.sleep(0.05)
    with open(os.path.join(api.activity_dir("ws-a-0"), "r.json"), "w") as f:
        f.write("record")
    query = urllib.parse.urlencode([("container", "workspace"), ("stdout", "true"),
                                    ("command", "sh"), ("command", "-c"),
                                    ("command", 'cat "$1"/r.json; exit 3'), ("command", "sh"),
                                    ("command", "/var/lib/ws-activity")])
    sock = Client(api).ctx.wrap_socket(socket.create_connection(("127.0.0.1", api.port)),
                                       server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {P}/ws-a-0/exec?{query} HTTP/1.1\r\nHost: k\r\n"
                  f"Authorization: Bearer {api.token}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
                  "\r\n").encode())
    f = sock.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 101")
    while f.readline() not in (b"\r\n", b""):
        pass
    frames = []
    while True:
        frame = read_frame(f)
        if frame is None or frame[0] == 8:
            break
        frames.append(frame[2])
    stdout = b"".join(x[1:] for x in frames if x[:1] == b"\x01")
    assert stdout == b"record"
    status = json.loads(frames[-1][1:])
    assert frames[-1][:1] == b"\x03" and status["details"]["causes"][0]["message"] == "3"
    sock.close()
    assert {("create", "core", "pods/exec"), ("get", "core", "pods/exec")} <= api.observed()
