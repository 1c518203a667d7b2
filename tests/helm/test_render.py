"""The chart lints and renders with helm v4 and v3 for a matrix of values;
every rendered object passes the Kubernetes schema (kubernetes-models) and
the "restricted" checker; labels, probes, mounts, checksums, NOTES and the
packaged chart are what the README says."""
import base64
import hashlib
import json
import os
import re
import subprocess
import tarfile

import pytest
import yaml

import restricted
from conftest import CHART, HELMS, REPO, Helm, container, find, pod_spec, validate_k8s

# name -> values (the authorized keys are added by keys())
MATRIX = {
    "defaults": {},
    "no-persistence": {"persistence": {"enabled": False}},
    "existing-claim": {"persistence": {"existingClaim": "my-home"}},
    "storage-class": {"persistence": {"storageClass": "fast", "size": "50Gi",
                                      "accessModes": ["ReadWriteOncePod"]}},
    "podman": {"podman": {"enabled": True}},
    "podman-no-userns": {"podman": {"enabled": True, "hostUsers": None}},
    "agent-sidecar": {"agent": {"sidecar": {"enabled": True, "keysSecret": "deploy-keys"}}},
    "existing-secrets": {"ssh": {"publicKeys": {"existingSecret": "team-keys",
                                                "existingSecretKey": "keys"},
                                 "hostKey": {"existingSecret": "ws-host-key"}}},
    "custom-user": {"user": {"name": "alice", "uid": 4242, "gid": 4242}},
    "openshift-uid": {"user": {"uid": 1000680000, "gid": 0}},
    "env-and-policy": {
        "env": {"values": {"GIT_AUTHOR_NAME": "Alice", "DEBUG": 1},
                "secrets": [{"name": "tokens", "items": [{"key": "gh", "path": "alice/GH_TOKEN"}]}],
                "configMaps": [{"name": "settings", "optional": True}], "onFailure": "closed"},
        "agent": {"forwarding": False},
        "ssh": {"cryptoProfile": "pq-only", "port": 2022,
                "forwarding": {"local": False, "remote": False},
                "limits": {"maxUnauth": 32, "maxUnauthPerAddress": 4, "authTimeout": 20,
                           "keepalive": 0, "idleTimeout": 3600},
                "extraArgs": ["-W", "1048576"]},
        "hooks": {"logCommands": False, "extraConfig": "activity_dir = /run/activity"},
        "networkPolicy": {"enabled": True, "egress": [],
                          "ingressFrom": [{"podSelector": {"matchLabels": {"role": "bastion"}}}]},
        "service": {"type": "LoadBalancer", "port": 2200, "annotations": {"a": "b"},
                    "loadBalancerSourceRanges": ["10.0.0.0/8"]},
    },
    "everything": {
        "persistence": {"enabled": True}, "podman": {"enabled": True},
        "agent": {"sidecar": {"enabled": True, "keysSecret": "deploy-keys", "uid": 2000,
                              "gid": 2000}},
        "user": {"name": "bob", "uid": 3000, "gid": 3000},
        "image": {"repository": "registry.example/ws", "digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "pull"}],
        "service": {"type": "NodePort", "nodePort": 30022},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ws",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "ca-bundle"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/extra", "readOnly": True}],
        "podAnnotations": {"example.com/owner": "team-a"}, "podLabels": {"team": "a"},
        "priorityClassName": "high", "serviceAccountName": "ws", "runtimeClassName": "gvisor",
        "networkPolicy": {"enabled": True},
    },
    "openshift-omit-ids": {"podSecurityContext": {"omitIds": True}, "user": {"gid": 0}},
    "service-extras": {"service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                                   "loadBalancerClass": "example.com/lb",
                                   "loadBalancerIP": "192.0.2.10"}},
    "tcp-route": {"tcpRoute": {"enabled": True, "annotations": {"a": "b"},
                               "parentRefs": [{"name": "gw", "namespace": "gateways",
                                               "sectionName": "ssh"}]}},
    # a hostPort is outside "baseline": checked apart
    "host-port": {"hostPort": {"enabled": True, "port": 2222, "hostIP": "127.0.0.1"}},
}


