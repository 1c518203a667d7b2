"""The API requests of ws-gateway-kube, for its RBAC Role:
`ws-gateway-kube requests` prints the table its API code builds every
request from; it must list exactly what the backend asks of the API (a run
through every verb makes each listed request and no other), and every
request the stand-in saw in the other tests of the session must be in it.
(This file runs after test_gateway_kube.py and _refusals.py by name.)"""
from kube_backend import OBSERVED, kube  # noqa: F401 (fixture)

# What the backend asks, by the protocol: (verb, group, resource)
WANTED = {
    ("get", "apps", "statefulsets"), ("list", "apps", "statefulsets"),
    ("create", "apps", "statefulsets"), ("patch", "apps", "statefulsets"),
    ("delete", "apps", "statefulsets"),
    ("get", "core", "pods"), ("watch", "core", "pods"),
    # an exec over WebSocket is a GET: authorized as create since
    # Kubernetes 1.30, as get before
    ("create", "core", "pods/exec"), ("get", "core", "pods/exec"),
    ("create", "core", "secrets"), ("patch", "core", "secrets"),
    ("list", "core", "persistentvolumeclaims"), ("delete", "core", "persistentvolumeclaims"),
}


def listed(kube):
    out = kube.ok("requests")
    lines = out.splitlines()
    assert lines == sorted(set(lines)), "not sorted, or repeated"
    rows = {tuple(line.split(" ")) for line in lines}
    assert all(len(r) == 3 for r in rows), out
    return rows


def test_requests_lists_exactly_what_the_backend_asks(kube):
    rows = listed(kube)
    assert rows == WANTED
    # never a read of Secrets: their data is the workspaces' keys
    assert not {r for r in rows if r[2] == "secrets" and r[0] in ("get", "list", "watch")}
    # every verb, so that every listed request is made
    kube.api.controller.pod_delay = 1  # the start's first GET of the pod finds none
    kube.create("alice")
    keys_file = kube.path("create-keys-alice")
    kube.ok("create", "alice", keys_file, kube.path("create-hostkey-alice"))  # 409s
    kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.ok("status", "alice").startswith("running ")
    assert kube.ok("activity", "alice") == "0\n"
    kube.ok("stop", "alice")
    assert kube.ok("list") == "alice stopped\n"
    kube.ok("delete", "alice")
    assert kube.api.observed() == rows


def test_every_request_made_in_the_tests_is_listed(kube):
    rows = listed(kube)
    seen = OBSERVED | kube.api.observed()
    assert seen <= rows, f"made but not listed: {sorted(seen - rows)}"
