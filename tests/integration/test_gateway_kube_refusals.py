"""ws-gateway-kube's refusals against the stand-in API server: objects that
are not this gateway's, API errors (one line naming the request, never the
token), a half-done create, a rotating token, and inputs it must refuse
before any request."""
import os
import shutil

from conftest import wait_for
from kube_backend import MANAGED, SSH_PORT, kube  # noqa: F401 (fixture)
from kube_standin import make_certs

NOT_OURS = "StatefulSet ws-alice exists and is not managed by this gateway"


def test_a_statefulset_of_someone_else_is_never_changed(kube):
    for labels in ({"app": "theirs"},
                   {"ssh-workspace/gateway": "another-gateway",
                    "ssh-workspace/workspace": "alice"}):
        for resource, name in (("statefulsets", "ws-alice"), ("secrets", "ws-alice-keys"),
                               ("secrets", "ws-alice-hostkey")):
            kube.api.store.remove(resource, name)
        kube.put_foreign("alice", labels)
        before = kube.snapshot()
        kube.api.requests.clear()
        keys_file = kube.path("keys")
        with open(keys_file, "w") as f:
            f.write(kube.keys("alice"))
        assert kube.refused("create", "alice", keys_file, keys_file) == NOT_OURS
        for verb in ("start", "stop", "delete", "status"):
            assert kube.refused(verb, "alice") == NOT_OURS, verb
        assert kube.snapshot() == before
        assert kube.changes() == [("create", "statefulsets", None)]  # the 409 of create
        assert kube.ok("list") == ""


def test_a_relabelled_statefulset_is_protected_by_the_patch_test(kube):
    # between the backend's GET and its PATCH someone else takes the object
    # over: the API server refuses the PATCH (its first op tests the label)
    kube.create("alice")
    kube.keys("alice")

    def take_over():
        sts = kube.sts("alice")
        sts["metadata"]["labels"]["ssh-workspace/gateway"] = "another-gateway"
        kube.api.store.replace("statefulsets", sts)
    kube.api.before[("patch", "statefulsets")] = take_over
    assert kube.refused("start", "alice") == NOT_OURS
    assert [c["code"] for c in kube.api.calls("patch", "statefulsets")] == [422]
    sts = kube.sts("alice")
    assert sts["spec"]["replicas"] == 0
    assert sts["metadata"]["labels"]["ssh-workspace/gateway"] == "another-gateway"


def replace_object(kube, resource, name, labels=None):
    """The object deleted and made again under the same name (a new uid)."""
    obj = kube.get(resource, name)
    kube.api.store.gc_delay = 30  # its dependents stay for the test
    kube.api.store.remove(resource, name)
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "namespace"):
        obj["metadata"].pop(key, None)
    if labels is not None:
        obj["metadata"]["labels"] = labels
    obj.pop("status", None)
    return kube.api.store.create(resource, obj)


def test_a_statefulset_made_again_between_get_and_delete_is_not_deleted(kube):
    # the uid precondition: the DELETE is for the object the backend looked at
    kube.create("alice")
    made = {}
    kube.api.before[("delete", "statefulsets")] = lambda: made.update(
        replace_object(kube, "statefulsets", "ws-alice", {"app": "theirs"}))
    line = kube.refused("delete", "alice")
    assert line.startswith("DELETE statefulsets/ws-alice: 409"), line
    assert kube.sts("alice")["metadata"]["uid"] == made["metadata"]["uid"]
    assert not kube.api.calls("delete", "persistentvolumeclaims")


def test_a_claim_made_again_between_list_and_delete_is_not_deleted(kube):
    kube.started_with_claims_of_its_own("alice")
    made = {}
    kube.api.before[("delete", "persistentvolumeclaims")] = lambda: made.update(
        replace_object(kube, "persistentvolumeclaims", "home-ws-alice-0"))
    line = kube.refused("delete", "alice")
    assert line.startswith("DELETE persistentvolumeclaims/home-ws-alice-0: 409"), line
    pvc = kube.get("persistentvolumeclaims", "home-ws-alice-0")
    assert pvc["metadata"]["uid"] == made["metadata"]["uid"]