@pytest.fixture(scope="module")
def keys(client_key):
    return {"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}}}


def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render(helm, keys, values=None, **kw):
    return helm.template(merge(keys, values or {}), **kw)


@pytest.mark.parametrize("case", MATRIX)
def test_lint_render_schema_restricted(helm, keys, case):
    values = merge(keys, MATRIX[case])
    r = helm.lint(values)
    assert "0 chart(s) failed" in r.stdout, r.stdout
    objects = helm.template(values)
    ok, out = validate_k8s(objects)
    assert ok, out
    lines = out.splitlines()
    skipped = [x for x in lines if x.startswith("skip ")]
    assert len([x for x in lines if x.startswith("ok ")]) + len(skipped) == len(objects), out
    # only the Gateway API route goes unchecked by kubernetes-models
    assert [x.split(":")[0] for x in skipped] == \
        (["skip TCPRoute/ws-ssh-workspace"] if case == "tcp-route" else []), out
    found = restricted.problems(objects, ids_assigned=case == "openshift-omit-ids")
    if case == "host-port":
        assert found == ["Deployment/ws-ssh-workspace: container workspace: hostPort 2222 "
                         "(not allowed by baseline)"]
    else:
        assert found == [], found


def test_schema_check_rejects_an_invalid_object(helm4, keys):
    """validate.js must be able to fail: a port as a string, a bad quantity."""
    objects = render(helm4, keys)
    container(objects)["ports"][0]["containerPort"] = "ssh"
    pod_spec(objects)["volumes"][2]["emptyDir"]["sizeLimit"] = "lots"
    ok, out = validate_k8s(objects)
    assert not ok
    assert "containerPort must be integer" in out and 'must match format "quantity"' in out, out


def test_default_objects_and_labels(helm, keys):
    objects = render(helm, keys)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", "ws-ssh-workspace-hooks"),
        ("Deployment", "ws-ssh-workspace"),
        ("PersistentVolumeClaim", "ws-ssh-workspace-home"),
        ("Pod", "ws-ssh-workspace-test-ssh"),
        ("Secret", "ws-ssh-workspace-authorized-keys"),
        ("Secret", "ws-ssh-workspace-host-key"),
        ("Service", "ws-ssh-workspace"),
    ]
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    for o in objects:
        labels = o["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "ssh-workspace"
        assert labels["app.kubernetes.io/instance"] == "ws"
        assert labels["app.kubernetes.io/version"] == chart["appVersion"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == f"ssh-workspace-{chart['version']}"
    deploy = find(objects, "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    selector = deploy["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "ssh-workspace",
                        "app.kubernetes.io/instance": "ws"}
    assert selector.items() <= pod_labels.items()
    svc = find(objects, "Service")
    assert svc["spec"]["selector"] == dict(selector, **{"app.kubernetes.io/component": "workspace"})
    assert svc["spec"]["ports"] == [{"name": "ssh", "port": 22, "targetPort": "ssh",
                                     "protocol": "TCP"}]
    assert container(objects)["ports"] == [{"name": "ssh", "containerPort": 2222,
                                            "protocol": "TCP"}]
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert container(objects)["image"] == f"localhost/ssh-workspace:{chart['appVersion']}"


def test_probes_speak_ssh(helm4, keys):
    c = container(render(helm4, keys))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["exec"]["command"] == ["/usr/lib/ssh-workspace/healthcheck"], probe
    env = {e["name"]: e["value"] for e in c["env"]}
    # the health check reaches the server through WS_LISTEN, as the entrypoint does
    assert env["WS_LISTEN"] == "2222"


def test_mounts_keys_and_host_key_not_in_home(helm, keys):
    """Keys and the host key come from Secrets mounted outside the home; the
    home volume is the only thing on the PVC."""
    for values, user in (({}, "developer"), ({"user": {"name": "alice"}}, "alice")):
        objects = render(helm, keys, values)
        spec = pod_spec(objects)
        mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        home = f"/home/{user}"
        assert mounts["home"] == {"name": "home", "mountPath": home}
        assert volumes["home"]["persistentVolumeClaim"] == {"claimName": "ws-ssh-workspace-home"}
        assert mounts["host-key"]["mountPath"] == "/etc/ssh-workspace/host-key"
        assert volumes["host-key"]["secret"] == {
            "secretName": "ws-ssh-workspace-host-key", "defaultMode": 0o440,
            "items": [{"key": "hostkey", "path": "hostkey"}]}
        assert volumes["authorized-keys"]["secret"]["defaultMode"] == 0o444
        for m in mounts.values():
            if m["name"] != "home":
                assert not m["mountPath"].startswith(home), m
        # only the home is a PVC; the claim asks for what persistence.* says
        claims = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
        assert [v["name"] for v in claims] == ["home"]
        pvc = find(objects, "PersistentVolumeClaim")
        assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"],
                               "resources": {"requests": {"storage": "10Gi"}}}
        env = {e["name"]: e["value"] for e in container(objects)["env"]}
        assert env["WS_USER"] == user


def test_user_and_security_context(helm, keys):
    objects = render(helm, keys, {"user": {"name": "alice", "uid": 4242, "gid": 4343}})
    psc = pod_spec(objects)["securityContext"]
    assert psc == {"runAsNonRoot": True, "runAsUser": 4242, "runAsGroup": 4343, "fsGroup": 4343,
                   "fsGroupChangePolicy": "OnRootMismatch",
                   "seccompProfile": {"type": "RuntimeDefault"}}
    assert container(objects)["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    spec = pod_spec(objects)
    assert spec["automountServiceAccountToken"] is False
    assert "hostUsers" not in spec and "initContainers" not in spec


def test_podman_mode_relaxes_only_seccomp_and_adds_a_user_namespace(helm, keys):
    plain = render(helm, keys)
    podman = render(helm, keys, {"podman": {"enabled": True}})
    a, b = pod_spec(plain), pod_spec(podman)
    assert b["securityContext"]["seccompProfile"] == {
        "type": "Localhost", "localhostProfile": "ssh-workspace/seccomp-podman.json"}
    assert b.pop("hostUsers") is False
    b["securityContext"]["seccompProfile"] = a["securityContext"]["seccompProfile"]
    assert a == b, "podman mode changes more than the seccomp profile and hostUsers"
    no_userns = pod_spec(render(helm, keys, {"podman": {"enabled": True, "hostUsers": None}}))
    assert "hostUsers" not in no_userns


def test_seccomp_profile_shipped_with_the_chart_is_the_images():
    with open(os.path.join(CHART, "files", "seccomp-podman.json"), "rb") as a, \
            open(os.path.join(REPO, "container-image", "seccomp-podman.json"), "rb") as b:
        assert a.read() == b.read(), "helm/ssh-workspace/files/seccomp-podman.json is stale: " \
                                     "copy container-image/seccomp-podman.json"


def test_chart_default_client_allow_is_the_librarys():
    """The chart always writes client_env_allow, and a list set there
    replaces the library's default: the two must be the same list, or pods
    refuse what the library allows (git's GIT_PROTOCOL, for protocol v2)."""
    with open(os.path.join(REPO, "plugins", "config.h")) as f:
        library = re.search(r'#define WS_CLIENT_ENV_ALLOW_DEFAULT "([^"]*)"', f.read()).group(1)
    with open(os.path.join(CHART, "values.yaml")) as f:
        assert yaml.safe_load(f)["env"]["clientAllow"] == library
    with open(os.path.join(REPO, "docs", "hook-config.md")) as f:
        row = next(line for line in f if line.startswith("| `client_env_allow` |"))
    assert f'| `"{library}"` |' in row
    assert "GIT_PROTOCOL" in library.split()


def test_server_args_and_hook_config(helm, keys):
    objects = render(helm, keys, MATRIX["env-and-policy"])
    c = container(objects)
    assert c["args"] == ["--crypto-profile=pq-only", "--max-unauth=32",
                         "--max-unauth-per-address=4", "--auth-timeout=20", "-K", "0",
                         "-I", "3600", "-j", "-k", "-W", "1048576"]
    assert c["ports"][0]["containerPort"] == 2022
    conf = find(objects, "ConfigMap")["data"]["hooks.conf"]
    lines = [x for x in conf.splitlines() if x and not x.startswith("#")]
    assert lines == ["event_log = stderr", "log_commands = no",
                     'client_env_allow = "LANG LC_* TERM COLORTERM TZ GIT_PROTOCOL"',
                     "env_on_failure = closed", "env_dir = /etc/ssh-workspace/env",
                     "agent_forwarding = no", "activity_dir = /run/activity"]
    env_vol = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "env")
    assert env_vol["projected"]["sources"] == [
        {"secret": {"name": "ws-ssh-workspace-env"}},
        {"secret": {"name": "tokens", "items": [{"key": "gh", "path": "alice/GH_TOKEN"}]}},
        {"configMap": {"name": "settings", "optional": True}}]
    secret = find(objects, "Secret", "-env")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == \
        {"GIT_AUTHOR_NAME": "Alice", "DEBUG": "1"}
    svc = find(objects, "Service")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    policy = find(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "ssh", "protocol": "TCP"}],
                                          "from": [{"podSelector": {"matchLabels":
                                                                    {"role": "bastion"}}},
                                                   {"podSelector": {"matchLabels": {
                                                       "app.kubernetes.io/name": "ssh-workspace",
                                                       "app.kubernetes.io/instance": "ws",
                                                       "app.kubernetes.io/component": "test"}}}]}]
    default = render(helm, keys)
    assert container(default)["args"] == ["--crypto-profile=modern", "--max-unauth=256",
                                          "--auth-timeout=60", "-K", "30"]
    assert "env_dir" not in find(default, "ConfigMap")["data"]["hooks.conf"]


