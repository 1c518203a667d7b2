"""Values the chart must refuse, each with a message that names the value:
missing or unusable authorized keys (template-time checks), wrong types,
out-of-range numbers and unknown keys (values.schema.json; helm v4 and v3.18
word schema errors differently), and inconsistent sidecar settings."""
import importlib.util
import os
import re

import pytest

from conftest import CHART, REPO

# The lines shared with the image's entrypoint tests: both apply one rule.
_spec = importlib.util.spec_from_file_location(
    "authorized_keys_lines", os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "authorized_keys_lines.py"))
keylines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keylines)

SCHEMA_HEADER = "values don't meet the specifications of the schema(s)"
MISSING_KEYS = ("ssh.publicKeys.authorizedKeys is required: set it to your public key(s), e.g. "
                "--set-file ssh.publicKeys.authorizedKeys=$HOME/.ssh/id_ed25519.pub")
NO_KEY_LINE = "ssh.publicKeys.authorizedKeys has no public key line"
BAD_LINES = "ssh.publicKeys.authorizedKeys has lines the server would not accept"


def failure(helm, values):
    r = helm.template(values, check=False)
    assert not isinstance(r, list), f"helm {helm.version} accepted {values}"
    assert r.returncode != 0
    return r.stdout + r.stderr


def test_missing_authorized_keys(helm):
    out = failure(helm, {})
    assert MISSING_KEYS in out, out


def test_lint_of_the_defaults_passes_and_names_the_missing_keys(helm):
    """helm lint renders in lint mode, where `fail` is reported, not fatal
    (so chart CI can lint the defaults)."""
    r = helm.lint({})
    assert "0 chart(s) failed" in r.stdout
    assert MISSING_KEYS in r.stdout + r.stderr


@pytest.mark.parametrize("text", ["", "   \n\t\n"], ids=["empty", "blank"])
def test_empty_authorized_keys(helm, text):
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert MISSING_KEYS in out, out


@pytest.mark.parametrize("text", ["# only a comment\n", "\n# two\n\n  # comments\n"],
                         ids=["comment", "comments"])
def test_authorized_keys_without_a_key_line(helm, text):
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert NO_KEY_LINE in out, out


@pytest.fixture(scope="session")
def key_lines(tmp_root):
    d = os.path.join(tmp_root, "key-lines")
    os.makedirs(d, exist_ok=True)
    return keylines.key_lines(d)


