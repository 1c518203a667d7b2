"""The gateway's Kubernetes backend (ws-gateway-kube) against the stand-in
API server: what each verb asks of the API and what it leaves there
(kube_backend.py has the template, the environment and the checks every
call and test share)."""
import json
import time

from conftest import wait_for
from kube_backend import (LABELS, MANAGED, SSH_PORT, TEMPLATE, image_of,  # noqa: F401
                          kube)


def test_create_makes_a_stopped_statefulset_and_its_secrets(kube):
    keys, hostkey = kube.create("alice")
    sts = kube.sts("alice")
    meta = sts["metadata"]
    assert meta["name"] == "ws-alice" and meta["namespace"] == kube.api.namespace
    labels = meta["labels"]
    assert [labels[k] for k in LABELS] == ["ws-gateway", MANAGED, "alice"]
    assert labels["app.kubernetes.io/instance"] == "rel"  # the template's own stay
    assert sts["spec"]["replicas"] == 0  # created stopped, whatever the template says
    text = json.dumps(sts)
    assert "__OBJECT__" not in text and "__NAME__" not in text
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert {"ws-alice-keys", "ws-alice-hostkey"} <= {
        v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert sts["spec"]["selector"]["matchLabels"]["ssh-workspace/workspace"] == "alice"
    # the Secrets: the files, the labels, owned by the StatefulSet
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == keys.encode()
    assert kube.secret_data("ws-alice-hostkey", "hostkey") == hostkey
    for name in ("ws-alice-keys", "ws-alice-hostkey"):
        secret = kube.get("secrets", name)
        assert [secret["metadata"]["labels"][k] for k in LABELS] == ["ws-gateway", MANAGED, "alice"]
        assert secret["metadata"]["ownerReferences"] == [{
            "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "ws-alice",
            "uid": meta["uid"], "controller": False, "blockOwnerDeletion": False}]
    assert kube.changes() == [("create", "statefulsets", None), ("create", "secrets", None),
                              ("create", "secrets", None)]
    time.sleep(0.5)
    assert kube.api.controller.pods_made == []


def test_the_owner_template_is_used_when_there_is_one(kube):
    kube.write_template(kube.template(image="registry.example/alice-tools:3"), owner="alice")
    kube.create("alice-dev")
    kube.create("bob")
    assert image_of(kube.sts("alice-dev")) == "registry.example/alice-tools:3"
    assert image_of(kube.sts("bob")) == image_of(TEMPLATE)


def test_status_missing_stopped_running(kube):
    assert kube.ok("status", "alice") == "missing\n"
    # the port named ssh, wherever it is in the list
    kube.write_template(kube.template(ports=[{"name": "http", "containerPort": 8080},
                                             {"name": "ssh", "containerPort": 2022}]))
    kube.create("alice")
    assert kube.ok("status", "alice") == "stopped\n"
    kube.api.controller.pod_ip = "127.31.7.9"
    kube.keys("alice")
    kube.ok("start", "alice")
    # the pod's address and the port named ssh in the template
    assert kube.ok("status", "alice") == "running 127.31.7.9 2022\n"
    # a pod that is going away (evicted, say) is not running
    kube.api.controller.delete_delay = 30
    pod = kube.get("pods", "ws-alice-0")
    pod["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    kube.api.store.replace("pods", pod)
    assert kube.ok("status", "alice") == "stopped\n"
    # nor one the API does not find
    kube.api.fail("get", "pods", 404)
    assert kube.ok("status", "alice") == "stopped\n"
    # stopped: replicas 0 is enough, the pod is not asked about
    kube.api.failures.clear()
    kube.ok("stop", "alice")
    pod_gets = len(kube.api.calls("get", "pods"))
    assert kube.ok("status", "alice") == "stopped\n"
    assert len(kube.api.calls("get", "pods")) == pod_gets


def test_status_is_stopped_while_the_pod_is_not_ready_or_not_there(kube):
    kube.create("alice")
    kube.api.controller.waiting = ("ContainerCreating", "")
    kube.api.store.replace("statefulsets", dict(kube.sts("alice"), spec=dict(
        kube.sts("alice")["spec"], replicas=1)))
    assert kube.ok("status", "alice") == "stopped\n"  # no pod yet, or not Ready
    assert kube.api.calls("get", "pods", "ws-alice-0")
    time.sleep(1)
    assert kube.get("pods", "ws-alice-0") is not None
    assert kube.ok("status", "alice") == "stopped\n"


def test_the_ssh_port_defaults_to_2222(kube):
    template = kube.template(ports=[{"name": "http", "containerPort": 8080}])
    kube.write_template(template)
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.ok("status", "alice") == "running 127.0.0.1 2222\n"


def test_start_rewrites_the_keys_and_waits_until_ready(kube):
    kube.create("alice")
    new_keys = kube.keys("alice")
    kube.api.controller.ready_delay = 2
    started = time.monotonic()
    kube.ok("start", "alice")
    took = time.monotonic() - started
    pod = kube.get("pods", "ws-alice-0")
    assert pod and any(c["type"] == "Ready" and c["status"] == "True"
                       for c in pod["status"]["conditions"])
    assert took >= 2, "start returned before the pod was Ready"
    assert took < 10
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == new_keys.encode()
    assert kube.sts("alice")["spec"]["replicas"] == 1
    # the keys PATCH and the StatefulSet's are guarded by the label test
    for call in kube.api.calls("patch"):
        ops = json.loads(call["body"])
        assert ops[0] == {"op": "test", "path": "/metadata/labels/ssh-workspace~1gateway",
                          "value": MANAGED}
    # waited with a watch on that pod alone, bounded
    watches = kube.api.calls("watch", "pods")
    assert watches
    pod_calls = [r for r in kube.api.requests if r["resource"] == "pods"]
    for w in watches:
        assert w["query"]["fieldSelector"] == ["metadata.name=ws-alice-0"]
        assert int(w["query"]["timeoutSeconds"][0]) <= 20
        # from the resourceVersion of the GET just before it, or after a
        # 404 from none (the watch begins with the pod if it is there by
        # then): no change between them is missed
        before = pod_calls[pod_calls.index(w) - 1]
        assert before["verbs"][0] == "get" and before["code"] in (200, 404), before
        assert w["query"].get("resourceVersion") == \
            ([before["rv"]] if before["code"] == 200 else None)


def test_start_applies_the_current_template_only_when_stopped(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.2.0"))
    kube.ok("start", "alice")
    sts = kube.sts("alice")
    assert image_of(sts) == "registry.example/ssh-workspace:0.2.0"
    assert kube.api.controller.pods_made[-1]["spec"]["containers"][0]["image"] == \
        "registry.example/ssh-workspace:0.2.0"
    # running: a start neither restarts nor changes it
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.3.0"))
    patches = len(kube.api.calls("patch", "statefulsets"))
    kube.ok("start", "alice")
    assert len(kube.api.calls("patch", "statefulsets")) == patches
    assert kube.sts("alice")["metadata"]["resourceVersion"] == sts["metadata"]["resourceVersion"]
    assert len(kube.api.controller.pods_made) == 1
    # stopped again: the next start takes 0.3.0
    kube.ok("stop", "alice")
    assert kube.ok("list") == "alice stopped\n"
    kube.ok("start", "alice")
    assert image_of(kube.sts("alice")) == "registry.example/ssh-workspace:0.3.0"


def test_start_survives_a_cut_watch_a_410_and_an_early_end(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.watch_faults += ["cut", "gone", "end"]
    kube.api.controller.ready_delay = 4
    kube.ok("start", "alice")
    assert kube.api.watch_faults == []
    watches = kube.api.calls("watch", "pods")
    assert [w.get("fault") for w in watches[:3]] == ["cut", "gone", "end"]
    # not a busy loop: at least 1 s between watches
    gaps = [b["time"] - a["time"] for a, b in zip(watches, watches[1:])]
    assert all(g >= 0.9 for g in gaps), gaps
    assert kube.ok("status", "alice") == f"running 127.0.0.1 {SSH_PORT}\n"


def test_start_of_a_pod_that_never_gets_ready_fails_with_the_reason(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff",
                                   'Back-off pulling image "registry.example/nope:1"')
    started = time.monotonic()
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "3"})
    took = time.monotonic() - started
    assert 3 <= took < 8, took
    assert line.startswith("pod ws-alice-0 not Ready after 3 s: "), line
    assert "ImagePullBackOff" in line and "registry.example/nope:1" in line
    # bounded, and not by polling: a few requests, not hundreds
    assert len(kube.api.requests) < 40


def test_start_of_an_unschedulable_pod_names_the_scheduler_message(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.unschedulable = "0/3 nodes are available: 3 Insufficient memory."
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "2"})
    assert line.startswith("pod ws-alice-0 not Ready after 2 s: ")
    assert "3 Insufficient memory" in line


def test_start_makes_a_missing_keys_secret_again(kube):
    kube.create("alice")
    kube.api.store.remove("secrets", "ws-alice-keys")
    keys = kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == keys.encode()
    secret = kube.get("secrets", "ws-alice-keys")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == kube.sts("alice")["metadata"]["uid"]
    assert [secret["metadata"]["labels"][k] for k in LABELS] == ["ws-gateway", MANAGED, "alice"]


def test_stop_sets_replicas_to_0_and_keeps_the_home(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0") is not None
    kube.api.controller.delete_delay = 3
    started = time.monotonic()
    kube.ok("stop", "alice")
    assert time.monotonic() - started < 2.5, "stop waited for the pod"
    assert kube.sts("alice")["spec"]["replicas"] == 0
    assert kube.changes()[-1] == ("patch", "statefulsets", "ws-alice")
    time.sleep(3.5)
    assert kube.get("pods", "ws-alice-0") is None
    pvc = kube.get("persistentvolumeclaims", "home-ws-alice-0")
    assert pvc["metadata"]["labels"]["ssh-workspace/gateway"] == MANAGED
    assert pvc["metadata"]["labels"]["ssh-workspace/workspace"] == "alice"
    # stopping a stopped one is fine
    kube.ok("stop", "alice")


def test_delete_removes_the_statefulset_its_secrets_and_its_home(kube):
    kube.create("alice")
    kube.create("bob")
    kube.keys("alice")
    kube.keys("bob")
    kube.ok("start", "alice")
    kube.ok("start", "bob")
    uid = kube.sts("alice")["metadata"]["uid"]
    pvc_uid = kube.get("persistentvolumeclaims", "home-ws-alice-0")["metadata"]["uid"]
    # a claim of another gateway's alice is not ours to delete
    kube.api.store.create("persistentvolumeclaims", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home-other-alice", "labels": {
            "ssh-workspace/gateway": "another-gateway", "ssh-workspace/workspace": "alice"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    # the garbage collector slower than the backend: it deletes the claim itself
    kube.api.store.gc_delay = 2
    kube.ok("delete", "alice")
    [delete] = kube.api.calls("delete", "statefulsets")
    options = json.loads(delete["body"])
    assert options["preconditions"]["uid"] == uid
    assert sorted(options["preconditions"]) == ["resourceVersion", "uid"]
    assert options["propagationPolicy"] == "Background"
    [pvcs] = kube.api.calls("list", "persistentvolumeclaims")
    assert pvcs["query"]["labelSelector"] == [
        f"ssh-workspace/gateway={MANAGED},ssh-workspace/workspace=alice"]
    [pvc_delete] = kube.api.calls("delete", "persistentvolumeclaims")
    assert json.loads(pvc_delete["body"])["preconditions"]["uid"] == pvc_uid
    assert sorted(json.loads(pvc_delete["body"])["preconditions"]) == ["resourceVersion", "uid"]
    # the rest goes with the StatefulSet, by the garbage collector
    gone = (("statefulsets", "ws-alice"), ("secrets", "ws-alice-keys"),
            ("secrets", "ws-alice-hostkey"), ("pods", "ws-alice-0"),
            ("persistentvolumeclaims", "home-ws-alice-0"))
    wait_for(lambda: all(kube.get(r, n) is None for r, n in gone), timeout=10)
    for resource, name in gone:
        assert kube.get(resource, name) is None, f"{resource}/{name} is still there"
    # never a Secret read or deleted by the backend; bob untouched
    assert not kube.api.calls(resource="secrets", verb="delete")
    assert not [r for r in kube.api.calls(resource="secrets") if r["verbs"][0] in ("get", "list")]
    assert kube.ok("status", "bob") == f"running 127.0.0.1 {SSH_PORT}\n"
    assert kube.get("persistentvolumeclaims", "home-ws-bob-0") is not None
    assert kube.get("persistentvolumeclaims", "home-other-alice") is not None
    assert kube.ok("status", "alice") == "missing\n"


def test_delete_finishes_a_half_done_delete(kube):
    kube.started_with_claims_of_its_own("alice")
    kube.api.fail("delete", "persistentvolumeclaims", 500, times=1)
    line = kube.refused("delete", "alice")
    assert "DELETE persistentvolumeclaims/home-ws-alice-0: 500" in line
    assert kube.sts("alice") is None
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0") is not None
    # again: the StatefulSet is gone (404 is fine), the home goes now
    kube.ok("delete", "alice")
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0") is None


def test_a_claim_already_collected_is_no_trouble(kube):
    for name in ("alice", "bob"):
        kube.create(name)
        kube.keys(name)
        kube.ok("start", name)
    # collected between the list and the DELETE: 404
    kube.api.before[("delete", "persistentvolumeclaims")] = \
        lambda: kube.api.store.remove("persistentvolumeclaims", "home-ws-alice-0")
    kube.ok("delete", "alice")
    assert [c["code"] for c in kube.api.calls("delete", "persistentvolumeclaims")] == [404]
    # collected before the list: nothing to delete
    kube.api.store.gc_delay = 0
    kube.ok("delete", "bob")
    assert kube.get("persistentvolumeclaims", "home-ws-bob-0") is None
    assert len(kube.api.calls("delete", "persistentvolumeclaims")) == 1


def test_list_shows_only_this_gateways_workspaces_page_by_page(kube):
    for name in ("alice", "bob", "carol"):
        kube.create(name)
    kube.keys("bob")
    kube.ok("start", "bob")
    kube.put_foreign("dave", {"app": "someone-else"})
    kube.put_foreign("erin", {"ssh-workspace/gateway": "another-gateway",
                              "ssh-workspace/workspace": "erin"})
    # ours by label, but the name does not fit the workspace label, or the
    # label is no workspace name
    kube.put_foreign("frank", {"ssh-workspace/gateway": MANAGED, "ssh-workspace/workspace": "gina"})
    kube.put_foreign("hal", {"ssh-workspace/gateway": MANAGED, "ssh-workspace/workspace": "Hal"})
    kube.api.page_size = 2
    out = kube.ok("list")
    assert sorted(out.splitlines()) == ["alice stopped", "bob running", "carol stopped"]
    lists = kube.api.calls("list", "statefulsets")
    assert len(lists) >= 3, "the pages after the first were not asked for"
    for call in lists:
        assert call["query"]["labelSelector"] == [f"ssh-workspace/gateway={MANAGED}"]
        assert call["query"]["limit"] == ["100"]
    assert "continue" not in lists[0]["query"]
    assert all("continue" in c["query"] for c in lists[1:])


def test_list_counts_a_started_pod_that_is_not_ready_as_running(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("CrashLoopBackOff", "back-off restarting")
    # a start gives up on it (and stops it again); one that was cut off may not
    sts = kube.sts("alice")
    kube.api.store.replace("statefulsets", dict(sts, spec=dict(sts["spec"], replicas=1)))
    assert wait_for(lambda: kube.get("pods", "ws-alice-0") is not None, timeout=10)
    assert kube.ok("list") == "alice running\n"
    assert kube.ok("status", "alice") == "stopped\n"


def test_a_crafted_pod_name_is_not_a_path(kube):
    # names are checked before they reach a URL
    line = kube.refused("status", "..%2F..%2Fsecrets")
    assert "not a workspace name" in line
    assert kube.api.requests == []