def test_env_value_names_are_kept_as_written(helm, keys):
    """Names YAML 1.1 reads as null or booleans (NULL, OFF, Y, N) stay
    names: the Secret's keys are quoted, so NULL renders and OFF is not
    turned into "false"."""
    names = ["NULL", "OFF", "ON", "Y", "N", "yes", "True", "x1", "_", "A" * 255]
    # --set: PyYAML would write Y and N unquoted into a values file, and
    # helm's YAML 1.1 reader would make them booleans before the chart sees them
    sets = [a for n in names for a in ("--set-string", f"env.values.{n}=v")]
    objects = render(helm, keys, extra=sets)
    data = find(objects, "Secret", "-env")["data"]
    assert sorted(data) == sorted(names)
    assert {base64.b64decode(v).decode() for v in data.values()} == {"v"}


def test_env_name_rule_is_the_servers():
    """The schema's rule for env.values names is the one plugins/envlist.c
    applies (a letter or '_', then letters, digits, '_'; at most
    NAME_MAX_LEN bytes): a name the chart accepts is one sessions get."""
    with open(os.path.join(REPO, "plugins", "envlist.c")) as f:
        source = f.read()
    max_len = int(re.search(r"#define NAME_MAX_LEN (\d+)", source).group(1))
    assert "(c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'" in source
    assert "(name[i] >= '0' && name[i] <= '9')" in source
    with open(os.path.join(CHART, "values.schema.json")) as f:
        rule = json.load(f)["properties"]["env"]["properties"]["values"]["propertyNames"]
    assert rule == {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "maxLength": max_len}


