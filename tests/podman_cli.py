"""podman as the image tests (tests/image) and the chart's end-to-end tests
(tests/helm/test_e2e.py) run it: with the containers.conf the image build
uses (container-image/build.sh: host-containers.conf, or WS_PODMAN_CONF;
empty for podman's own), on the image the test run built (WS_IMAGE)."""
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.environ.get("WS_IMAGE", "localhost/ssh-workspace:test")
PODMAN_CONF = os.environ.get("WS_PODMAN_CONF",
                             os.path.join(REPO, "container-image", "host-containers.conf"))


def podman(*args, check=True, timeout=120, input=None):
    """Runs podman (stdin: input, else /dev/null); with check, a non-zero
    exit fails the test with podman's stderr."""
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=env(),
                       timeout=timeout, input=input,
                       **({} if input is not None else {"stdin": subprocess.DEVNULL}))
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


def env():
    """The environment podman runs in (its containers.conf)."""
    return dict(os.environ, **({"CONTAINERS_CONF": PODMAN_CONF} if PODMAN_CONF else {}))


def service(socket_path):
    """podman's API service on a Unix socket (a Popen; never times out by
    itself): for a client that drives podman remotely, as the gateway's
    podman backend does with WS_PODMAN_URL."""
    return subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
                            env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
