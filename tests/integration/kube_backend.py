"""Shared by the tests of the gateway's Kubernetes backend
(test_gateway_kube*.py): the build's ws-gateway-kube run against the
stand-in API server (kube_standin.py), with a StatefulSet template like the
chart's, the gateway's state directory and the backend's environment.

Every call checks what no answer may hold (the token, key material) and
every test ends by checking the stand-in found nothing the real server
would refuse (`problems`); the (verb, group, resource) of every request
made goes into OBSERVED for the RBAC test."""
import base64
import copy
import json
import os
import secrets
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, unique
from kube_standin import StandIn

BACKEND = os.path.join(BUILD, "bin", "ws-gateway-kube")
MANAGED = "gw-test"
LABELS = ("app.kubernetes.io/managed-by", "ssh-workspace/gateway", "ssh-workspace/workspace")
OBSERVED = set()  # (verb, group, resource) of every test's requests

# A StatefulSet as the chart renders it for the backend: placeholders
# __OBJECT__ and __NAME__, the restricted Pod Security profile, the keys
# and host key Secrets, a claim `home`, the SSH port named `ssh`.  It also
# carries what the backend must overwrite (a namespace, a wrong workspace
# label, Helm's managed-by, three replicas, a uid and a resourceVersion).
INSTANCE = {"app.kubernetes.io/name": "ssh-workspace", "app.kubernetes.io/instance": "rel",
            "app.kubernetes.io/component": "workspace"}
TEMPLATE = {
    "apiVersion": "apps/v1", "kind": "StatefulSet",
    "metadata": {"name": "__OBJECT__", "namespace": "somewhere-else",
                 "uid": "0b6a7c2e-1111-4a4a-8a8a-000000000000", "resourceVersion": "12345",
                 "labels": dict(INSTANCE, **{"ssh-workspace/workspace": "not-this",
                                             "app.kubernetes.io/managed-by": "Helm"})},
    "spec": {
        "replicas": 3, "serviceName": "", "revisionHistoryLimit": 3,
        # the home goes with the StatefulSet, stays when it is scaled to 0
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "rel",
                                     "app.kubernetes.io/component": "workspace",
                                     "ssh-workspace/workspace": "__NAME__"}},
        "template": {
            "metadata": {"labels": dict(INSTANCE, **{"ssh-workspace/workspace": "__NAME__"})},
            "spec": {
                "automountServiceAccountToken": False, "enableServiceLinks": False,
                "hostname": "__NAME__",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                    "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "workspace", "image": "registry.example/ssh-workspace:0.1.0",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "ssh", "containerPort": 2022, "protocol": "TCP"}],
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "resources": {"limits": {"memory": "2Gi", "cpu": "2"},
                                  "requests": {"memory": "256Mi", "cpu": "100m"}},
                    "volumeMounts": [
                        {"name": "home", "mountPath": "/home/developer"},
                        {"name": "authorized-keys",
                         "mountPath": "/etc/ssh-workspace/authorized-keys", "readOnly": True},
                        {"name": "host-key", "mountPath": "/etc/ssh-workspace/host-key",
                         "readOnly": True},
                        {"name": "activity", "mountPath": "/var/lib/ws-activity"},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "run", "mountPath": "/run"}]}],
                "volumes": [
                    {"name": "authorized-keys", "secret": {
                        "secretName": "__OBJECT__-keys", "defaultMode": 0o444,
                        "items": [{"key": "authorized_keys", "path": "authorized_keys"}]}},
                    {"name": "host-key", "secret": {
                        "secretName": "__OBJECT__-hostkey", "defaultMode": 0o440,
                        "items": [{"key": "hostkey", "path": "hostkey"}]}},
                    {"name": "activity", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]}},
        "volumeClaimTemplates": [{
            "metadata": {"name": "home", "labels": {"ssh-workspace/gateway": MANAGED,
                                                    "ssh-workspace/workspace": "__NAME__"}},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "10Gi"}}}}]}}


def ssh_port(template):
    """The port named ssh of container workspace (2222 if none)."""
    for c in template["spec"]["template"]["spec"]["containers"]:
        if c["name"] == "workspace":
            for p in c.get("ports") or []:
                if p.get("name") == "ssh":
                    return p["containerPort"]
    return 2222


SSH_PORT = ssh_port(TEMPLATE)


def image_of(sts):
    return sts["spec"]["template"]["spec"]["containers"][0]["image"]