def test_env_sources_are_optional_when_failures_are_open(helm, keys):
    """A Secret or ConfigMap the pod must mount and that does not exist
    keeps the pod from starting, whatever env.onFailure says.  With open,
    the sources are optional (a missing one is skipped; an explicit
    optional: false is kept); with closed, they stay as given, so a missing
    one holds the pod back rather than serve sessions without it."""
    env = {"secrets": [{"name": "tokens"}, {"name": "must", "optional": False}],
           "configMaps": [{"name": "settings"}]}
    sources = lambda objects: next(v for v in pod_spec(objects)["volumes"]
                                   if v["name"] == "env")["projected"]["sources"]
    assert sources(render(helm, keys, {"env": env})) == [
        {"secret": {"name": "tokens", "optional": True}},
        {"secret": {"name": "must", "optional": False}},
        {"configMap": {"name": "settings", "optional": True}}]
    assert sources(render(helm, keys, {"env": dict(env, onFailure="closed")})) == [
        {"secret": {"name": "tokens"}},
        {"secret": {"name": "must", "optional": False}},
        {"configMap": {"name": "settings"}}]


def test_agent_sidecar_gets_the_keys_and_the_workspace_does_not(helm, keys):
    objects = render(helm, keys, MATRIX["agent-sidecar"])
    spec = pod_spec(objects)
    ws, agent = container(objects), container(objects, "workspace-agent")
    assert "deploy-keys" not in [m["name"] for m in ws["volumeMounts"]]
    assert "deploy-keys" in [m["name"] for m in agent["volumeMounts"]]
    assert agent["securityContext"]["runAsUser"] == 1001
    env = {e["name"]: e["value"] for e in agent["env"]}
    assert env["ALLOW_UID"] == "1000" and env["LISTEN"] == "/run/workspace-agent/agent.sock"
    shared = [m for m in ws["volumeMounts"] if m["name"] == "workspace-agent"]
    assert shared == [{"name": "workspace-agent", "mountPath": "/run/workspace-agent"}]
    keys_vol = next(v for v in spec["volumes"] if v["name"] == "deploy-keys")
    assert keys_vol["secret"] == {"secretName": "deploy-keys", "defaultMode": 0o440}
    assert "agent_workspace_socket = /run/workspace-agent/agent.sock" in \
        find(objects, "ConfigMap")["data"]["hooks.conf"]


def annotations(objects):
    return find(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]


def test_checksums_are_of_contents(helm, keys):
    objects = render(helm, keys)
    ann = annotations(objects)
    assert ann["kubectl.kubernetes.io/default-container"] == "workspace"
    conf = find(objects, "ConfigMap")["data"]["hooks.conf"]
    assert ann["checksum/hooks-config"] == hashlib.sha256(conf.encode()).hexdigest()
    host_key = find(objects, "Secret", "-host-key")["data"]["hostkey"]
    assert ann["checksum/host-key"] == hashlib.sha256(host_key.encode()).hexdigest()
    # another release name (so other object names): the config checksum stays
    renamed = render(helm, keys, {"fullnameOverride": "other"}, release="other")
    assert annotations(renamed)["checksum/hooks-config"] == ann["checksum/hooks-config"]
    # a change of contents moves it
    changed = render(helm, keys, {"agent": {"forwarding": False}})
    assert annotations(changed)["checksum/hooks-config"] != ann["checksum/hooks-config"]
    # existing Secrets' names do not enter the checksum (no cluster: no contents)
    a = annotations(render(helm, keys, {"ssh": {"hostKey": {"existingSecret": "a"}}}))
    b = annotations(render(helm, keys, {"ssh": {"hostKey": {"existingSecret": "b"}}}))
    assert a["checksum/host-key"] == b["checksum/host-key"]


