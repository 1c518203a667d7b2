"""The Kubernetes backend (ws-gateway-kube) after things went wrong: a pod
that never got Ready, a create left half-done, a StatefulSet made again
under the same name, and the limits that keep each call within the time
the gateway gives it (kube_backend.py has what every test shares)."""
import json
import os
import time

from conftest import wait_for
from kube_backend import image_of, kube  # noqa: F401


def test_a_start_that_never_gets_ready_stops_it_again(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff", 'Back-off pulling image "nope:1"')
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "2"})
    assert line.startswith("pod ws-alice-0 not Ready after 2 s: ImagePullBackOff"), line
    assert line.endswith("; stopped it again"), line
    assert kube.sts("alice")["spec"]["replicas"] == 0
    patch = kube.api.calls("patch", "statefulsets")[-1]
    assert patch["code"] == 200
    assert kube.ok("list") == "alice stopped\n"


def test_a_start_replaces_the_template_of_a_pod_that_is_not_ready(kube):
    # left at 1 replica with a pod that does not start (as an older
    # backend did): the next start brings the template of now
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff", "Back-off pulling image")
    sts = kube.sts("alice")
    kube.api.store.replace("statefulsets", dict(sts, spec=dict(sts["spec"], replicas=1)))
    assert wait_for(lambda: kube.get("pods", "ws-alice-0") is not None, timeout=10)
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.1"))
    kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "1"})
    assert image_of(kube.sts("alice")) == "registry.example/ssh-workspace:0.9.1"


def test_a_start_without_a_pod_replaces_the_template_too(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.pod_delay = 3600
    sts = kube.sts("alice")
    kube.api.store.replace("statefulsets", dict(sts, spec=dict(sts["spec"], replicas=1)))
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.2"))
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "1"})
    assert "no pod" in line
    assert image_of(kube.sts("alice")) == "registry.example/ssh-workspace:0.9.2"


def test_a_start_of_a_ready_pod_leaves_its_template_alone(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.3"))
    before = time.monotonic()
    kube.ok("start", "alice")
    assert time.monotonic() - before < 10
    assert image_of(kube.sts("alice")) != "registry.example/ssh-workspace:0.9.3"


def test_secrets_of_a_statefulset_made_again_stay_with_the_new_one(kube):
    # deleted and made again before the garbage collector came: the
    # Secrets are the old StatefulSet's until the create takes them over
    kube.api.store.gc_delay = 3
    kube.create("alice")
    kube.ok("delete", "alice")
    keys, hostkey = kube.create("alice")
    uid = kube.sts("alice")["metadata"]["uid"]
    time.sleep(4)
    for secret in ("ws-alice-keys", "ws-alice-hostkey"):
        obj = kube.get("secrets", secret)
        assert obj is not None, f"{secret} was collected"
        assert [r["uid"] for r in obj["metadata"]["ownerReferences"]] == [uid]
    assert kube.secret_data("ws-alice-hostkey", "hostkey") == hostkey
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == keys.encode()


def test_a_start_moves_a_keys_secret_left_by_an_old_statefulset(kube):
    kube.api.store.gc_delay = 1.5
    kube.create("alice")
    old = kube.sts("alice")
    kube.api.store.remove("statefulsets", "ws-alice")
    # made again (by an earlier create of this gateway) without its Secrets
    new = dict(old, metadata={k: v for k, v in old["metadata"].items()
                              if k not in ("uid", "resourceVersion", "creationTimestamp")})
    kube.api.store.create("statefulsets", new)
    kube.ok("start", "alice")
    time.sleep(2)
    uid = kube.sts("alice")["metadata"]["uid"]
    for secret in ("ws-alice-keys", "ws-alice-hostkey"):
        obj = kube.get("secrets", secret)
        assert obj is not None and obj["metadata"]["ownerReferences"][0]["uid"] == uid


def test_a_start_after_a_half_done_create_makes_the_host_key_secret(kube):
    keys, hostkey, keys_file, hostkey_file = kube.create_files("alice")
    kube.api.fail("create", "secrets", 403, times=1)
    line = kube.refused("create", "alice", keys_file, hostkey_file)
    assert "403" in line
    assert kube.get("secrets", "ws-alice-hostkey") is None
    assert kube.ok("status", "alice") == "stopped\n"
    kube.ok("start", "alice")
    secret = kube.get("secrets", "ws-alice-hostkey")
    assert kube.secret_data("ws-alice-hostkey", "hostkey") == hostkey
    assert secret["metadata"]["ownerReferences"][0]["uid"] == kube.sts("alice")["metadata"]["uid"]
    assert secret["metadata"]["labels"]["ssh-workspace/gateway"] == "gw-test"


def test_a_start_without_the_host_key_in_the_state_is_refused(kube):
    kube.create("alice")
    os.unlink(os.path.join(kube.state, "hostkeys", "alice"))
    line = kube.refused("start", "alice")
    assert line == "no host key for workspace 'alice' in the gateway's state"
    assert kube.changes() == [("create", "statefulsets", None), ("create", "secrets", None),
                              ("create", "secrets", None)]


def test_a_token_too_short_to_be_a_service_account_token_is_refused(kube):
    kube.api.set_token("*")
    line = kube.refused("status", "alice")
    assert line.endswith(f": the token in {kube.api.token_file} is too short to be a "
                         "ServiceAccount token"), line
    assert kube.api.requests == []


def test_a_list_of_statefulsets_with_managed_fields_stays_under_the_answer_cap(kube):
    # a real StatefulSet carries 8 to 11 KB of managedFields: 450 of them
    # in one page would pass the 4 MiB cap
    kube.create("alice")
    sts = kube.sts("alice")
    fields = [{"manager": "ws-gateway-kube", "operation": "Update", "apiVersion": "apps/v1",
               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}},
               "padding": "p" * 10000}]
    for i in range(450):
        name = f"u{i:03d}"
        obj = json.loads(json.dumps(sts).replace("ws-alice", "ws-" + name)
                         .replace('"alice"', json.dumps(name)))
        obj["metadata"] = {"name": "ws-" + name, "labels": dict(
            sts["metadata"]["labels"], **{"ssh-workspace/workspace": name}),
            "managedFields": fields}
        kube.api.store.create("statefulsets", obj)
    out = kube.ok("list")
    assert len(out.splitlines()) == 451
    for call in kube.api.calls("list", "statefulsets"):
        assert int(call["query"]["limit"][0]) <= 100


