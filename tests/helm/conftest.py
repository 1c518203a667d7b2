"""Fixtures for the Helm chart tests: helm v4 and v3 (tests/helm/fetch-helm.sh),
rendering with a values file, the Kubernetes schema check (validate.js with
kubernetes-models) and a client key for the authorized keys."""
import json
import os
import subprocess
import tempfile

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(REPO, "helm", "ssh-workspace")


def _helm_binaries():
    r = subprocess.run([os.path.join(HERE, "fetch-helm.sh"), "--check"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or "fetch-helm.sh --check failed")
    found = {}
    for line in r.stdout.splitlines():
        version, path = line.split(" ", 1)
        found[version.split(".")[0]] = (version, path)
    return found


HELMS = _helm_binaries()


class Helm:
    def __init__(self, version, path, tmp):
        self.version, self.path, self.tmp = version, path, tmp
        # no kubeconfig, no repositories, no cache outside tmp
        self.env = dict(os.environ, HOME=tmp, KUBECONFIG=os.path.join(tmp, "no-kubeconfig"),
                        HELM_CACHE_HOME=os.path.join(tmp, "cache"),
                        HELM_CONFIG_HOME=os.path.join(tmp, "config"),
                        HELM_DATA_HOME=os.path.join(tmp, "data"))

    def run(self, *args, check=True, timeout=120):
        r = subprocess.run([self.path, *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"helm {self.version} {' '.join(args)} failed "
                                 f"({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def values_file(self, values):
        fd, path = tempfile.mkstemp(prefix="values-", suffix=".yaml", dir=self.tmp)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(values or {}, f)
        return path

    def template_args(self, values=None, release="ws", namespace="ws-test", chart=CHART,
                      extra=()):
        return ["template", release, chart, "--namespace", namespace,
                "-f", self.values_file(values), *extra]

    def template(self, values=None, check=True, **kw):
        """Renders the chart; returns the list of objects (or the failed run)."""
        r = self.run(*self.template_args(values, **kw), check=check)
        if r.returncode != 0:
            return r
        return [d for d in yaml.safe_load_all(r.stdout) if d]

    def lint(self, values=None, check=True):
        return self.run("lint", "--strict", CHART, "-f", self.values_file(values), check=check)


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="ws-helm-test-") as d:
        yield d


@pytest.fixture(scope="session", params=sorted(HELMS, reverse=True))
def helm(request, tmp_root):
    version, path = HELMS[request.param]
    d = os.path.join(tmp_root, version)
    os.makedirs(d, exist_ok=True)
    return Helm(version, path, d)


@pytest.fixture(scope="session")
def helm4(tmp_root):
    version, path = HELMS["v4"]
    d = os.path.join(tmp_root, version)
    os.makedirs(d, exist_ok=True)
    return Helm(version, path, d)


@pytest.fixture(scope="session")
def client_key(tmp_root):
    """An ed25519 client key pair: (private key path, public key line)."""
    path = os.path.join(tmp_root, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "chart-test",
                    "-f", path], check=True)
    with open(path + ".pub") as f:
        return path, f.read()


def validate_k8s(objects):
    """Runs validate.js on the objects; returns (ok, output)."""
    r = subprocess.run(["node", os.path.join(HERE, "validate.js")], input=json.dumps(objects),
                       capture_output=True, text=True, cwd=HERE, timeout=120)
    return r.returncode == 0, r.stdout + r.stderr


def find(objects, kind, name_suffix=""):
    hits = [o for o in objects if o["kind"] == kind and
            o["metadata"]["name"].endswith(name_suffix)]
    assert len(hits) == 1, f"expected one {kind} *{name_suffix}, got " \
                           f"{[o['metadata']['name'] for o in hits]}"
    return hits[0]


def pod_spec(objects):
    return find(objects, "Deployment")["spec"]["template"]["spec"]


def container(objects, name="workspace"):
    return next(c for c in pod_spec(objects)["containers"] if c["name"] == name)