def test_generated_host_key(helm, keys):
    """An ed25519 PKCS#8 key (the image converts it); without a cluster every
    render makes a new one, and the checksum follows the key."""
    first = render(helm, keys)
    second = render(helm, keys)
    pem = base64.b64decode(find(first, "Secret", "-host-key")["data"]["hostkey"]).decode()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    # the PKCS#8 prefix of an ed25519 key (OID 1.3.101.112)
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    assert der[:16] == bytes.fromhex("302e020100300506032b657004220420") and len(der) == 48
    assert annotations(first)["checksum/host-key"] != annotations(second)["checksum/host-key"]
    existing = render(helm, keys, {"ssh": {"hostKey": {"existingSecret": "mine",
                                                       "existingSecretKey": "key"}}})
    assert [o for o in existing if o["metadata"]["name"].endswith("-host-key")] == []
    vol = next(v for v in pod_spec(existing)["volumes"] if v["name"] == "host-key")
    assert vol["secret"]["secretName"] == "mine"
    assert vol["secret"]["items"] == [{"key": "key", "path": "hostkey"}]


def test_host_key_lookup_is_used(helm, keys):
    """The kept-across-upgrades path cannot run without a cluster; check that
    the template reads the release's own Secret back with lookup before it
    generates a key."""
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    block = helpers[helpers.index('define "ssh-workspace.hostKeyData"'):]
    block = block[:block.index("{{- end }}\n{{- index")]
    assert block.index('lookup "v1" "Secret" .Release.Namespace') < block.index("genPrivateKey")


def selects(match_labels, labels):
    return match_labels.items() <= labels.items()