def test_every_line_the_server_accepts_renders(helm, key_lines):
    """Every key type the server accepts, options with quoted spaces and
    commas, comments and blank lines."""
    text = "# team\n\n" + "\n".join(keylines.good_lines(key_lines)) + "\n\n"
    objects = helm.template({"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert isinstance(objects, list), objects.stdout + objects.stderr


@pytest.mark.parametrize("name", keylines.BAD_IDS)
def test_a_line_the_server_would_skip_is_refused(helm, key_lines, name):
    """One bad line after a good key is enough to refuse the render: the
    running server would skip it, and the pod's next start would have the
    key missing (keys are not in the pod's checksums, so an upgrade that
    adds it does not restart the pod).  The line is named by number."""
    _, line, says, _ = keylines.bad_line(key_lines, name)
    text = f"# first a good one\n{key_lines['ed25519']}\n{line}\n"
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert BAD_LINES in out, out
    assert f"\nline 3" in out and says in out, out
    assert "line 2" not in out, out


def test_every_bad_line_is_named_at_once(helm, key_lines):
    bad = keylines.bad_lines(key_lines)
    text = key_lines["ed25519"] + "\n" + "\n".join(line for _, line, _, _ in bad) + "\n"
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    for n, (name, _, says, _) in enumerate(bad, start=2):
        assert any((ln.startswith(f"line {n} ") or ln.startswith(f"line {n}:")) and says in ln
                   for ln in out.splitlines()), f"{name} (line {n}) not named:\n{out}"


def test_a_key_past_line_300_is_refused(helm, key_lines):
    """The server reads the first 300 lines of the file, comments included."""
    text = key_lines["ed25519"] + "\n" + "# padding\n" * 299 + key_lines["rsa"] + "\n"
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert "line 301 (" in out and "past line 300, which the server never reads" in out, out


def test_private_key_text_is_refused_and_never_shown(helm, key_lines, tmp_root):
    """A public key followed by its private key (`cat id_ed25519.pub
    id_ed25519`), and the private key pasted onto one line: the block is
    named by its lines, its text is not repeated in the error."""
    private, public = keylines.private_key(tmp_root)
    n = len(private.splitlines())
    text = f"{public}\n{private}"
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": text}}})
    assert f"lines 2-{n + 1}: a private key block" in out, out
    one_line = f"{public}\n{key_lines['ed25519']} {' '.join(private.splitlines())}\n"
    out += failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": one_line}}})
    assert "line 2: private key text" in out, out
    for part in keylines.secret_parts(private):
        assert part[:16] not in out, out


def test_helm_install_refuses_missing_keys_too(helm4):
    r = helm4.run("install", "ws", helm4.template_args({})[2], "--dry-run=client", check=False)
    assert r.returncode != 0 and MISSING_KEYS in r.stderr, r.stderr


# (values, helm v4 message, helm v3.18 message)
SCHEMA_CASES = {
    "uid-string": ({"user": {"uid": "abc"}},
                   "at '/user/uid': got string, want integer",
                   "user.uid: Invalid type. Expected: integer, given: string"),
    "uid-zero": ({"user": {"uid": 0}},
                 "at '/user/uid': minimum: got 0, want 1",
                 "user.uid: Must be greater than or equal to 1"),
    "user-name": ({"user": {"name": "Alice"}},
                  "at '/user/name': 'Alice' does not match pattern",
                  "user.name: Does not match pattern"),
    "port-string": ({"ssh": {"port": "2222"}},
                    "at '/ssh/port': got string, want integer",
                    "ssh.port: Invalid type. Expected: integer, given: string"),
    "privileged-port": ({"ssh": {"port": 22}},
                        "at '/ssh/port': minimum: got 22, want 1,024",
                        "ssh.port: Must be greater than or equal to 1024"),
    "persistence-string": ({"persistence": {"enabled": "yes"}},
                           "at '/persistence/enabled': got string, want boolean",
                           "persistence.enabled: Invalid type. Expected: boolean, given: string"),
    "env-values-list": ({"env": {"values": ["A=b"]}},
                        "at '/env/values': got array, want object",
                        "env.values: Invalid type. Expected: object, given: array"),
    "env-name": ({"env": {"values": {"BAD-NAME": "x"}}},
                 "invalid propertyName 'BAD-NAME'",
                 'env.values: Property name of "BAD-NAME" does not match'),
    # the server's limit (plugins/envlist.c NAME_MAX_LEN): a longer name is
    # refused at every session, so the schema refuses it first
    "env-name-too-long": ({"env": {"values": {"A" * 256: "x"}}},
                          "maxLength: got 256, want 255",
                          "env.values: String length must be less than or equal to 255"),
    "crypto-profile": ({"ssh": {"cryptoProfile": "fast"}},
                       "at '/ssh/cryptoProfile': value must be one of 'modern', 'pq-only', 'compat'",
                       "ssh.cryptoProfile: ssh.cryptoProfile must be one of the following: "
                       '"modern", "pq-only", "compat"'),
    "service-type": ({"service": {"type": "Ingress"}},
                     "at '/service/type': value must be one of 'ClusterIP', 'NodePort', "
                     "'LoadBalancer'",
                     "service.type: service.type must be one of the following"),
    "numeric-tag": ({"image": {"tag": 2}},
                    "at '/image/tag': got number, want string",
                    "image.tag: Invalid type. Expected: string, given: integer"),
    "unknown-top-level": ({"persistance": {"enabled": True}},
                          "at '': additional properties 'persistance' not allowed",
                          "(root): Additional property persistance is not allowed"),
    "unknown-nested": ({"ssh": {"hostkey": {"existingSecret": "x"}}},
                       "at '/ssh': additional properties 'hostkey' not allowed",
                       "ssh: Additional property hostkey is not allowed"),
    "unknown-deep": ({"agent": {"sidecar": {"enable": True}}},
                     "at '/agent/sidecar': additional properties 'enable' not allowed",
                     "agent.sidecar: Additional property enable is not allowed"),
}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_schema_rejects(helm, client_key, case):
    values, v4_message, v3_message = SCHEMA_CASES[case]
    values = dict(values)
    values.setdefault("ssh", {})
    values["ssh"] = {**values["ssh"], "publicKeys": {"authorizedKeys": client_key[1]}}
    out = failure(helm, values)
    assert SCHEMA_HEADER in out, out
    assert (v4_message if helm.version.startswith("v4") else v3_message) in out, out


def test_schema_lists_every_problem_at_once(helm, client_key):
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}},
                         "user": {"uid": "abc"}, "persistance": {}})
    assert "persistance" in out and "uid" in out, out