class Kube:
    def __init__(self, root):
        self.root = root
        os.makedirs(self.path("api"))
        self.api = StandIn(self.path("api"))
        self.state = self.path("state")
        os.makedirs(os.path.join(self.state, "keys"), mode=0o700)
        os.makedirs(os.path.join(self.state, "hostkeys"), mode=0o700)
        self.templates = self.path("templates")
        os.makedirs(self.templates)
        self.write_template(TEMPLATE)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KUBERNETES_", "WS_KUBE_")) and k.lower() not in
               ("https_proxy", "http_proxy", "all_proxy", "no_proxy")}
        self.env = dict(env, **self.api.env(), WS_KUBE_MANAGED=MANAGED,
                        WS_KUBE_TEMPLATE_DIR=self.templates, WS_KUBE_READY_TIMEOUT="20",
                        WS_GATEWAY_STATE=self.state)
        self.secrets = []  # what no output may show

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def write_template(self, template, owner="default"):
        with open(os.path.join(self.templates, owner + ".json"), "w") as f:
            json.dump(template, f, indent=1)

    def template(self, **changes):
        """TEMPLATE with the container's fields changed (image=..., etc.)."""
        t = copy.deepcopy(TEMPLATE)
        t["spec"]["template"]["spec"]["containers"][0].update(changes)
        return t

    def run(self, *args, timeout=60, env=None):
        """ws-gateway-kube ARGS: the CompletedProcess (text); its output never
        holds the token or key material."""
        r = subprocess.run([BACKEND, *args], env=dict(self.env, **(env or {})),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        for secret in [self.api.token, *self.secrets]:
            assert secret not in r.stdout + r.stderr, f"{args}: output shows a secret"
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"{args}: exit {r.returncode}: {r.stderr}"
        return r.stdout

    def refused(self, *args, **kw):
        """Runs a call that must fail: its first line of stderr (one line)."""
        r = self.run(*args, **kw)
        assert r.returncode != 0, f"{args} succeeded: {r.stdout}"
        lines = r.stderr.splitlines()
        assert lines and lines[0].strip(), f"{args}: no reason on stderr"
        return lines[0]

    def keys(self, name, text=None):
        """STATE/keys/NAME (what the gateway writes before a start)."""
        text = text or f"ssh-ed25519 {base64.b64encode(secrets.token_bytes(32)).decode()} " \
                       f"{unique(name)}\n"
        with open(os.path.join(self.state, "keys", name), "w") as f:
            f.write(text)
        self.secrets.append(text.split()[1])
        return text

    def create_files(self, name):
        """What the gateway has before `create NAME KEYS HOSTKEY`: the keys,
        the host key in STATE/hostkeys/NAME, and the two files to pass:
        (keys text, host key bytes, keys file, host key file)."""
        keys = self.keys(name)
        keys_file = self.path(f"create-keys-{name}")
        with open(keys_file, "w") as f:
            f.write(keys)
        hostkey = b"\0\0\0\x0bssh-ed25519" + secrets.token_bytes(96)
        hostkey_file = self.path(f"create-hostkey-{name}")
        for path in (hostkey_file, os.path.join(self.state, "hostkeys", name)):
            with open(path, "wb") as f:
                f.write(hostkey)
        self.secrets.append(base64.b64encode(hostkey).decode())
        return keys, hostkey, keys_file, hostkey_file

    def create(self, name):
        """`create NAME KEYS HOSTKEY` with fresh files: (keys text, host key bytes)."""
        keys, hostkey, keys_file, hostkey_file = self.create_files(name)
        self.ok("create", name, keys_file, hostkey_file)
        return keys, hostkey

    def started_with_claims_of_its_own(self, name):
        """NAME created and started from a template whose claims are not
        owned by the StatefulSet (no whenDeleted: Delete, or a cluster
        before persistentVolumeClaimRetentionPolicy): `delete` must remove
        them itself."""
        template = self.template()
        del template["spec"]["persistentVolumeClaimRetentionPolicy"]
        self.write_template(template)
        self.create(name)
        self.keys(name)
        self.ok("start", name)

    def get(self, resource, name):
        return self.api.store.get(resource, name)

    def sts(self, name):
        return self.get("statefulsets", "ws-" + name)

    def secret_data(self, name, key):
        obj = self.get("secrets", name)
        return base64.b64decode(obj["data"][key]) if obj else None

    def put_foreign(self, name, labels):
        """A StatefulSet ws-NAME (and its Secrets) made by someone else."""
        t = json.loads(json.dumps(TEMPLATE).replace("__OBJECT__", "ws-" + name)
                       .replace("__NAME__", name))
        t["metadata"] = {"name": "ws-" + name, "labels": labels}
        t["spec"]["replicas"] = 0
        sts = self.api.store.create("statefulsets", t)
        for suffix, key in (("keys", "authorized_keys"), ("hostkey", "hostkey")):
            self.api.store.create("secrets", {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": f"ws-{name}-{suffix}", "labels": labels},
                "data": {key: base64.b64encode(b"theirs").decode()}})
        return sts

    def snapshot(self):
        """Every object's (resource, name, resourceVersion)."""
        with self.api.store.cond:
            return sorted((r, n, o["metadata"]["resourceVersion"])
                          for (r, n), o in self.api.store.objects.items())

    def changes(self):
        """The requests that change something (create, patch, delete)."""
        return [(r["verbs"][0], r["resource"], r["name"]) for r in self.api.requests
                if r["verbs"] and r["verbs"][0] in ("create", "patch", "delete", "update")
                and r["resource"] != "pods/exec"]


@pytest.fixture
def kube():
    root = tempfile.mkdtemp(prefix="ws-kube-test-")
    k = Kube(root)
    yield k
    k.api.stop()
    OBSERVED.update(k.api.observed())
    problems = list(k.api.problems) + list(k.api.controller.errors)
    shutil.rmtree(root, ignore_errors=True)
    assert not problems, "the stand-in API server saw:\n" + "\n".join(problems)


def role_rules(requests):
    """Role rules ({apiGroups, resources, verbs}) that allow exactly these
    (verb, group, resource) requests: one rule per resource."""
    by_resource = {}
    for verb, group, resource in requests:
        by_resource.setdefault(("" if group == "core" else group, resource), set()).add(verb)
    return [{"apiGroups": [g], "resources": [r], "verbs": sorted(v)}
            for (g, r), v in sorted(by_resource.items())]
