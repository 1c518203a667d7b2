"""The Kubernetes backend (ws-gateway-kube) after things went wrong: a pod
that never got Ready, a create left half-done, a StatefulSet made again
under the same name, and the limits that keep each call within the time
the gateway gives it (kube_backend.py has what every test shares)."""
import time

from conftest import wait_for
from kube_backend import image_of, kube  # noqa: F401


def test_a_start_that_never_gets_ready_stops_it_again(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff", 'Back-off pulling image "nope:1"')
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "2"})
    assert line.startswith("pod ws-alice-0 not Ready after 2 s: ImagePullBackOff"), line
    assert line.endswith("; stopped it again"), line
    assert kube.sts("alice")["spec"]["replicas"] == 0
    patch = kube.api.calls("patch", "statefulsets")[-1]
    assert patch["code"] == 200
    assert kube.ok("list") == "alice stopped\n"


def test_a_start_replaces_the_template_of_a_pod_that_is_not_ready(kube):
    # left at 1 replica with a pod that does not start (as an older
    # backend did): the next start brings the template of now
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.waiting = ("ImagePullBackOff", "Back-off pulling image")
    sts = kube.sts("alice")
    kube.api.store.replace("statefulsets", dict(sts, spec=dict(sts["spec"], replicas=1)))
    assert wait_for(lambda: kube.get("pods", "ws-alice-0") is not None, timeout=10)
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.1"))
    kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "1"})
    assert image_of(kube.sts("alice")) == "registry.example/ssh-workspace:0.9.1"


def test_a_start_without_a_pod_replaces_the_template_too(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.api.controller.pod_delay = 3600
    sts = kube.sts("alice")
    kube.api.store.replace("statefulsets", dict(sts, spec=dict(sts["spec"], replicas=1)))
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.2"))
    line = kube.refused("start", "alice", env={"WS_KUBE_READY_TIMEOUT": "1"})
    assert "no pod" in line
    assert image_of(kube.sts("alice")) == "registry.example/ssh-workspace:0.9.2"


def test_a_start_of_a_ready_pod_leaves_its_template_alone(kube):
    kube.create("alice")
    kube.keys("alice")
    kube.ok("start", "alice")
    kube.write_template(kube.template(image="registry.example/ssh-workspace:0.9.3"))
    before = time.monotonic()
    kube.ok("start", "alice")
    assert time.monotonic() - before < 10
    assert image_of(kube.sts("alice")) != "registry.example/ssh-workspace:0.9.3"
