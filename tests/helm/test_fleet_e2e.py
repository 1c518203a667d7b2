"""A fleet workspace as the gateway's backend would make it, run by `podman
kube play` (the image the test run built: WS_IMAGE): the StatefulSet
template of the rendered chart with __OBJECT__ and __NAME__ filled in, its
pod as StatefulSet pod OBJECT-0, its claim template as the claim
home-OBJECT-0, and the two Secrets the backend creates (OBJECT-keys with
authorized_keys, OBJECT-hostkey with hostkey).  A login with the user's key
checks the host key from that Secret, and a session leaves its activity
record in /var/lib/ws-activity, which the gateway's idle stop reads.

No API server, gateway or StatefulSet controller here (tests/helm/README
of the chart, "What has been shown"): this shows that the template's pod
runs as a workspace with the layout the backend gives it.  The podman
workarounds are test_e2e.py's (for_podman, and a hostPort on 127.0.0.1 on
the copy in place of the gateway's pod-address connection), and the Pod
copy has no checksum annotations (podman refuses their length); the host key
is an OpenSSH key, which the entrypoint converts like the Dropbear key the
gateway makes.
"""
import base64
import copy
import json
import os
import subprocess
import uuid

import pytest

from conftest import IMAGE, find, free_port, podman
from test_e2e import for_podman, image_ready, kube, logs, scratch, ssh, wait_login  # noqa: F401

pytestmark = [
    pytest.mark.skipif(os.environ.get("WS_IMAGE_TESTS", "1") == "0",
                       reason="WS_IMAGE_TESTS=0: no image, no podman tests"),
    pytest.mark.skipif(os.getuid() != 0, reason="podman kube play runs as root here"),
]


def workspace_objects(helm4, client_key, tmp_path, name, port):
    """The objects the backend and the StatefulSet controller would make
    for workspace NAME, and the host key's public line."""
    repo, tag = IMAGE.rsplit(":", 1)
    release = f"wsfleet{uuid.uuid4().hex[:6]}"
    objects = helm4.template({"fleet": {"enabled": True},
                              "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
                              "users": {name: {"keys": client_key[1]}}},
                             release=release, namespace="e2e", extra=["--skip-tests"])
    obj = "ws-" + name
    text = find(objects, "ConfigMap", "-kube-templates")["data"]["default.json"]
    sts = json.loads(text.replace("__OBJECT__", obj).replace("__NAME__", name))
    template = copy.deepcopy(sts["spec"]["template"])
    claim = sts["spec"]["volumeClaimTemplates"][0]
    claim_name = f"{claim['metadata']['name']}-{obj}-0"
    template["spec"]["volumes"].append({"name": "home",
                                        "persistentVolumeClaim": {"claimName": claim_name}})
    for port_spec in template["spec"]["containers"][0]["ports"]:
        if port_spec["name"] == "ssh":
            port_spec.update(hostPort=port, hostIP="127.0.0.1")
    # podman 4.3 refuses a Pod annotation value past 63 characters (a
    # checksum): the Pod copy goes without the checksums
    annotations = {k: v for k, v in template["metadata"]["annotations"].items()
                   if not k.startswith("checksum/")}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": obj + "-0", "labels": template["metadata"]["labels"],
                        "annotations": annotations},
           "spec": template["spec"]}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": claim_name, "labels": claim["metadata"]["labels"]},
           "spec": claim["spec"]}
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)],
                   check=True)
    secrets = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": obj + "-keys"},
         "data": {"authorized_keys": base64.b64encode(client_key[1].encode()).decode()}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": obj + "-hostkey"},
         "data": {"hostkey": base64.b64encode(key.read_bytes()).decode()}},
    ]
    hooks = find(objects, "ConfigMap", "-ssh-workspace-hooks")
    pub = " ".join((tmp_path / "hostkey.pub").read_text().split()[:2])
    return [hooks, *secrets, pvc, pod], pub


def test_a_fleet_workspace_pod_serves_its_user_and_records_activity(helm4, client_key, kube,
                                                                    tmp_path):
    port = free_port()
    user = "u" + uuid.uuid4().hex[:8]
    objects, pub = workspace_objects(helm4, client_key, tmp_path, user, port)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub}\n")
    kube.play(for_podman(objects))
    name, took = wait_login(kube, client_key, port, known, f"ws-{user}-0")
    print(f"login after {took:.1f}s")
    # a live session's record is in the activity directory, which is the
    # pod's in-memory emptyDir; the hook config names it
    r = ssh(client_key, port, known,
            "echo $USER; ls /var/lib/ws-activity; grep activity_dir /etc/ssh-workspace/hooks/hooks.conf; "
            "cat /var/lib/ws-activity/*.json")
    assert r.returncode == 0, r.stderr + logs(name)
    lines = r.stdout.splitlines()
    assert lines[0] == "developer", r.stdout
    assert any(line.endswith(".json") for line in lines[1:]), r.stdout
    assert "activity_dir = /var/lib/ws-activity" in lines, r.stdout
    assert '"last_activity_ms"' in r.stdout, r.stdout
    # the host key the client verified is the one of the Secret the
    # gateway made (StrictHostKeyChecking against it alone)
    log = logs(name)
    fp = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "hostkey.pub")],
                        capture_output=True, text=True, check=True).stdout.split()[1]
    assert f"host key {fp}" in log, log
    # a key that is not the user's is refused
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    r = ssh((str(other), ""), port, known, "true")
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