def test_sidecar_needs_a_keys_secret_and_another_uid(helm, client_key):
    keys = {"authorizedKeys": client_key[1]}
    out = failure(helm, {"ssh": {"publicKeys": keys}, "agent": {"sidecar": {"enabled": True}}})
    assert "agent.sidecar.keysSecret is required when agent.sidecar.enabled is true" in out, out
    out = failure(helm, {"ssh": {"publicKeys": keys}, "user": {"uid": 1001},
                         "agent": {"sidecar": {"enabled": True, "keysSecret": "k"}}})
    assert "agent.sidecar.uid must differ from user.uid" in out, out


def test_existing_claim_needs_persistence(helm, client_key):
    """An existing claim with persistence off would be silently unused (the
    home an emptyDir): refused at render time."""
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}},
                         "persistence": {"enabled": False, "existingClaim": "my-home"}})
    assert "persistence.existingClaim (my-home) is set but persistence.enabled is false" in out, out


@pytest.mark.parametrize("label", ["app.kubernetes.io/name", "app.kubernetes.io/instance",
                                   "app.kubernetes.io/component"])
def test_pod_labels_do_not_replace_the_selected_ones(helm, client_key, label):
    out = failure(helm, {"ssh": {"publicKeys": {"authorizedKeys": client_key[1]}},
                         "podLabels": {label: "x"}})
    assert f"podLabels must not set {label}: the chart sets it" in out, out


def with_keys(client_key, values):
    return {**values, "ssh": {**values.get("ssh", {}),
                              "publicKeys": {"authorizedKeys": client_key[1]}}}


@pytest.mark.parametrize("name", ["root", "nobody", "_apt", "www-data", "daemon"])
def test_user_name_of_an_image_account(helm, client_key, name):
    """The entrypoint refuses a WS_USER that is a system account of the
    image ("is a system account of the image"): refused at render time."""
    out = failure(helm, with_keys(client_key, {"user": {"name": name}}))
    assert f'user.name "{name}" is a system account of the image' in out, out


def test_image_accounts_are_the_base_images():
    """The chart's list is debian:trixie-slim's /etc/passwd (the image adds
    no accounts); a change of base image must revisit it."""
    with open(os.path.join(REPO, "container-image", "Containerfile")) as f:
        bases = re.findall(r"^FROM (\S+)", f.read(), re.M)
    assert bases[-1] == "docker.io/library/debian:trixie-slim", bases
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    accounts = re.search(r'define "ssh-workspace.imageAccounts" -}}\n([^{]*)\n', helpers).group(1)
    assert accounts.split() == ["root", "daemon", "bin", "sys", "sync", "games", "man", "lp",
                                "mail", "news", "uucp", "proxy", "www-data", "backup", "list",
                                "irc", "_apt", "nobody"]