def test_403_is_one_line_naming_the_request_and_never_the_token(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.fail("patch", "statefulsets", 403)
    r = kube.run("start", "alice")
    assert r.returncode != 0
    assert len(r.stderr.splitlines()) == 1, r.stderr
    line = r.stderr.strip()
    assert line.startswith("PATCH statefulsets/ws-alice: 403 Forbidden: "), line
    assert 'statefulsets.apps "ws-alice" is forbidden' in line
    assert len(line) < 400
    assert kube.api.token not in r.stderr  # also checked by every run
    assert kube.sts("alice")["spec"]["replicas"] == 0


def test_a_long_status_message_is_cut(kube):
    kube.api.fail("get", "statefulsets", 500, message="x" * 5000)
    line = kube.refused("status", "alice")
    assert line.startswith("GET statefulsets/ws-alice: 500"), line
    assert "x" * 200 in line and "x" * 201 not in line


def test_errors_of_each_verb_name_the_request(kube):
    kube.api.fail("create", "statefulsets", 403)
    keys_file = kube.path("keys")
    with open(keys_file, "w") as f:
        f.write(kube.keys("alice"))
    assert kube.refused("create", "alice", keys_file, keys_file).startswith(
        "POST statefulsets: 403")
    kube.api.failures.clear()
    kube.api.fail("list", "statefulsets", 500)
    assert kube.refused("list").startswith("GET statefulsets: 500")
    kube.api.fail("get", "statefulsets", 404)
    assert kube.refused("start", "alice") == "no workspace 'alice'"
    assert kube.refused("stop", "alice") == "no workspace 'alice'"
    assert kube.ok("status", "alice") == "missing\n"


def test_create_finishes_a_half_done_create(kube):
    kube.api.fail("create", "secrets", 500, times=1)
    keys_file = kube.path("keys")
    keys = kube.keys("alice")
    with open(keys_file, "w") as f:
        f.write(keys)
    hostkey_file = kube.path("hostkey")
    with open(hostkey_file, "wb") as f:
        f.write(b"hostkey-bytes")
    assert kube.refused("create", "alice", keys_file, hostkey_file).startswith(
        "POST secrets/ws-alice-keys: 500")
    assert kube.sts("alice") is not None
    uid = kube.sts("alice")["metadata"]["uid"]
    # again: the StatefulSet's 409 is ours, so it goes on; a Secret that is
    # there already (409) is patched to the file's contents
    kube.api.store.create("secrets", {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ws-alice-keys", "labels": {
            "app.kubernetes.io/managed-by": "ws-gateway", "ssh-workspace/gateway": MANAGED,
            "ssh-workspace/workspace": "alice"}},
        "data": {"authorized_keys": "b2xk"}})
    kube.ok("create", "alice", keys_file, hostkey_file)
    assert kube.sts("alice")["metadata"]["uid"] == uid
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == keys.encode()
    assert kube.secret_data("ws-alice-hostkey", "hostkey") == b"hostkey-bytes"
    assert ("patch", "secrets", "ws-alice-keys") in kube.changes()


def test_a_secret_of_someone_else_is_not_overwritten(kube):
    kube.api.store.create("secrets", {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ws-alice-keys", "labels": {"app": "theirs"}},
        "data": {"authorized_keys": "dGhlaXJz"}})
    keys_file = kube.path("keys")
    with open(keys_file, "w") as f:
        f.write(kube.keys("alice"))
    line = kube.refused("create", "alice", keys_file, keys_file)
    assert line == "Secret ws-alice-keys exists and is not managed by this gateway", line
    assert kube.secret_data("ws-alice-keys", "authorized_keys") == b"theirs"


def test_a_rotated_token_is_read_at_the_next_call(kube):
    kube.create("alice")
    kube.api.set_token("second-" + os.urandom(16).hex())
    assert kube.ok("status", "alice") == "stopped\n"
    assert not [r for r in kube.api.requests if r["code"] == 401]


