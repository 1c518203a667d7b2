"""ws-gateway-kube's `activity`: the activity records read in the pod
through the API's exec over WebSocket (the stand-in runs the command here,
with a directory of the test for /var/lib/ws-activity), and what a broken
exchange does to it."""
import json
import os
import time

from kube_backend import kube  # noqa: F401 (fixture)


def running(kube, name="alice"):
    kube.create(name)
    kube.keys(name)
    kube.ok("start", name)
    return kube.api.activity_dir(f"ws-{name}-0")


def write_record(directory, name, ms):
    """An activity record as the hook library writes it (compact JSON)."""
    with open(os.path.join(directory, name), "w") as f:
        json.dump({"session": name, "last_activity_ms": ms}, f, separators=(",", ":"))


def test_activity_through_exec(kube):
    records = running(kube)
    assert kube.ok("activity", "alice") == "0\n"
    write_record(records, "a.json", 1700000000123)
    write_record(records, "b.json", 1700000999456)
    write_record(records, "c.txt", 1800000000000)  # not a record
    os.mkfifo(os.path.join(records, "d.json"))  # neither is a FIFO: no hang
    other = os.path.join(kube.root, "elsewhere.json")
    write_record(kube.root, "elsewhere.json", 1900000000000)
    os.symlink(other, os.path.join(records, "e.json"))  # nor a symlink
    started = time.monotonic()
    assert kube.ok("activity", "alice") == "1700000999456\n"
    assert time.monotonic() - started < 5
    # a hold file: now
    open(os.path.join(records, "hold"), "w").close()
    before = int(time.time() * 1000)
    held = int(kube.ok("activity", "alice"))
    assert before - 2000 <= held <= int(time.time() * 1000) + 2000
    [call, *_] = kube.api.calls(resource="pods/exec")
    assert call["name"] == "ws-alice-0" and call["query"]["container"] == ["workspace"]
    assert call["query"]["command"][:2] == ["sh", "-c"]
    assert call["query"]["command"][-1] == "/var/lib/ws-activity"
    assert call["code"] == 101


def test_activity_of_a_stopped_workspace_fails_at_once(kube):
    kube.create("alice")
    # the API server answers the upgrade with a 404 Status and keeps the
    # connection open, as an HTTP/1.1 server does: the answer is its
    # Content-Length, not whatever comes until the connection ends
    started = time.monotonic()
    assert kube.refused("activity", "alice") == "pod ws-alice-0 is not running"
    assert time.monotonic() - started < 5


def test_activity_of_a_pod_that_is_not_ready_fails(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ContainerCreating", "")
    kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "1"})
    started = time.monotonic()
    line = kube.refused("activity", "alice")
    assert "ws-alice-0" in line
    assert time.monotonic() - started < 5


def test_an_exec_refused_by_rbac_names_the_request(kube):
    running(kube)
    kube.api.fail("create", "pods/exec", 403)
    line = kube.refused("activity", "alice")
    assert line.startswith("GET pods/ws-alice-0/exec: 403"), line
    assert "forbidden" in line


def test_a_ping_before_the_output_is_no_trouble(kube):
    records = running(kube)
    write_record(records, "a.json", 1700000000123)
    kube.api.exec_faults.append("ping")
    assert kube.ok("activity", "alice") == "1700000000123\n"


def test_a_wrong_websocket_accept_is_refused(kube):
    records = running(kube)
    write_record(records, "a.json", 1700000000123)
    kube.api.exec_faults.append("bad-accept")
    line = kube.refused("activity", "alice")
    assert "Sec-WebSocket-Accept" in line, line


def test_an_exec_that_stalls_is_bounded(kube):
    running(kube)
    kube.api.exec_faults.append("stall")
    started = time.monotonic()
    kube.refused("activity", "alice")
    assert time.monotonic() - started < 14


def test_an_exec_that_floods_is_bounded(kube):
    running(kube)
    kube.api.exec_faults.append("flood")
    started = time.monotonic()
    r = kube.run("activity", "alice")
    assert time.monotonic() - started < 14
    # refused, or a number: never the flood itself
    assert r.returncode != 0 or r.stdout.strip().isdigit(), r.stdout[:200]
    assert len(r.stdout) < 100 and len(r.stderr) < 1000