@pytest.mark.parametrize("port", [22, 2222, 29999, 32768, 65535])
def test_node_port_outside_the_range(helm, client_key, port):
    out = failure(helm, with_keys(client_key, {"service": {"type": "NodePort",
                                                           "nodePort": port}}))
    assert f"service.nodePort {port} is outside the node port range 30000-32767" in out, out


@pytest.mark.parametrize("port", [0, 30000, 32767])
def test_node_port_in_the_range(helm, client_key, port):
    helm.template(with_keys(client_key, {"service": {"type": "NodePort", "nodePort": port}}))


EXTRA_CONFIG_CASES = {
    "twice": ("activity_dir = /run/a\n# comment\n  activity_dir=/run/b\n", {},
              "hooks.extraConfig sets 'activity_dir' twice (lines 1 and 3): the hook library "
              "refuses a key set twice"),
    "chart-key": ("event_log = off\n", {},
                  "hooks.extraConfig line 1 sets 'event_log', which the chart already sets "
                  "from hooks.eventLog"),
    "chart-env-dir": ("env_dir = /x\n", {"env": {"values": {"A": "b"}}},
                      "hooks.extraConfig line 1 sets 'env_dir', which the chart already sets "
                      "from env.secrets, env.configMaps and env.values"),
    "chart-sidecar": ("agent_workspace_socket = /x\n",
                      {"agent": {"sidecar": {"enabled": True, "keysSecret": "k"}}},
                      "hooks.extraConfig line 1 sets 'agent_workspace_socket', which the chart "
                      "already sets from agent.sidecar.enabled"),
    "unknown": ("\nactivity_intervall = 5\n", {},
                "hooks.extraConfig line 2: unknown key 'activity_intervall'"),
    "crlf": ("activity_dir = /run/a\r\n", {},
             "hooks.extraConfig line 1: control character in line"),
    "not-key-value": ("activity_dir /run/a\n", {},
                      "hooks.extraConfig line 1: expected 'key = value', got \"activity_dir /run/a\""),
}


@pytest.mark.parametrize("case", EXTRA_CONFIG_CASES)
def test_extra_config_the_library_would_refuse(helm, client_key, case):
    text, values, message = EXTRA_CONFIG_CASES[case]
    out = failure(helm, with_keys(client_key, {**values, "hooks": {"extraConfig": text}}))
    assert message in out, out


def test_extra_config_the_library_takes(helm, client_key):
    """Keys the chart does not set, once each; env_dir is free without env
    sources (e.g. an extra volume)."""
    text = "# mine\n\nactivity_dir = /run/activity\n\tactivity_interval=30\nenv_dir = /mnt/env\n"
    objects = helm.template(with_keys(client_key, {"hooks": {"extraConfig": text}}))
    conf = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["hooks.conf"]
    assert "\tactivity_interval=30\nenv_dir = /mnt/env\n" in conf


def test_extra_config_keys_are_the_librarys():
    with open(os.path.join(REPO, "plugins", "config.c")) as f:
        source = f.read()
    table = source[source.index(" keys[] = {"):]
    table = table[:table.index("};")]
    library = re.findall(r'\{ "([a-z0-9_]+)",', table)
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    known = re.search(r'\$known := list ([^}]*)}}', helpers).group(1)
    assert re.findall(r'"([a-z0-9_]+)"', known) == library


def test_tcp_route_needs_parent_refs(helm, client_key):
    out = failure(helm, with_keys(client_key, {"tcpRoute": {"enabled": True}}))
    assert "tcpRoute.parentRefs is required when tcpRoute.enabled is true" in out, out


def test_omit_ids_and_the_sidecar(helm, client_key):
    out = failure(helm, with_keys(client_key, {
        "podSecurityContext": {"omitIds": True},
        "agent": {"sidecar": {"enabled": True, "keysSecret": "k"}}}))
    assert "agent.sidecar.enabled needs the uids: with podSecurityContext.omitIds" in out, out
