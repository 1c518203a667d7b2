"""Fleet mode (fleet.enabled): a gateway and, per user, a StatefulSet
template the gateway's Kubernetes backend creates workspaces from.  Renders
with helm v4 and v3; every object and every template (placeholders filled
in) passes the Kubernetes schemas and the "restricted" checker; the release
holds no StatefulSet and nothing that scales one; the Role is exactly the
backend's requests; the NetworkPolicies, the gateway's config and the
NOTES are what the README says."""
import base64
import copy
import json
import os
import subprocess

import pytest

import restricted
from conftest import HELMS, REPO, Helm, find, validate_k8s

# The backend (make builds it; make helm-check and make check build first):
# `requests` prints the requests it can make, VERB GROUP RESOURCE, from the
# table its API code builds them from.  The Role must grant exactly those.
KUBE_BACKEND = os.path.join(os.path.realpath(os.environ.get("WS_BUILD", os.path.join(REPO, "build"))),
                            "bin", "ws-gateway-kube")


@pytest.fixture(scope="module")
def users(client_key):
    return {"alice": {"keys": client_key[1]},
            "bob": {"keys": "# bob's laptop\n" + client_key[1], "homeSize": "50Gi",
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                  "limits": {"memory": "8Gi"}},
                    "mayCreate": "on", "maxWorkspaces": 3}}


def fleet(users, extra=None):
    values = {"fleet": {"enabled": True}, "gateway": {"host": "gw.example.com"},
              "users": copy.deepcopy(users)}
    for k, v in (extra or {}).items():
        values[k] = {**values[k], **v} if isinstance(v, dict) and k in values else v
    return values


CASES = {
    "two-users": {},
    "network-policy": {"networkPolicy": {"enabled": True, "egress": [],
                                         "ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
                       "gateway": {"host": "gw.example.com:2200",
                                   "networkPolicy": {"apiServer": {"ports": [6443],
                                                                   "cidrs": ["192.0.2.10/32"]}}}},
    "podman": {"podman": {"enabled": True}},
    "no-persistence": {"persistence": {"enabled": False}},
    "everything": {
        "image": {"repository": "registry.example/ws", "digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "pull"}],
        "service": {"type": "LoadBalancer", "port": 2200, "externalTrafficPolicy": "Local"},
        "gateway": {"host": "gw.example.com:2200", "createOnDemand": True, "maxPerUser": 9,
                    "idleStop": "2h", "wakeTimeout": 300,
                    "persistence": {"size": "2Gi", "storageClass": "-", "keepOnUninstall": False},
                    "kubernetes": {"objectPrefix": "dev-"}},
        "persistence": {"storageClass": "fast", "size": "20Gi", "annotations": {"backup": "daily"}},
        "env": {"values": {"TEAM": "a"}, "secrets": [{"name": "tokens"}]},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ws",
                         "effect": "NoSchedule"}],
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "ca-bundle"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/extra", "readOnly": True}],
        "podAnnotations": {"example.com/owner": "team-a"}, "podLabels": {"team": "a"},
        "runtimeClassName": "gvisor", "networkPolicy": {"enabled": True},
        "tests": {"fleetUser": "alice", "privateKeySecret": "alice-key"},
    },
    "openshift-omit-ids": {"podSecurityContext": {"omitIds": True}, "user": {"gid": 0}},
}


def render(helm, users, case="two-users", **kw):
    return helm.template(fleet(users, CASES[case]), **kw)


def workspace_templates(objects, name="alice", prefix="ws-"):
    """The StatefulSet templates of the kube-templates ConfigMap, parsed
    after the backend's substitution (OBJECT = prefix + name)."""
    data = find(objects, "ConfigMap", "-kube-templates")["data"]
    return {key: json.loads(text.replace("__OBJECT__", prefix + name).replace("__NAME__", name))
            for key, text in data.items()}


def gateway_pod(objects):
    return find(objects, "Deployment", "-gateway")["spec"]["template"]


def selects(match_labels, labels):
    return all(labels.get(k) == v for k, v in match_labels.items())


@pytest.mark.parametrize("case", CASES)
def test_lint_render_schema_restricted(helm, users, case):
    values = fleet(users, CASES[case])
    r = helm.lint(values)
    assert "0 chart(s) failed" in r.stdout, r.stdout
    objects = helm.template(values)
    prefix = values["gateway"].get("kubernetes", {}).get("objectPrefix", "ws-")
    templates = workspace_templates(objects, prefix=prefix)
    assert set(templates) == {"default.json", "bob.json"}
    checked = objects + list(templates.values())
    ok, out = validate_k8s(checked)
    assert ok, out
    assert len([x for x in out.splitlines() if x.startswith("ok ")]) == len(checked), out
    found = restricted.problems(checked, ids_assigned=case == "openshift-omit-ids")
    assert found == [], found
    # the checker saw the gateway, both templates' pods and the test pod
    kinds = [o["kind"] for o in checked]
    assert kinds.count("StatefulSet") == 2 and kinds.count("Deployment") == 1, kinds
    assert kinds.count("Pod") == 1, kinds


