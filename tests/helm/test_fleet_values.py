"""Fleet-mode values the chart must refuse, each with a message naming the
value: user names that are not gateway user names, missing or unusable
keys (the single workspace's own check, per user), values that only the
single workspace has, and hook settings the fleet's idle stop needs."""
import pytest

from test_values import SCHEMA_HEADER, failure, key_lines, keylines  # noqa: F401


def fleet(client_key, users=None, **extra):
    values = {"fleet": {"enabled": True},
              "users": users if users is not None else {"alice": {"keys": client_key[1]}}}
    values.update(extra)
    return values


@pytest.mark.parametrize("name", ["Alice", "al-ice", "a" * 33, "al_ice", "al.ice"])
def test_user_names_are_gateway_user_names(helm, client_key, name):
    out = failure(helm, fleet(client_key, {name: {"keys": client_key[1]}}))
    assert SCHEMA_HEADER in out and name in out, out


def test_a_32_character_name_is_fine(helm, client_key):
    objects = helm.template(fleet(client_key, {"a" * 32: {"keys": client_key[1]}}))
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert list(secret["data"]) == ["a" * 32]


def test_keys_are_required(helm, client_key):
    out = failure(helm, fleet(client_key, {"alice": {"homeSize": "1Gi"}}))
    assert SCHEMA_HEADER in out and "keys" in out, out
    out = failure(helm, fleet(client_key, {"alice": {"keys": " \n"}}))
    assert "users.alice.keys is required: that user's public key(s), e.g. " \
           "--set-file users.alice.keys=alice.pub" in out, out
    out = failure(helm, fleet(client_key, {"alice": {"keys": "# nothing\n"}}))
    assert "users.alice.keys has no public key line" in out, out


@pytest.mark.parametrize("name", keylines.BAD_IDS)
def test_a_bad_key_line_is_refused_by_number(helm, client_key, key_lines, name):  # noqa: F811
    _id, line, says, _entrypoint_says = keylines.bad_line(key_lines, name)
    text = client_key[1].strip() + "\n" + line + "\n"
    out = failure(helm, fleet(client_key, {"alice": {"keys": client_key[1]},
                                           "bob": {"keys": text}}))
    assert "users.bob.keys has lines the server would not accept" in out, out
    assert "line 2" in out and says in out, out


def test_at_least_one_user(helm, client_key):
    out = failure(helm, fleet(client_key, {}))
    assert "fleet.enabled needs at least one user in users" in out, out


@pytest.mark.parametrize("values,message", [
    ({"ssh": {"publicKeys": {"authorizedKeys": "x"}}},
     "ssh.publicKeys.authorizedKeys is for the single workspace"),
    ({"ssh": {"publicKeys": {"existingSecret": "keys"}}},
     "ssh.publicKeys.existingSecret is for the single workspace"),
    ({"ssh": {"hostKey": {"existingSecret": "hk"}}},
     "ssh.hostKey.existingSecret is for the single workspace"),
    ({"persistence": {"existingClaim": "home"}},
     "persistence.existingClaim is for the single workspace"),
    ({"hostPort": {"enabled": True}}, "hostPort is for the single workspace"),
    ({"agent": {"sidecar": {"enabled": True, "keysSecret": "k"}}},
     "agent.sidecar is for the single workspace"),
    ({"hooks": {"extraConfig": "activity_dir = /tmp/a"}},
     "hooks.extraConfig line 1 sets 'activity_dir', which the chart already sets from "
     "fleet.enabled"),
    ({"podLabels": {"ssh-workspace/gateway": "other"}},
     "podLabels must not set ssh-workspace/gateway"),
    ({"tests": {"fleetUser": "bob", "privateKeySecret": "k"}},
     'tests.fleetUser "bob" is not in users'),
    ({"tests": {"fleetUser": "alice"}}, "tests.fleetUser needs tests.privateKeySecret"),
], ids=["keys", "keys-secret", "host-key", "claim", "host-port", "sidecar", "activity-dir",
        "pod-label", "test-user", "test-key"])
