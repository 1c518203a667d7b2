"""The "restricted" checker (restricted.py) passes the chart's renders and
catches each deliberate violation: made by editing a default render, and
made through values (extraVolumes, hostPort, annotations)."""
import copy

import pytest

import restricted
from conftest import find


@pytest.fixture(scope="module")
def default(helm4, client_key):
    return helm4.template({"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}}})


def deployment_pod(objects):
    return find(objects, "Deployment")["spec"]["template"]["spec"]


def first_container(objects):
    return deployment_pod(objects)["containers"][0]


def test_default_render_is_restricted(default):
    assert restricted.problems(default) == []
    # the checker saw the workload and the helm test pod
    assert {o["kind"] for o in default} >= {"Deployment", "Pod"}


def _set(path, value):
    def edit(objects):
        obj = path(objects)
        key = list(value)[0]
        obj[key] = value[key]
    return edit


def _delete(path, key):
    def edit(objects):
        path(objects).pop(key)
    return edit


def _add_init_root(objects):
    deployment_pod(objects)["initContainers"] = [{
        "name": "fix-perms", "image": "busybox", "command": ["chown", "-R", "1000", "/home"],
        "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}}]


def _add_hook_job(objects):
    objects.append({"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": "keygen", "annotations": {"helm.sh/hook": "pre-install"}},
                    "spec": {"template": {"spec": copy.deepcopy(deployment_pod(objects))}}})


def _add_secret_rbac(objects):
    objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": "keygen"},
                    "rules": [{"apiGroups": [""], "resources": ["secrets"],
                               "verbs": ["get", "create"]}]})


def _no_run_as_non_root(objects):
    # set on the pod and on the container: both must go
    deployment_pod(objects)["securityContext"].pop("runAsNonRoot")
    first_container(objects)["securityContext"].pop("runAsNonRoot")


def _test_pod(objects):
    return find(objects, "Pod")["spec"]["containers"][0]["securityContext"]


BAD = {
    "privileged": (_set(lambda o: first_container(o)["securityContext"], {"privileged": True}),
                   "container workspace: privileged"),
    "escalation": (_set(lambda o: first_container(o)["securityContext"],
                        {"allowPrivilegeEscalation": True}),
                   "container workspace: allowPrivilegeEscalation is not false"),
    "no-drop-all": (_delete(lambda o: first_container(o)["securityContext"], "capabilities"),
                    "container workspace: capabilities.drop does not include ALL"),
    "add-cap": (_set(lambda o: first_container(o)["securityContext"]["capabilities"],
                     {"add": ["SYS_ADMIN"]}),
                "container workspace: capabilities.add SYS_ADMIN"),
    "writable-rootfs": (_set(lambda o: first_container(o)["securityContext"],
                             {"readOnlyRootFilesystem": False}),
                        "container workspace: readOnlyRootFilesystem is not true"),
    "root-uid": (_set(lambda o: deployment_pod(o)["securityContext"], {"runAsUser": 0}),
                 "pod runAsUser is 0"),
    "no-run-as-non-root": (_no_run_as_non_root, "container workspace: runAsNonRoot is not true"),
    "no-seccomp": (_delete(lambda o: deployment_pod(o)["securityContext"], "seccompProfile"),
                   "container workspace: seccompProfile is not set"),
    "unconfined": (_set(lambda o: deployment_pod(o)["securityContext"],
                        {"seccompProfile": {"type": "Unconfined"}}),
                   "pod seccompProfile is Unconfined"),
    "host-path": (lambda o: deployment_pod(o)["volumes"].append(
                      {"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}),
                  "volume docker is of type hostPath"),
    "host-network": (_set(deployment_pod, {"hostNetwork": True}), "hostNetwork is true"),
    "proc-mount": (_set(lambda o: first_container(o)["securityContext"],
                        {"procMount": "Unmasked"}),
                   "container workspace: procMount Unmasked"),
    "root-init-container": (_add_init_root,
                            "init container fix-perms: runs as uid 0"),
    "hook-job": (_add_hook_job, "Job/keygen: a Helm hook (pre-install) that is a Job"),
    "secret-rbac": (_add_secret_rbac, "Role/keygen: RBAC rule on secrets (create, get)"),
    "test-pod-escalation": (_set(_test_pod, {"allowPrivilegeEscalation": True}),
                            "Pod/ws-ssh-workspace-test-ssh: container ssh-check: "
                            "allowPrivilegeEscalation is not false"),
}


@pytest.mark.parametrize("case", BAD)
def test_checker_catches(default, case):
    edit, message = BAD[case]
    objects = copy.deepcopy(default)
    edit(objects)
    found = restricted.problems(objects)
    assert any(message in p for p in found), found


@pytest.mark.parametrize("values,message", [
    ({"extraVolumes": [{"name": "sock", "hostPath": {"path": "/run/containerd"}}],
      "extraVolumeMounts": [{"name": "sock", "mountPath": "/x"}]},
     "volume sock is of type hostPath"),
    ({"hostPort": {"enabled": True, "port": 2222}},
     "container workspace: hostPort 2222 (not allowed by baseline)"),
    ({"podAnnotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}},
     "annotation seccomp.security.alpha.kubernetes.io/pod: unconfined"),
], ids=["extra-host-path", "host-port", "unconfined-annotation"])
def test_checker_catches_values_that_leave_restricted(helm4, client_key, values, message):
    objects = helm4.template({"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}}, **values})
    found = restricted.problems(objects)
    assert any(message in p for p in found), found


def test_assigned_ids_still_refuse_root(default):
    """ids_assigned (podSecurityContext.omitIds) lets runAsUser be unset,
    as the Pod Security Standards do, but not 0 and not without
    runAsNonRoot."""
    objects = copy.deepcopy(default)
    del deployment_pod(objects)["securityContext"]["runAsUser"]
    assert restricted.problems(objects, ids_assigned=True) == []
    assert any("runAsUser must be set" in p for p in restricted.problems(objects))
    deployment_pod(objects)["securityContext"]["runAsNonRoot"] = False
    del first_container(objects)["securityContext"]["runAsNonRoot"]
    assert any("runAsNonRoot is not true" in p
               for p in restricted.problems(objects, ids_assigned=True))
    objects = copy.deepcopy(default)
    deployment_pod(objects)["securityContext"]["runAsUser"] = 0
    assert any("pod runAsUser is 0" in p for p in restricted.problems(objects, ids_assigned=True))