def test_policy_and_service_select_the_workspace_not_the_test_pod(helm, keys):
    """The helm test pod shares the release's name and instance labels.  A
    NetworkPolicy that selected it would apply `egress: []` to it and
    `helm test` would fail while the workspace is fine: the policy and the
    Service select the workspace pod and not the test pod; with ingressFrom
    limited, the test pod is admitted as a client (unless allowHelmTest is
    off)."""
    values = {"networkPolicy": {"enabled": True, "egress": [],
                                "ingressFrom": [{"ipBlock": {"cidr": "10.1.0.0/16"}}]},
              "podLabels": {"team": "a"}}
    objects = render(helm, keys, values)
    workspace = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    test_pod = find(objects, "Pod", "-test-ssh")["metadata"]["labels"]
    policy = find(objects, "NetworkPolicy")["spec"]
    service = find(objects, "Service")["spec"]["selector"]
    for selector in (policy["podSelector"]["matchLabels"], service):
        assert selects(selector, workspace), selector
        assert not selects(selector, test_pod), selector
    peers = policy["ingress"][0]["from"]
    assert peers[0] == {"ipBlock": {"cidr": "10.1.0.0/16"}}
    admitted = [p for p in peers if "podSelector" in p and
                selects(p["podSelector"]["matchLabels"], test_pod)]
    assert len(admitted) == 1 and not selects(admitted[0]["podSelector"]["matchLabels"],
                                              workspace)
    values["networkPolicy"]["allowHelmTest"] = False
    peers = find(render(helm, keys, values), "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert peers == [{"ipBlock": {"cidr": "10.1.0.0/16"}}]


def test_helm_test_pod(helm, keys):
    objects = render(helm, keys, {"service": {"port": 2200}}, namespace="team-a")
    pod = find(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"WS_TEST_HOST": "ws-ssh-workspace.team-a.svc", "WS_TEST_PORT": "2200",
                   "WS_TEST_USER": "developer", "WS_TEST_TRIES": "10"}
    script = c["command"][-1]
    assert "ssh-keyscan" in script and "Permission denied (publickey)" in script
    placed = find(render(helm, keys, MATRIX["everything"]), "Pod")["spec"]
    assert placed["nodeSelector"] == MATRIX["everything"]["nodeSelector"]
    assert placed["tolerations"] == MATRIX["everything"]["tolerations"]
    skipped = render(helm, keys, extra=["--skip-tests"])
    assert [o for o in skipped if o["kind"] == "Pod"] == []


def test_notes_print_the_port_forward_and_ssh_lines(helm4, keys):
    """helm v4 renders NOTES in a client-only dry run (v3 wants a cluster)."""
    args = helm4.template_args(merge(keys, {"user": {"name": "alice"}, "service": {"port": 2200}}),
                               release="dev", namespace="team-a")
    args[0] = "install"
    r = helm4.run(*args, "--dry-run=client")
    notes = r.stdout[r.stdout.index("NOTES:"):]
    assert "  kubectl --namespace team-a port-forward service/dev-ssh-workspace 2222:2200\n" \
           "  ssh -p 2222 alice@127.0.0.1\n" in notes, notes
    assert "  helm test dev --namespace team-a\n" in notes
    assert "logs deployment/dev-ssh-workspace -c workspace | grep 'host key'" in notes


def notes(helm4, values, release="ws", namespace="ws-test"):
    """The NOTES of a client-only dry-run install (helm v4)."""
    args = helm4.template_args(values, release=release, namespace=namespace)
    args[0] = "install"
    r = helm4.run(*args, "--dry-run=client")
    return r.stdout[r.stdout.index("NOTES:"):]


def test_existing_host_key_renders_the_same_every_time(helm, keys):
    """The GitOps path: with ssh.hostKey.existingSecret, renders without a
    cluster (Argo CD, Flux, helm template) are byte-identical, so a sync
    neither restarts the pod nor changes the key.  With a generated key they
    are not (that is why the NOTES warn)."""
    gitops = helm.template_args(merge(keys, {"ssh": {"hostKey": {"existingSecret": "own-key"}}}))
    first, second = helm.run(*gitops).stdout, helm.run(*gitops).stdout
    assert first == second
    assert "genPrivateKey" not in first and "-host-key\n" not in first
    generated = helm.template_args(keys)
    assert helm.run(*generated).stdout != helm.run(*generated).stdout


def run_notes_commands(lines, tmp_path):
    """Runs host key commands with a kubectl that records its arguments;
    returns (kubectl's arguments, the key file)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$KUBECTL_ARGS"\n')
    (bindir / "kubectl").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}",
               KUBECTL_ARGS=str(tmp_path / "args"))
    for line in lines:
        subprocess.run(["sh", "-ec", line], cwd=tmp_path, env=env, check=True, timeout=30)
    return (tmp_path / "args").read_text().splitlines(), tmp_path / "hostkey"


def check_host_key_secret(args, key_file, namespace, secret):
    """What kubectl was asked for is the Secret the chart expects: an
    ed25519 private key under the key name existingSecretKey defaults to."""
    with open(os.path.join(CHART, "values.yaml")) as f:
        key_name = yaml.safe_load(f)["ssh"]["hostKey"]["existingSecretKey"]
    assert args == ["--namespace", namespace, "create", "secret", "generic", secret,
                    f"--from-file={key_name}=hostkey"], args
    text = key_file.read_text()
    assert text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    r = subprocess.run(["ssh-keygen", "-l", "-f", str(key_file)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("(ED25519)"), r.stdout + r.stderr


def test_notes_warn_about_a_generated_host_key(helm4, keys, tmp_path):
    """A generated key: the NOTES warn that GitOps renders replace it and
    give the commands for an existing Secret, which work as printed."""
    text = notes(helm4, keys, release="dev", namespace="team-a")
    assert "WARNING: the chart generated the host key." in text, text
    lines = [x.strip() for x in text.splitlines()
             if x.startswith("  ssh-keygen ") or x.startswith("  kubectl --namespace team-a create")]
    assert len(lines) == 2, text
    args, key_file = run_notes_commands(lines, tmp_path)
    check_host_key_secret(args, key_file, "team-a", "dev-ssh-workspace-own-host-key")
    assert "  --set ssh.hostKey.existingSecret=dev-ssh-workspace-own-host-key\n" in text
    own = notes(helm4, merge(keys, {"ssh": {"hostKey": {"existingSecret": "k"}}}))
    assert "WARNING: the chart generated the host key" not in own, own


def test_readme_gitops_host_key_command(tmp_path):
    with open(os.path.join(CHART, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("**GitOps"):]
    line = next(x.strip() for x in section.splitlines() if x.startswith("    ssh-keygen "))
    args, key_file = run_notes_commands([line], tmp_path)
    check_host_key_secret(args, key_file, "ws", "ws-own-host-key")
    assert "`ssh.hostKey.existingSecret=ws-own-host-key`" in section


def test_notes_warn_about_a_localhost_image(helm4, keys):
    """The default image.repository is the name of a local build, which no
    cluster pulls: the NOTES say so, and how to push and point at it."""
    text = notes(helm4, keys, release="dev")
    assert "WARNING: image.repository is localhost/ssh-workspace" in text, text
    assert "  helm upgrade dev ... --set image.repository=registry.example.com/ssh-workspace\n" \
        in text
    pushed = notes(helm4, merge(keys, {"image": {"repository": "registry.example.com/ws"}}))
    assert "WARNING: image.repository" not in pushed, pushed


def test_readme_says_home_authorized_keys_are_ignored():
    """ssh-copy-id writes ~/.ssh/authorized_keys in the home and reports
    success; the server only reads the Secret's keys."""
    with open(os.path.join(CHART, "README.md")) as f:
        readme = re.sub(r"\s+", " ", f.read())
    assert "keys in `~/.ssh/authorized_keys` of the home are ignored" in readme
    assert "`ssh-copy-id` appends to that file and seems to succeed, but the key it adds " \
           "does not log in" in readme


def test_home_claim_is_kept_on_uninstall(helm, keys):
    """helm uninstall must not take the home with it: the claim the chart
    creates carries helm.sh/resource-policy: keep unless keepOnUninstall is
    false; the user's own annotations stay; an existing claim is mounted
    and not created."""
    pvc = find(render(helm, keys), "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    pvc = find(render(helm, keys, {"persistence": {"annotations": {"backup": "daily"}}}),
               "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep",
                                              "backup": "daily"}
    pvc = find(render(helm, keys, {"persistence": {"keepOnUninstall": False}}),
               "PersistentVolumeClaim")
    assert "annotations" not in pvc["metadata"]
    # a reinstall under another name reattaches the kept claim
    objects = render(helm, keys, {"persistence": {"existingClaim": "ws-ssh-workspace-home"}},
                     release="ws2")
    assert [o for o in objects if o["kind"] == "PersistentVolumeClaim"] == []
    home = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "home")
    assert home == {"name": "home",
                    "persistentVolumeClaim": {"claimName": "ws-ssh-workspace-home"}}


