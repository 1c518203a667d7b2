"""Fixtures for the Helm chart tests: helm v4 and v3 (tests/helm/fetch-helm.sh),
rendering with a values file, the Kubernetes schema check (validate.js with
kubernetes-models), a client key for the authorized keys, and a registry
(Debian's docker-registry) on 127.0.0.1 to push to and pull from."""
import importlib.util
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(REPO, "helm", "ssh-workspace")

_spec = importlib.util.spec_from_file_location(
    "integration_helpers", os.path.join(REPO, "tests", "integration", "conftest.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
free_port, wait_for = _helpers.free_port, _helpers.wait_for

# Shared with the image tests (tests/image): podman() with the same
# containers.conf as the image build (container-image/build.sh), the image.
_spec = importlib.util.spec_from_file_location(
    "podman_cli", os.path.join(REPO, "tests", "podman_cli.py"))
_podman_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_podman_cli)
podman, IMAGE, PODMAN_CONF = _podman_cli.podman, _podman_cli.IMAGE, _podman_cli.PODMAN_CONF


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


class Registry:
    """The CNCF distribution registry (Debian's docker-registry) on
    127.0.0.1 at a free port: plain HTTP, no auth, its config and storage in
    a directory of the test's.  Started at once (ready within START_TIMEOUT
    seconds, or the test fails with its log); stop() ends it."""

    BINARY = "/usr/bin/docker-registry"
    START_TIMEOUT = 20
    MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                      "application/vnd.docker.distribution.manifest.v2+json")

    # no proxy from the environment for 127.0.0.1
    _opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __init__(self, directory):
        self.dir = directory
        self.proc = None
        # the port is free when picked; another process may take it before
        # the registry binds it: then a new port
        for _attempt in range(3):
            self.port = free_port()
            self.host = f"127.0.0.1:{self.port}"
            self.log_path = os.path.join(directory, f"registry-{self.port}.log")
            self._start()
            state = wait_for(self._ready, self.START_TIMEOUT)
            if state == "ready":
                return
            self.stop()
            if state != "exited":
                break
        raise AssertionError(f"no registry on {self.host} within {self.START_TIMEOUT}s:\n"
                             f"{self.log()}")

    def _start(self):
        storage = os.path.join(self.dir, "storage")
        os.makedirs(storage, exist_ok=True)
        config = {"version": 0.1,
                  "log": {"level": "error", "accesslog": {"disabled": True}},
                  "storage": {"filesystem": {"rootdirectory": storage}},
                  "http": {"addr": self.host, "secret": uuid.uuid4().hex}}
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        # REGISTRY_* variables would override the config file
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.BINARY, "serve", path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=env)

    def _ready(self):
        if self.proc.poll() is not None:
            return "exited"
        try:
            with self._opener.open(self.url(""), timeout=2) as r:
                return "ready" if r.status == 200 else None
        except OSError:
            return None

    def url(self, path):
        return f"http://{self.host}/v2/{path}"

    def manifest(self, repo, ref):
        """(digest, manifest) of repo:ref, or None if the registry has none."""
        req = urllib.request.Request(self.url(f"{repo}/manifests/{ref}"),
                                     headers={"Accept": ", ".join(self.MANIFEST_TYPES)})
        try:
            with self._opener.open(req, timeout=10) as r:
                return r.headers["Docker-Content-Digest"], json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="session")
def registry(tmp_root):
    d = os.path.join(tmp_root, "registry")
    os.makedirs(d)
    r = Registry(d)
    yield r
    r.stop()


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