def test_a_token_rotated_during_a_start_is_picked_up(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.ready_delay = 3
    # when the first watch begins, the token changes and that watch ends:
    # the requests after it must carry the new one
    new = "rotated-" + os.urandom(16).hex()
    kube.api.before[("watch", "pods")] = lambda: kube.api.set_token(new)
    kube.api.watch_faults.append("end")
    kube.ok("start", "alice")
    first_watch = kube.api.calls("watch", "pods")[0]
    later = [r for r in kube.api.requests if r["time"] > first_watch["time"]]
    assert later, "no request after the token changed"
    # read again for each request: not even one refused with the old token
    assert [r["code"] for r in later if r["code"] == 401] == []
    assert kube.ok("status", "alice") == f"running 127.0.0.1 {SSH_PORT}\n"


def test_a_401_is_retried_once_with_the_token_read_again(kube):
    kube.create("alice")
    # the token the backend sends is refused once: it reads the file
    # again and retries that request
    kube.api.fail("get", "statefulsets", 401, times=1)
    assert kube.ok("status", "alice") == "stopped\n"
    assert [r["code"] for r in kube.api.calls("get", "statefulsets")] == [401, 200]
    kube.api.fail("get", "statefulsets", 401, times=2)
    line = kube.refused("status", "alice")
    assert line.startswith("GET statefulsets/ws-alice: 401"), line


def test_names_are_checked_before_any_request(kube):
    long_name = "a" * 50
    line = kube.refused("status", long_name)
    assert line == (f"workspace name '{long_name}' is too long for Kubernetes "
                    "(at most 49 characters with the prefix 'ws-')")
    assert kube.refused("status", "a" * 49 + "b", env={"WS_KUBE_PREFIX": "workspace-"}) == (
        f"workspace name '{'a' * 49}b' is too long for Kubernetes "
        "(at most 42 characters with the prefix 'workspace-')")
    for bad in ("Alice", "-alice", "alice-", "al_ice", "", "a" * 64, "../x"):
        kube.refused("status", bad)
        kube.refused("start", bad)
    assert kube.api.requests == []
    # 49 characters fit
    assert kube.ok("status", "a" * 49) == "missing\n"


def test_start_needs_the_keys_file(kube):
    kube.create("alice")
    kube.api.requests.clear()
    keys = os.path.join(kube.state, "keys", "alice")
    msg = "no keys for workspace 'alice' in the gateway's state"
    os.unlink(keys)
    assert kube.refused("start", "alice") == msg
    open(keys, "w").close()
    assert kube.refused("start", "alice") == msg
    os.unlink(keys)
    target = kube.path("elsewhere")
    with open(target, "w") as f:
        f.write(kube.keys("bob"))
    os.symlink(target, keys)
    assert kube.refused("start", "alice") == msg
    assert kube.changes() == []


def test_the_environment_is_checked(kube):
    kube.create("alice")
    kube.api.requests.clear()
    plain = kube.api.url.replace("https://", "http://")
    assert "https" in kube.refused("status", "alice", env={"WS_KUBE_API": plain})
    kube.refused("status", "alice", env={"WS_KUBE_CA_FILE": kube.path("no-such-ca.crt")})
    kube.refused("status", "alice", env={"WS_KUBE_NAMESPACE": "Not_A_Label"})
    kube.refused("status", "alice", env={"WS_KUBE_MANAGED": ""})
    for bad in ("-bad", "a" * 64, "two words", "a/b"):
        kube.refused("status", "alice", env={"WS_KUBE_MANAGED": bad})
    kube.refused("status", "alice", env={"WS_KUBE_TOKEN_FILE": kube.path("no-such-token")})
    assert kube.api.requests == []
    # a server whose certificate another CA signed is not trusted
    other = kube.path("other-ca")
    os.makedirs(other)
    other_ca = make_certs(other)[0]
    failures = kube.api.tls_failures
    kube.refused("status", "alice", env={"WS_KUBE_CA_FILE": other_ca})
    # the stand-in counts the refused handshake in its own thread, maybe
    # after the backend has already said why and exited
    assert wait_for(lambda: kube.api.tls_failures > failures, 10)
    assert kube.api.requests == []


def test_a_redirect_is_not_followed(kube):
    elsewhere = kube.api.url + "/api/v1/namespaces/ws-test/secrets/ws-bob-keys"
    kube.api.fail("get", "statefulsets", 302, location=elsewhere)
    kube.refused("status", "alice")
    assert [r["path"] for r in kube.api.requests] == [
        "/apis/apps/v1/namespaces/ws-test/statefulsets/ws-alice"]


def test_an_answer_past_4_mib_is_refused(kube):
    kube.api.fail("list", "statefulsets", 500, message="y" * (5 << 20))
    r = kube.run("list", timeout=30)
    assert r.returncode != 0
    assert len(r.stderr) < 1000 and r.stdout == ""


def test_another_prefix(kube):
    prefix = {"WS_KUBE_PREFIX": "workspace-"}
    kube.env.update(prefix)
    kube.create("alice")
    assert kube.get("statefulsets", "workspace-alice") is not None
    assert kube.secret_data("workspace-alice-keys", "authorized_keys") is not None
    assert kube.get("secrets", "workspace-alice-hostkey") is not None
    kube.ok("start", "alice")
    assert kube.get("pods", "workspace-alice-0") is not None
    assert kube.ok("list") == "alice running\n"
    # under the default prefix, that StatefulSet is no workspace of ours
    del kube.env["WS_KUBE_PREFIX"]
    assert kube.ok("list") == ""
    assert kube.ok("status", "alice") == "missing\n"


def test_no_proxy_from_the_environment(kube):
    # a proxy that does not exist: the API is reached directly all the same
    proxy = {v: "http://127.0.0.1:9" for v in ("https_proxy", "HTTPS_PROXY", "ALL_PROXY")}
    assert kube.ok("status", "alice", env=proxy) == "missing\n"


def test_the_api_address_from_the_service_variables(kube):
    env = {k: v for k, v in kube.env.items() if k != "WS_KUBE_API"}
    env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(kube.api.port))
    saved, kube.env = kube.env, env
    try:
        assert kube.ok("status", "alice") == "missing\n"
    finally:
        kube.env = saved
    assert kube.api.calls("get", "statefulsets", "ws-alice")


def test_no_template_no_create(kube):
    shutil.rmtree(kube.templates)
    os.makedirs(kube.templates)
    keys_file = kube.path("keys")
    with open(keys_file, "w") as f:
        f.write(kube.keys("alice"))
    kube.refused("create", "alice", keys_file, keys_file)
    with open(os.path.join(kube.templates, "default.json"), "w") as f:
        f.write("{not json")
    kube.refused("create", "alice", keys_file, keys_file)
    assert kube.api.requests == []