def test_notes_say_what_happens_to_the_home(helm4, keys):
    kept = notes(helm4, keys, release="dev", namespace="team-a")
    assert "helm uninstall keeps" in kept, kept
    assert "  --set persistence.existingClaim=dev-ssh-workspace-home\n" in kept
    assert "  kubectl --namespace team-a delete pvc dev-ssh-workspace-home\n" in kept
    deleted = notes(helm4, merge(keys, {"persistence": {"keepOnUninstall": False}}))
    assert "helm uninstall DELETES it" in deleted, deleted
    own = notes(helm4, merge(keys, {"persistence": {"existingClaim": "mine"}}))
    assert "The home is on your claim mine: helm uninstall leaves it." in own, own
    none = notes(helm4, merge(keys, {"persistence": {"enabled": False}}))
    assert "The home is an emptyDir" in none, none


def test_package_is_an_oci_ready_chart(helm, keys, tmp_path):
    r = helm.run("package", CHART, "--destination", str(tmp_path))
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    tgz = tmp_path / f"ssh-workspace-{chart['version']}.tgz"
    assert tgz.exists(), r.stdout
    # OCI registries take SemVer 2 versions; the name is the repository's
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", chart["version"])
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", chart["name"])
    with tarfile.open(tgz) as t:
        names = set(t.getnames())
    for name in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md",
                 "files/seccomp-podman.json", "templates/deployment.yaml",
                 "templates/NOTES.txt", "templates/tests/test-ssh.yaml"):
        assert f"ssh-workspace/{name}" in names, name
    # the packaged chart renders like the directory
    objects = helm.template(keys, chart=str(tgz))
    assert restricted.problems(objects) == []


def without_host_key(objects):
    for o in objects:
        if o["kind"] == "Secret" and o["metadata"]["name"].endswith("-host-key"):
            o["data"]["hostkey"] = "generated"
        if o["kind"] == "Deployment":
            o["spec"]["template"]["metadata"]["annotations"]["checksum/host-key"] = "generated"
    return objects


@pytest.mark.skipif(len(HELMS) < 2, reason="needs helm v4 and v3")
@pytest.mark.parametrize("case", MATRIX)
def test_helm_v4_and_v3_render_the_same(tmp_root, keys, case):
    """Numbers reach templates as float64 (v4) or json.Number (v3.18): the
    templates must not depend on which."""
    renders = []
    for major in ("v4", "v3"):
        version, path = HELMS[major]
        os.makedirs(os.path.join(tmp_root, version), exist_ok=True)
        h = Helm(version, path, os.path.join(tmp_root, version))
        renders.append(without_host_key(h.template(merge(keys, MATRIX[case]))))
    assert renders[0] == renders[1]


def test_service_traffic_policy_and_load_balancer_fields(helm, keys):
    """externalTrafficPolicy only where there is external traffic (NodePort,
    LoadBalancer; the API refuses it on ClusterIP), the load balancer fields
    only on a LoadBalancer."""
    extras = {"externalTrafficPolicy": "Local", "loadBalancerClass": "example.com/lb",
              "loadBalancerIP": "192.0.2.10"}
    spec = find(render(helm, keys, {"service": dict(extras, type="LoadBalancer")}),
                "Service")["spec"]
    assert {k: spec[k] for k in extras} == extras
    spec = find(render(helm, keys, {"service": dict(extras, type="NodePort")}), "Service")["spec"]
    assert spec["externalTrafficPolicy"] == "Local"
    assert "loadBalancerClass" not in spec and "loadBalancerIP" not in spec
    spec = find(render(helm, keys, {"service": extras}), "Service")["spec"]
    assert not set(extras) & set(spec), spec
    spec = find(render(helm, keys, {"service": {"type": "LoadBalancer"}}), "Service")["spec"]
    assert not set(extras) & set(spec), spec


def test_runtime_class(helm, keys):
    assert "runtimeClassName" not in pod_spec(render(helm, keys))
    spec = pod_spec(render(helm, keys, {"runtimeClassName": "gvisor"}))
    assert spec["runtimeClassName"] == "gvisor"