def test_status_and_activity_refuse_a_pod_that_is_not_this_gateways(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.ok("activity", "alice") == "0\n"
    pod = kube.get("pods", "ws-alice-0")
    labels = dict(pod["metadata"]["labels"], **{"ssh-workspace/gateway": "another"})
    other_owner = [dict(pod["metadata"]["ownerReferences"][0],
                        uid="7d1c9a52-0000-4000-8000-000000000001")]
    for meta in (dict(pod["metadata"], labels=labels),
                 dict(pod["metadata"], ownerReferences=other_owner),
                 {k: v for k, v in pod["metadata"].items() if k != "ownerReferences"}):
        kube.api.store.replace("pods", dict(pod, metadata=meta))
        kube.api.requests.clear()
        for verb in ("status", "activity"):
            assert kube.refused(verb, "alice") == "pod ws-alice-0 is not this gateway's", verb
        assert kube.api.calls("create", "pods/exec") == []
    kube.api.store.replace("pods", dict(pod, metadata=pod["metadata"]))
    assert kube.ok("status", "alice").startswith("running ")


def test_an_api_behind_a_path_serves_the_exec_too(kube):
    kube.api.path_prefix = "/k8s/clusters/c-4x7"
    kube.env["WS_KUBE_API"] = kube.api.url + kube.api.path_prefix
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    assert kube.ok("activity", "alice") == "0\n"
    execs = kube.api.calls("create", "pods/exec")
    assert [e["path"] for e in execs] == ["/k8s/clusters/c-4x7/api/v1/namespaces/ws-test/"
                                          "pods/ws-alice-0/exec"]


def test_an_exec_answered_404_for_a_pod_that_is_there_says_what_the_server_said(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    kube.api.fail("create", "pods/exec", 404, message="the server could not find the "
                  "requested resource")
    line = kube.refused("activity", "alice")
    assert line == "GET pods/ws-alice-0/exec: 404 Not Found: the server could not find " \
                   "the requested resource", line


def test_an_exec_cut_before_its_status_is_a_failure(kube):
    # the output so far may be one record of many: no answer, rather than
    # an old activity that would stop a workspace in use
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    with open(os.path.join(kube.api.activity_dir("ws-alice-0"), "s.json"), "w") as f:
        json.dump({"session": "s", "last_activity_ms": 1000}, f)
    assert kube.ok("activity", "alice") == "1000\n"
    kube.api.exec_faults.append("cut")
    line = kube.refused("activity", "alice")
    assert line == "exec in pod ws-alice-0: the exec ended without a status", line
    assert kube.api.calls("create", "pods/exec")[-1]["fault"] == "cut"


def stall(seconds):
    return lambda: time.sleep(seconds)


def test_a_status_ends_within_its_time_however_slow_the_api_is(kube):
    # two answers of 15 s each: each within its own 20 s, not within the
    # 25 s a call has before the gateway kills it at 30 s
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    kube.api.before[("get", "statefulsets")] = stall(14)
    kube.api.before[("get", "pods")] = stall(14)
    started = time.monotonic()
    line = kube.refused("status", "alice")
    took = time.monotonic() - started
    assert 24 <= took < 27, took
    assert line.startswith("GET pods/ws-alice-0: "), line


def test_a_start_that_times_out_says_why_even_when_the_last_look_is_slow(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff", 'Back-off pulling image "nope:2"')

    def slow_last_look():  # the GET after the watch, when the wait is over
        kube.api.before[("get", "pods")] = stall(15)
    kube.api.before[("watch", "pods")] = slow_last_look
    started = time.monotonic()
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "3"})
    took = time.monotonic() - started
    assert line.startswith("pod ws-alice-0 not Ready after 3 s: ImagePullBackOff"), line
    assert line.endswith("; stopped it again"), line
    assert took < 13, took
    assert kube.sts("alice")["spec"]["replicas"] == 0


def relabel(kube, resource, name, labels):
    obj = kube.get(resource, name)
    obj["metadata"]["labels"] = labels
    return kube.api.store.replace(resource, obj)


def test_a_statefulset_relabelled_between_get_and_delete_is_not_deleted(kube):
    # the resourceVersion precondition: deleted only as it was when its
    # label was checked
    kube.create("alice")
    kube.api.before[("delete", "statefulsets")] = lambda: relabel(
        kube, "statefulsets", "ws-alice", {"app": "theirs"})
    line = kube.refused("delete", "alice")
    assert line.startswith("DELETE statefulsets/ws-alice: 409"), line
    assert "ResourceVersion" in line
    assert kube.sts("alice")["metadata"]["labels"] == {"app": "theirs"}
    delete = kube.api.calls("delete", "statefulsets")[0]
    assert json.loads(delete["body"])["preconditions"]["resourceVersion"]


def test_a_statefulset_changed_but_still_ours_is_deleted_on_a_second_try(kube):
    kube.create("alice")

    def touch():
        sts = kube.sts("alice")
        sts["metadata"].setdefault("annotations", {})["touched"] = "yes"
        kube.api.store.replace("statefulsets", sts)
    kube.api.before[("delete", "statefulsets")] = touch
    kube.ok("delete", "alice")
    assert kube.sts("alice") is None
    assert [c["code"] for c in kube.api.calls("delete", "statefulsets")] == [409, 200]


def test_a_claim_relabelled_between_list_and_delete_is_not_deleted(kube):
    kube.started_with_claims_of_its_own("alice")
    kube.api.before[("delete", "persistentvolumeclaims")] = lambda: relabel(
        kube, "persistentvolumeclaims", "home-ws-alice-0", {"app": "theirs"})
    kube.ok("delete", "alice")
    assert kube.get("persistentvolumeclaims", "home-ws-alice-0")["metadata"]["labels"] == \
        {"app": "theirs"}
    assert [c["code"] for c in kube.api.calls("delete", "persistentvolumeclaims")] == [409]


def test_a_refused_secret_is_named(kube):
    keys, hostkey, keys_file, hostkey_file = kube.create_files("alice")
    kube.api.fail("create", "secrets", 403)
    line = kube.refused("create", "alice", keys_file, hostkey_file)
    assert line.startswith("POST secrets/ws-alice-keys: 403 Forbidden: "), line


def test_a_host_key_secret_of_someone_else_is_named_as_such(kube):
    kube.create("alice")
    relabel(kube, "secrets", "ws-alice-hostkey", {"app": "theirs"})
    line = kube.refused("start", "alice")
    assert line == "Secret ws-alice-hostkey exists and is not managed by this gateway", line
    assert kube.get("secrets", "ws-alice-hostkey")["metadata"]["labels"] == {"app": "theirs"}


def test_a_start_before_the_pod_exists_watches_without_a_list(kube):
    # no pod yet: a watch without a resourceVersion begins with the pod if
    # it is there by then (ADDED), so no list of pods is needed (nor granted)
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.pod_delay = 1

    def ready_before_the_watch():
        wait_for(lambda: kube.get("pods", "ws-alice-0") and
                 kube.get("pods", "ws-alice-0")["status"].get("podIP"), timeout=10)
    kube.api.before[("watch", "pods")] = ready_before_the_watch
    kube.ok("start", "alice")
    assert kube.api.calls("list", "pods") == []
    # the first watch saw the pod Ready: no second look after it ran out
    [get, watch] = [r for r in kube.api.requests if r["resource"] == "pods"]
    assert get["code"] == 404 and "resourceVersion" not in watch["query"]


def test_a_start_never_takes_a_pod_of_that_name_that_is_not_its_statefulsets(kube):
    # someone else's Ready pod named ws-alice-0, there before the
    # StatefulSet's own could be made: the jump must not be handed to it
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.pod_delay = 3600
    kube.env["WS_KUBE_READY_TIMEOUT"] = "3"
    kube.api.store.create("pods", {
        "metadata": {"name": "ws-alice-0", "labels": kube.sts("alice")["spec"]["template"]
                     ["metadata"]["labels"]},
        "spec": {"containers": [{"name": "workspace", "image": "theirs"}]},
        "status": {"phase": "Running", "podIP": "127.0.0.9",
                   "conditions": [{"type": "Ready", "status": "True"}]}})
    line = kube.refused("start", "alice")
    assert line.startswith("pod ws-alice-0 not Ready after 3 s"), line
    assert line.endswith("; stopped it again"), line
    assert kube.sts("alice")["spec"]["replicas"] == 0