def test_the_checks_see_the_templates(helm4, users):
    """validate.js and the restricted checker fail on a broken template."""
    sts = workspace_templates(render(helm4, users))["default.json"]
    pod = sts["spec"]["template"]["spec"]
    pod["containers"][0]["ports"][0]["containerPort"] = "ssh"
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    ok, out = validate_k8s([sts])
    assert not ok and "containerPort must be integer" in out, out
    assert restricted.problems([sts]) == [
        "StatefulSet/ws-alice: container workspace: allowPrivilegeEscalation is not false"]


def test_two_users_render_the_gateway_and_their_templates(helm, users):
    objects = render(helm, users)
    names = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert names == sorted([
        ("ServiceAccount", "ws-ssh-workspace-gateway"),
        ("Role", "ws-ssh-workspace-gateway"),
        ("RoleBinding", "ws-ssh-workspace-gateway"),
        ("Secret", "ws-ssh-workspace-gateway-users"),
        ("ConfigMap", "ws-ssh-workspace-hooks"),
        ("ConfigMap", "ws-ssh-workspace-gateway-hooks"),
        ("ConfigMap", "ws-ssh-workspace-kube-templates"),
        ("PersistentVolumeClaim", "ws-ssh-workspace-gateway-state"),
        ("Service", "ws-ssh-workspace"),
        ("Deployment", "ws-ssh-workspace-gateway"),
        ("Pod", "ws-ssh-workspace-test-fleet"),
    ]), names
    secret = find(objects, "Secret", "-gateway-users")
    assert sorted(secret["data"]) == ["alice", "bob"]
    assert base64.b64decode(secret["data"]["bob"]).decode() == users["bob"]["keys"]
    templates = workspace_templates(objects)
    default, bob = templates["default.json"], templates["bob.json"]
    claim = default["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "home"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert bob["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] \
        == "50Gi"
    assert bob["spec"]["template"]["spec"]["containers"][0]["resources"] == \
        users["bob"]["resources"]
    assert default["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}


def test_no_statefulset_and_nothing_that_scales_a_workspace(helm, users):
    """Helm patches only what its manifest holds: with no StatefulSet in the
    release and no replicas in the templates, an upgrade never starts or
    stops a workspace.  The only replicas is the gateway's own."""
    for case in CASES:
        objects = render(helm, users, case)
        assert not [o for o in objects if o["kind"] == "StatefulSet"], case
        found = []

        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "replicas":
                        found.append(path + "/" + k)
                    walk(v, path + "/" + k)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{path}/{i}")
        for o in objects:
            walk(o, f"{o['kind']}/{o['metadata']['name']}")
        for key, sts in workspace_templates(objects).items():
            walk(sts, key)
        assert found == ["Deployment/ws-ssh-workspace-gateway/spec/replicas"], (case, found)
        assert gateway_pod(objects) and \
            find(objects, "Deployment", "-gateway")["spec"]["replicas"] == 1


def test_template_is_what_the_backend_expects(helm, users):
    objects = render(helm, users)
    text = find(objects, "ConfigMap", "-kube-templates")["data"]["default.json"]
    assert "__OBJECT__" in text and "__NAME__" in text
    sts = workspace_templates(objects)["default.json"]
    managed = {"ssh-workspace/gateway": "ws-ssh-workspace", "ssh-workspace/workspace": "alice"}
    spec = sts["spec"]
    assert sts["apiVersion"] == "apps/v1" and sts["metadata"]["name"] == "ws-alice"
    assert spec["selector"] == {"matchLabels": managed}
    assert selects(managed, spec["template"]["metadata"]["labels"])
    assert spec["serviceName"] == ""
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete",
                                                           "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]["metadata"]
    assert claim["name"] == "home" and claim["labels"] == managed
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["authorized-keys"]["secret"]["secretName"] == "ws-alice-keys"
    assert volumes["authorized-keys"]["secret"]["items"][0]["key"] == "authorized_keys"
    assert volumes["host-key"]["secret"]["secretName"] == "ws-alice-hostkey"
    assert volumes["host-key"]["secret"]["items"][0]["key"] == "hostkey"
    assert "home" not in volumes  # the claim template's
    assert volumes["activity"] == {"name": "activity",
                                   "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    c = pod["containers"][0]
    assert c["name"] == "workspace"
    assert {"name": "ssh", "containerPort": 2222, "protocol": "TCP"} in c["ports"]
    assert {"name": "activity", "mountPath": "/var/lib/ws-activity"} in c["volumeMounts"]
    hooks = find(objects, "ConfigMap", "-ssh-workspace-hooks")["data"]["hooks.conf"]
    assert "\nactivity_dir = /var/lib/ws-activity\n" in hooks
    assert volumes["hooks"]["configMap"]["name"] == "ws-ssh-workspace-hooks"


def test_fleet_workspace_is_the_single_workspace(helm4, users, client_key):
    """The same values make the same pod: only keys, host key, home,
    labels and the activity directory differ."""
    values = {"user": {"name": "carol", "uid": 4000, "gid": 4000}, "ssh": {"port": 2022},
              "podman": {"enabled": True}, "extraEnv": [{"name": "TZ", "value": "UTC"}]}
    single = helm4.template({**values, "ssh": {"port": 2022, "publicKeys": {
        "authorizedKeys": client_key[1]}}})
    single_pod = find(single, "Deployment")["spec"]["template"]["spec"]
    fleet_pod = workspace_templates(helm4.template(fleet(users, values)))["default.json"][
        "spec"]["template"]["spec"]
    a, b = single_pod["containers"][0], fleet_pod["containers"][0]
    for field in ("image", "args", "env", "ports", "startupProbe", "readinessProbe",
                  "livenessProbe", "securityContext", "resources"):
        assert a[field] == b[field], field
    for field in ("securityContext", "hostUsers", "enableServiceLinks",
                  "automountServiceAccountToken", "terminationGracePeriodSeconds"):
        assert single_pod[field] == fleet_pod[field], field
    assert b["env"][0] == {"name": "WS_USER", "value": "carol"}


def test_renders_are_byte_stable(helm, users):
    """Nothing generated: two renders are the same text (a template change
    is what a workspace's next start applies, not noise)."""
    args = helm.template_args(fleet(users, CASES["everything"]))
    first, second = helm.run(*args).stdout, helm.run(*args).stdout
    assert first == second


@pytest.mark.skipif(len(HELMS) < 2, reason="needs helm v4 and v3")
@pytest.mark.parametrize("case", CASES)
def test_helm_v4_and_v3_render_the_same(tmp_root, users, case):
    renders = []
    for major in ("v4", "v3"):
        version, path = HELMS[major]
        os.makedirs(os.path.join(tmp_root, version), exist_ok=True)
        renders.append(Helm(version, path, os.path.join(tmp_root, version)).template(
            fleet(users, CASES[case])))
    assert renders[0] == renders[1]


def role_requests(objects):
    role = find(objects, "Role")
    return {(verb, group or "core", resource) for rule in role["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def backend_requests():
    assert os.access(KUBE_BACKEND, os.X_OK), f"{KUBE_BACKEND} is not built (make)"
    r = subprocess.run([KUBE_BACKEND, "requests"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return {tuple(line.split()) for line in r.stdout.splitlines() if line.strip()}


def test_role_is_namespaced_and_exactly_the_backends_requests(helm, users):
    objects = render(helm, users, namespace="team-a")
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert role_requests(objects) == backend_requests()
    binding = find(objects, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "ws-ssh-workspace-gateway"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ws-ssh-workspace-gateway",
                                    "namespace": "team-a"}]
    # the token is mounted into the gateway only
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    assert gateway_pod(objects)["spec"]["serviceAccountName"] == "ws-ssh-workspace-gateway"
    assert gateway_pod(objects)["spec"]["automountServiceAccountToken"] is True
    assert find(objects, "Pod")["spec"]["automountServiceAccountToken"] is False


def test_gateway_pod(helm, users):
    objects = render(helm, users)
    template = gateway_pod(objects)
    pod = template["spec"]
    c = pod["containers"][0]
    assert c["name"] == "gateway" and c["args"][0] == "gateway"
    assert c["image"] == "localhost/ssh-workspace:0.1.0"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"WS_LISTEN": "2222", "WS_HOOK_CONFIG": "/etc/ssh-workspace/hooks/gateway.conf",
                   "WS_GATEWAY_BACKEND": "kube", "WS_KUBE_MANAGED": "ws-ssh-workspace",
                   "WS_KUBE_PREFIX": "ws-", "WS_KUBE_TEMPLATE_DIR": "/etc/ssh-workspace/kube-templates",
                   "WS_KUBE_READY_TIMEOUT": "115"}
    # the label the backend sets and selects by is the templates' own
    sts = workspace_templates(objects)["default.json"]
    assert sts["metadata"]["labels"]["ssh-workspace/gateway"] == env["WS_KUBE_MANAGED"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/etc/ssh-workspace/gateway-users"]["readOnly"] is True
    assert volumes[mounts["/etc/ssh-workspace/gateway-users"]["name"]]["secret"]["secretName"] \
        == "ws-ssh-workspace-gateway-users"
    assert volumes[mounts["/var/lib/ws-gateway"]["name"]]["persistentVolumeClaim"][
        "claimName"] == "ws-ssh-workspace-gateway-state"
    assert volumes[mounts["/etc/ssh-workspace/hooks"]["name"]]["configMap"]["name"] == \
        "ws-ssh-workspace-gateway-hooks"
    assert volumes[mounts["/etc/ssh-workspace/kube-templates"]["name"]]["configMap"]["name"] == \
        "ws-ssh-workspace-kube-templates"
    assert pod["securityContext"]["runAsUser"] == 2000
    deployment = find(objects, "Deployment", "-gateway")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # the gateway's selector does not take in a workspace pod
    ws_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert not selects(deployment["spec"]["selector"]["matchLabels"], ws_labels)
    service = find(objects, "Service")
    assert selects(service["spec"]["selector"], template["metadata"]["labels"])
    assert not selects(service["spec"]["selector"], ws_labels)
    assert not selects(service["spec"]["selector"], find(objects, "Pod")["metadata"]["labels"])
    # the backend gives up on a start before the gateway does
    for wake, ready in ((300, "295"), (5, "1"), (1, "1")):
        c = gateway_pod(helm.template(fleet(users, {"gateway": {"wakeTimeout": wake}})))[
            "spec"]["containers"][0]
        assert {"name": "WS_KUBE_READY_TIMEOUT", "value": ready} in c["env"], wake
    state = find(objects, "PersistentVolumeClaim")
    assert state["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_gateway_config_and_user_limits(helm, users):
    conf_map = find(render(helm, users), "ConfigMap", "-gateway-hooks")["data"]
    conf = dict(line.split(" = ", 1) for line in conf_map["gateway.conf"].splitlines()
                if line and not line.startswith("#"))
    assert conf == {"role": "gateway", "event_log": "stderr",
                    "gateway_users_dir": "/etc/ssh-workspace/gateway-users",
                    "gateway_state_dir": "/var/lib/ws-gateway",
                    "gateway_backend": "/usr/bin/ws-gateway-kube",
                    "gateway_program": "/usr/bin/ws-gateway", "gateway_create": "own",
                    "gateway_idle_stop": "30m", "gateway_max_per_user": "5",
                    "gateway_wake_timeout": "120", "gateway_host": "gw.example.com",
                    "gateway_workspace_user": "developer",
                    "gateway_user_limits": "/etc/ssh-workspace/hooks/user-limits"}
    assert conf_map["user-limits"] == "bob create=on max=3\n"

    limited = dict(users, carol={"keys": users["alice"]["keys"], "maxWorkspaces": 2},
                   dave={"keys": users["alice"]["keys"], "mayCreate": "off"})
    conf_map = find(helm.template(fleet(limited, {"gateway": {"createOnDemand": True,
                                                             "maxPerUser": 7}})),
                    "ConfigMap", "-gateway-hooks")["data"]
    assert "gateway_create = on\n" in conf_map["gateway.conf"]
    assert conf_map["user-limits"] == "bob create=on max=3\ncarol create=on max=2\n" \
                                      "dave create=off max=7\n"
    # no user sets a limit: no file, no key
    plain = {"alice": users["alice"]}
    conf_map = find(helm.template(fleet(plain, {"gateway": {"host": ""}})), "ConfigMap",
                    "-gateway-hooks")["data"]
    assert "user-limits" not in conf_map
    assert "gateway_user_limits" not in conf_map["gateway.conf"]
    assert "gateway_host" not in conf_map["gateway.conf"]
    # config prints the workspaces' user as the chart names it
    conf_map = find(helm.template(fleet(plain, {"user": {"name": "dev"}})), "ConfigMap",
                    "-gateway-hooks")["data"]
    assert "gateway_workspace_user = dev\n" in conf_map["gateway.conf"]


def policies(objects):
    return {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}


def test_network_policies(helm, users):
    assert policies(render(helm, users)) == {}
    objects = render(helm, users, "network-policy")
    found = policies(objects)
    assert set(found) == {"ws-ssh-workspace-workspaces", "ws-ssh-workspace-gateway"}
    ws, gw = found["ws-ssh-workspace-workspaces"], found["ws-ssh-workspace-gateway"]
    gw_labels = gateway_pod(objects)["metadata"]["labels"]
    ws_labels = workspace_templates(objects)["default.json"]["spec"]["template"]["metadata"][
        "labels"]
    test_labels = find(objects, "Pod")["metadata"]["labels"]
    # workspaces: only the gateway pod, only TCP to their ssh port
    assert selects(ws["podSelector"]["matchLabels"], ws_labels)
    assert not selects(ws["podSelector"]["matchLabels"], gw_labels)
    assert ws["policyTypes"] == ["Ingress", "Egress"] and ws["egress"] == []
    [rule] = ws["ingress"]
    assert rule["ports"] == [{"port": "ssh", "protocol": "TCP"}]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}
    assert selects(peer["podSelector"]["matchLabels"], gw_labels)
    assert not selects(peer["podSelector"]["matchLabels"], test_labels)
    # gateway: SSH in from ingressFrom and the test pod; out to the
    # workspaces' ssh port and the API server only
    assert selects(gw["podSelector"]["matchLabels"], gw_labels)
    assert not selects(gw["podSelector"]["matchLabels"], ws_labels)
    assert gw["policyTypes"] == ["Ingress", "Egress"]
    [rule] = gw["ingress"]
    assert rule["ports"] == [{"port": "ssh", "protocol": "TCP"}]
    assert rule["from"][0] == {"ipBlock": {"cidr": "10.0.0.0/8"}}
    assert selects(rule["from"][1]["podSelector"]["matchLabels"], test_labels)
    to_workspaces, to_api = gw["egress"]
    assert selects(to_workspaces["to"][0]["podSelector"]["matchLabels"], ws_labels)
    assert to_workspaces["ports"] == [{"port": 2222, "protocol": "TCP"}]
    assert to_api == {"ports": [{"port": 6443, "protocol": "TCP"}],
                      "to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}]}
    # the defaults: 443 and 6443 at any address, SSH in from anywhere
    gw = policies(helm.template(fleet(users, {"networkPolicy": {"enabled": True}})))[
        "ws-ssh-workspace-gateway"]
    assert gw["ingress"] == [{"ports": [{"port": "ssh", "protocol": "TCP"}]}]
    assert gw["egress"][1] == {"ports": [{"port": 443, "protocol": "TCP"},
                                         {"port": 6443, "protocol": "TCP"}]}


def test_helm_test_pod(helm, users):
    pod = find(render(helm, users), "Pod")
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["WS_TEST_HOST"] == "ws-ssh-workspace.ws-test.svc" and env["WS_TEST_FLEET_USER"] == ""
    assert "NOT CHECKED: a login to a workspace" in c["command"][2]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp"]
    pod = find(render(helm, users, "everything"), "Pod")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["WS_TEST_FLEET_USER"] == "alice" and env["WS_TEST_PORT"] == "2200"
    key = next(v for v in pod["spec"]["volumes"] if v["name"] == "test-key")
    assert key["secret"]["secretName"] == "alice-key"
    assert "ProxyJump gateway" in pod["spec"]["containers"][0]["command"][2]


def test_single_mode_has_no_fleet_objects(helm, client_key):
    objects = helm.template({"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}},
                             "users": {"alice": {"keys": client_key[1]}}})
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Pod", "Secret",
                     "Secret", "Service"], kinds
    hooks = find(objects, "ConfigMap")["data"]["hooks.conf"]
    assert "activity_dir" not in hooks


def test_notes(helm4, users):
    values = fleet(users, {"gateway": {"host": "gw.example.com:2200", "createOnDemand": True}})
    r = helm4.run("install", "ws", os.path.join(REPO, "helm", "ssh-workspace"),
                  "--namespace", "team", "--dry-run=client", "-f", helm4.values_file(values))
    notes = r.stdout.split("NOTES:", 1)[1]
    for user in ("alice", "bob"):
        assert f"\n  ssh -p 2200 {user}@gw.example.com config >> ~/.ssh/config\n" \
               f"  ssh {user}.ws\n" in notes, notes
    assert "kubectl --namespace team port-forward service/ws-ssh-workspace 2200:22" in notes
    assert "ServiceAccount ws-ssh-workspace-gateway may, in namespace team only" in notes
    assert "-l ssh-workspace/gateway=ws-ssh-workspace" in notes
    assert "USER-SOMETHING.ws creates" in notes
    assert "gateway.host is not set" not in notes