def test_single_workspace_values_are_refused(helm, client_key, values, message):
    out = failure(helm, fleet(client_key, **values))
    assert message in out, out


@pytest.mark.parametrize("gateway,word", [
    ({"idleStop": "soon"}, "idleStop"), ({"idleStop": "1d"}, "idleStop"), ({"maxPerUser": 0}, "maxPerUser"),
    ({"wakeTimeout": "2m"}, "wakeTimeout"), ({"host": "gw example"}, "host"),
    ({"kubernetes": {"objectPrefix": "WS_"}}, "objectPrefix"),
    ({"networkPolicy": {"apiServer": {"ports": []}}}, "ports"),
    ({"persistance": {}}, "persistance"),
])
def test_gateway_schema(helm, client_key, gateway, word):
    out = failure(helm, fleet(client_key, gateway=gateway))
    assert SCHEMA_HEADER in out and word in out, out


@pytest.mark.parametrize("user,word", [
    ({"mayCreate": "yes"}, "mayCreate"), ({"maxWorkspaces": 0}, "maxWorkspaces"),
    ({"homeSize": "big"}, "homeSize"), ({"home": "1Gi"}, "home"),
])
def test_user_schema(helm, client_key, user, word):
    out = failure(helm, fleet(client_key, {"alice": dict(user, keys=client_key[1])}))
    assert SCHEMA_HEADER in out and word in out, out


@pytest.mark.parametrize("idle,seconds", [("9", 9), ("9s", 9), ("169h", 608400),
                                          ("10081m", 604860)])
def test_idle_stop_range_is_the_gateways(helm, client_key, idle, seconds):
    out = failure(helm, fleet(client_key, gateway={"idleStop": idle}))
    assert f"gateway.idleStop {idle} is {seconds} seconds: the gateway takes 10 s to 7 days" \
        in out, out


@pytest.mark.parametrize("idle", ["off", "10", "10s", "168h", "10080m", "30m"])
def test_idle_stop_in_range_renders(helm, client_key, idle):
    objects = helm.template(fleet(client_key, gateway={"idleStop": idle}))
    conf = next(o for o in objects if o["kind"] == "ConfigMap" and
                o["metadata"]["name"].endswith("-gateway-hooks"))["data"]["gateway.conf"]
    assert f"\ngateway_idle_stop = {idle}\n" in conf


def test_a_user_named_default_has_no_template_of_its_own(helm, client_key):
    out = failure(helm, fleet(client_key, {"default": {"keys": client_key[1],
                                                       "homeSize": "1Gi"}}))
    assert "users.default cannot have a homeSize or resources of its own" in out, out
    # without overrides the name is fine: default.json is its template anyway
    objects = helm.template(fleet(client_key, {"default": {"keys": client_key[1]}}))
    templates = next(o for o in objects if o["kind"] == "ConfigMap" and
                     o["metadata"]["name"].endswith("-kube-templates"))["data"]
    assert list(templates) == ["default.json"]


def test_templates_must_fit_in_a_configmap(helm, client_key):
    """Each user with a homeSize or resources adds a template of about
    3.5 KB; a ConfigMap holds 1 MiB."""
    users = {f"user{i:03d}": {"keys": client_key[1], "resources": {"limits": {"memory": "4Gi"}}}
             for i in range(300)}
    out = failure(helm, fleet(client_key, users))
    assert "the workspaces' templates take" in out and \
        "more than a ConfigMap holds (1 MiB)" in out, out
    objects = helm.template(fleet(client_key, dict(list(users.items())[:250])))
    data = next(o for o in objects if o["kind"] == "ConfigMap" and
                o["metadata"]["name"].endswith("-kube-templates"))["data"]
    assert len(data) == 251 and sum(len(k) + len(v) for k, v in data.items()) < 1000000