def test_omit_ids_leaves_the_ids_to_the_platform(helm, keys):
    """OpenShift's restricted-v2 assigns uid, gid and fsGroup and refuses
    others: with omitIds neither the workspace pod nor the helm test pod
    names any, and the test pod can write its own passwd entry."""
    objects = render(helm, keys, {"podSecurityContext": {"omitIds": True}})
    assert pod_spec(objects)["securityContext"] == {
        "runAsNonRoot": True, "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"}}
    test_pod = find(objects, "Pod")["spec"]
    assert test_pod["securityContext"] == {"runAsNonRoot": True,
                                           "seccompProfile": {"type": "RuntimeDefault"}}
    mounts = {m["mountPath"] for m in test_pod["containers"][0]["volumeMounts"]}
    assert mounts == {"/tmp", "/run"}
    assert "/run/ssh-workspace/passwd" in test_pod["containers"][0]["command"][-1]
    for c in pod_spec(objects)["containers"] + test_pod["containers"]:
        assert "runAsUser" not in c["securityContext"] and "runAsGroup" not in c["securityContext"]
    # the chart's own rule (a runAsUser everywhere) is what omitIds gives up
    assert restricted.problems(objects, ids_assigned=True) == []
    assert all("runAsUser must be set" in p for p in restricted.problems(objects)), \
        restricted.problems(objects)
    default = find(render(helm, keys), "Pod")["spec"]
    assert default["securityContext"]["runAsUser"] == 65534
    assert [m["mountPath"] for m in default["containers"][0]["volumeMounts"]] == ["/tmp"]


def test_tcp_route(helm, keys):
    """kubernetes-models has no Gateway API schemas (validate.js skips the
    kind): the route's shape is checked here against the v1alpha2 TCPRoute
    fields the chart uses."""
    assert [o for o in render(helm, keys) if o["kind"] == "TCPRoute"] == []
    refs = [{"name": "gw", "namespace": "gateways", "sectionName": "ssh"}]
    objects = render(helm, keys, {"tcpRoute": {"enabled": True, "parentRefs": refs},
                                  "service": {"port": 2200}})
    route = find(objects, "TCPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1alpha2"
    assert route["metadata"]["name"] == "ws-ssh-workspace"
    assert route["metadata"]["labels"]["app.kubernetes.io/instance"] == "ws"
    assert route["spec"] == {"parentRefs": refs, "rules": [
        {"backendRefs": [{"name": "ws-ssh-workspace", "port": 2200}]}]}
    service = find(objects, "Service")
    assert service["metadata"]["name"] == "ws-ssh-workspace"
    assert service["spec"]["ports"][0]["port"] == 2200


def test_readme_ingress_nginx_example_names_the_service(helm, keys):
    """The tcp-services example points at what the chart creates for
    release ws in namespace ws."""
    with open(os.path.join(CHART, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("**ingress-nginx**"):]
    target = re.search(r'"2222": "([^"]+)"', section).group(1)
    assert f"--set tcp.2222={target}" in section
    service = find(render(helm, keys, namespace="ws"), "Service")
    assert target == f"ws/{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


def test_node_port(helm4, keys):
    svc = find(render(helm4, keys, {"service": {"type": "NodePort", "nodePort": 30022}}), "Service")
    assert svc["spec"]["ports"][0]["nodePort"] == 30022
    svc = find(render(helm4, keys, {"service": {"type": "ClusterIP", "nodePort": 30022}}), "Service")
    assert "nodePort" not in svc["spec"]["ports"][0]


def test_package_push_and_pull_through_a_registry(helm, registry, tmp_path):
    """helm push to a registry (Debian's docker-registry on 127.0.0.1, plain
    HTTP) and helm pull back: the same bytes, with Helm's OCI media types."""
    helm.run("package", CHART, "--destination", str(tmp_path))
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        version = yaml.safe_load(f)["version"]
    tgz = tmp_path / f"ssh-workspace-{version}.tgz"
    # one repository per helm version: each run pushes and pulls its own
    url = f"oci://{registry.host}/{helm.version}/charts"
    r = helm.run("push", str(tgz), url, "--plain-http")
    found = registry.manifest(f"{helm.version}/charts/ssh-workspace", version)
    assert found, f"{r.stdout}{r.stderr}\n{registry.log()}"
    digest, manifest = found
    assert f"Digest: {digest}" in r.stdout + r.stderr
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.helm.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == \
        ["application/vnd.cncf.helm.chart.content.v1.tar+gzip"]
    out = tmp_path / "pulled"
    out.mkdir()
    helm.run("pull", f"{url}/ssh-workspace", "--version", version, "--plain-http",
             "--destination", str(out))
    assert (out / tgz.name).read_bytes() == tgz.read_bytes(), r.stdout + r.stderr
