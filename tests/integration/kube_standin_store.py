"""The stand-in Kubernetes API server's objects (kube_standin.py): one
namespace kept in memory with what the real API server adds (uid,
resourceVersion from one counter, creationTimestamp, generation, the
defaults the backend relies on), its change log for watches, JSON Patch,
label and field selectors, the schema check (tests/helm/validate.js) and a
StatefulSet controller that makes, readies and removes pod OBJECT-0."""
import base64
import copy
import datetime
import json
import os
import re
import subprocess
import threading
import time
import uuid

HERE = os.path.dirname(os.path.realpath(__file__))
VALIDATE_JS = os.path.join(os.path.dirname(HERE), "helm", "validate.js")

# resource -> (API group, version, kind)
RESOURCES = {
    "statefulsets": ("apps", "v1", "StatefulSet"),
    "pods": ("", "v1", "Pod"),
    "secrets": ("", "v1", "Secret"),
    "persistentvolumeclaims": ("", "v1", "PersistentVolumeClaim"),
}
# What an update may change in a StatefulSet's spec (the real server
# refuses the rest: "updates to statefulset spec for fields other than ...")
STS_MUTABLE = {"replicas", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
               "minReadySeconds", "ordinals", "revisionHistoryLimit"}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class ApiError(Exception):
    """A refusal, answered as a metav1.Status with this code and reason."""

    def __init__(self, code, reason, message, resource="", name="", location=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.resource, self.name, self.location = resource, name, location

    def status(self):
        return status_body(self.code, self.reason, self.message, self.resource, self.name)


def status_body(code, reason, message, resource="", name=""):
    group = RESOURCES.get(resource, ("",))[0]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason,
            "details": {"name": name, "group": group, "kind": resource}, "code": code}


def qualified(resource, name):
    """statefulsets.apps "ws-alice", as the real server names an object."""
    group = RESOURCES.get(resource, ("",))[0]
    return f'{resource}{"." + group if group else ""} "{name}"'


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def schema_errors(obj):
    """tests/helm/validate.js on obj (without its status, which the API
    server owns): None if valid, else its complaint."""
    body = copy.deepcopy(obj)
    body.pop("status", None)
    r = subprocess.run(["node", VALIDATE_JS], input=json.dumps([body]), capture_output=True,
                       text=True, cwd=os.path.dirname(VALIDATE_JS), timeout=60)
    if r.returncode == 0 and r.stdout.startswith("ok "):
        return None
    return (r.stdout + r.stderr).strip() or f"validate.js exited {r.returncode}"


def meta_errors(resource, obj):
    """What the real server's own validation refuses that the schemas do not
    express: names, label syntax, Secret data that is not base64, a
    StatefulSet selector that does not select its template."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        return f"metadata.name: Invalid value: {name!r}"
    for k, v in (meta.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            return f"metadata.labels: Invalid value: {v!r}"
        if not LABEL_NAME.match(k) or len(k.split("/")[-1]) > 63:
            return f"metadata.labels: Invalid value: {k!r}"
    if resource == "secrets":
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(v, validate=True)
            except (ValueError, TypeError):
                return f"data[{k}]: illegal base64 data"
    if resource == "statefulsets":
        spec = obj.get("spec") or {}
        want = ((spec.get("selector") or {}).get("matchLabels") or {})
        have = (((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
        if not want or any(have.get(k) != v for k, v in want.items()):
            return "spec.template.metadata.labels: Invalid value: `selector` does not match " \
                   "template `labels`"
    return None


# JSON Patch (RFC 6902): the ops the real server takes, less move and copy
def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _child(node, key, path):
    if isinstance(node, dict) and key in node:
        return node[key]
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    raise ApiError(422, "Invalid", f"doc is missing path: {path!r}")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "a JSON Patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path")
        if not isinstance(path, str):
            raise ApiError(422, "Invalid", f"operation {kind!r} has no path")
        keys = _pointer(path)
        if not keys:
            raise ApiError(422, "Invalid", "a patch of the whole object is not taken")
        parent = doc
        for key in keys[:-1]:
            parent = _child(parent, key, path)
        last = keys[-1]
        if kind == "test":
            if _child(parent, last, path) != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value {path} failed: test failed")
        elif kind in ("replace", "remove"):
            _child(parent, last, path)  # must exist
            if kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            else:
                parent[int(last) if isinstance(parent, list) else last] = op.get("value")
        elif kind == "add":
            if isinstance(parent, dict):
                parent[last] = op.get("value")
            elif isinstance(parent, list) and last == "-":
                parent.append(op.get("value"))
            elif isinstance(parent, list) and last.isdigit() and int(last) <= len(parent):
                parent.insert(int(last), op.get("value"))
            else:
                raise ApiError(422, "Invalid", f"add operation does not apply: {path!r}")
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON Patch operation {kind!r}")
    return doc


def label_selector(text):
    """A predicate on labels for `k=v,k!=v,k,!k` (the equality-based form)."""
    terms = []
    for term in filter(None, text.split(",")):
        m = re.fullmatch(r"([^=!]+?)(==|=|!=)([^=!]*)", term)
        if m:
            terms.append((m.group(1), m.group(2) != "!=", m.group(3)))
        elif re.fullmatch(r"!?[A-Za-z0-9./_-]+", term):
            terms.append((term.lstrip("!"), not term.startswith("!"), None))
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")

    def match(labels):
        for key, positive, value in terms:
            if value is None:
                if (key in labels) != positive:
                    return False
            elif (labels.get(key) == value) != positive:
                return False
        return True
    return match


def field_selector(text):
    """metadata.name=X and metadata.namespace=X, the fields the backend uses."""
    terms = []
    for term in filter(None, text.split(",")):
        m = re.fullmatch(r"(metadata\.name|metadata\.namespace)(==|=)(.*)", term)
        if not m:
            raise ApiError(400, "BadRequest", f"field label not supported: {term!r}")
        terms.append((m.group(1).split(".")[1], m.group(3)))
    return lambda meta: all(meta.get(k) == v for k, v in terms)


class Store:
    """The namespace's objects and their change log.  All under one lock
    (a Condition: watches wait on it for the next change)."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.cond = threading.Condition()
        self.rv = 0
        self.objects = {}  # (resource, name) -> object
        self.log = []      # (rv, resource, event type, object)
        self.gc_delay = 0.3  # the garbage collector works in the background

    def _changed(self, resource, kind, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.log.append((self.rv, resource, kind, copy.deepcopy(obj)))
        self.cond.notify_all()

    def get(self, resource, name):
        with self.cond:
            obj = self.objects.get((resource, name))
            return copy.deepcopy(obj) if obj else None

    def items(self, resource):
        with self.cond:
            return [copy.deepcopy(o) for (r, n), o in sorted(self.objects.items()) if r == resource]

    def create(self, resource, obj):
        group, version, kind = RESOURCES[resource]
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = f"{group}/{version}" if group else version
        obj["kind"] = kind
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if meta.get("resourceVersion") or meta.get("uid"):
            raise ApiError(400, "BadRequest", "resourceVersion and uid may not be set on create")
        with self.cond:
            if (resource, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f"{qualified(resource, name)} already exists",
                               resource, name)
            meta.update(namespace=self.namespace, uid=str(uuid.uuid4()),
                        creationTimestamp=now_rfc3339(), generation=1)
            if resource == "statefulsets":
                obj["spec"].setdefault("replicas", 1)
                obj["status"] = {"replicas": 0, "availableReplicas": 0}
            self.objects[(resource, name)] = obj
            self._changed(resource, "ADDED", obj)
            return copy.deepcopy(obj)

    def replace(self, resource, obj):
        """Stores a changed object (the caller read it under the same lock or
        checks resourceVersion itself); bumps generation on a spec change."""
        with self.cond:
            key = (resource, obj["metadata"]["name"])
            old = self.objects[key]
            if old.get("spec") != obj.get("spec"):
                obj["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            self.objects[key] = obj
            self._changed(resource, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def remove(self, resource, name):
        """Deletes now; its dependents (ownerReferences) go gc_delay seconds
        later, as the garbage collector takes them after a Background delete."""
        with self.cond:
            obj = self.objects.pop((resource, name), None)
            if obj is None:
                return None
            self._changed(resource, "DELETED", obj)
        if self.gc_delay:
            collector = threading.Timer(self.gc_delay, self._collect, (obj["metadata"]["uid"],))
            collector.daemon = True
            collector.start()
        else:
            self._collect(obj["metadata"]["uid"])
        return copy.deepcopy(obj)

    def _collect(self, uid):
        with self.cond:
            for (r, n), other in list(self.objects.items()):
                refs = other["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    self.remove(r, n)

    def changes_after(self, resource, rv, timeout):
        """The log entries of resource after rv, waiting up to timeout for one."""
        with self.cond:
            def pending():
                return [e for e in self.log if e[0] > rv and e[1] == resource]
            found = pending()
            if not found:
                self.cond.wait(timeout)
                found = pending()
            return found


def owner(sts):
    """The ownerReference the StatefulSet controller puts on what it makes."""
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": sts["metadata"]["name"],
            "uid": sts["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Controller:
    """What the StatefulSet controller and the kubelet do for pod OBJECT-0:
    replicas >= 1 makes the pod from spec.template (and PVCs from the
    volumeClaimTemplates, kept after), Ready after `ready_delay` seconds with
    `pod_ip`, or never Ready with `waiting` = (reason, message) on its
    containers or `unschedulable` = message (the pod appears `pod_delay`
    seconds after replicas is raised, as it takes the controller a moment);
    replicas 0 marks the pod
    deleting, and it goes `delete_delay` seconds later.  `on_ready(pod)` and
    `on_gone(pod)`, when set, run as the pod turns Ready and as the
    controller removes it (what runs "in" the pod, e.g. a real server)."""

    def __init__(self, store):
        self.store = store
        self.pod_delay = 0.3
        self.ready_delay = 0.5
        self.delete_delay = 0.5
        self.pod_ip = "127.0.0.1"
        self.waiting = None
        self.unschedulable = None
        self.on_ready = None
        self.on_gone = None
        self.pods_made = []
        self.errors = []  # what went wrong in the controller's thread
        self._since = {}  # pod name -> when it was made or marked deleting
        self._wanted = {}  # StatefulSet uid -> when its replicas were first seen >= 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self):
        while not self._stop.wait(0.05):
            for sts in self.store.items("statefulsets"):
                try:
                    self._reconcile(sts)
                except Exception as e:  # the test sees it (kube_backend.py)
                    error = f"controller: {sts['metadata']['name']}: {e!r}"
                    if error not in self.errors:
                        self.errors.append(error)

    def _reconcile(self, sts):
        name = sts["metadata"]["name"]
        pod_name = name + "-0"
        with self.store.cond:
            if self.store.objects.get(("statefulsets", name)) is None:
                return
            pod = self.store.objects.get(("pods", pod_name))
            want = sts["spec"].get("replicas", 1) >= 1
            since = self._since.get(pod_name, 0)
            uid = sts["metadata"]["uid"]
            if not want:
                self._wanted.pop(uid, None)
            if pod is None and want:
                wanted = self._wanted.setdefault(uid, time.monotonic())
                if time.monotonic() - wanted >= self.pod_delay:
                    self._make_pod(sts, pod_name)
            elif pod is None:
                return
            elif pod["metadata"].get("deletionTimestamp"):
                if time.monotonic() - since >= self.delete_delay:
                    gone = self.store.remove("pods", pod_name)
                    if self.on_gone:
                        self.on_gone(gone)
                    self._status(name, 0)
            elif not want:
                pod = copy.deepcopy(pod)
                pod["metadata"]["deletionTimestamp"] = now_rfc3339()
                pod["metadata"]["deletionGracePeriodSeconds"] = 30
                self._since[pod_name] = time.monotonic()
                self.store.replace("pods", pod)
            elif not pod_ready(pod) and time.monotonic() - since >= self.ready_delay:
                self._progress(pod)

    def _status(self, name, ready):
        sts = copy.deepcopy(self.store.objects[("statefulsets", name)])
        want = {"replicas": 1 if ready or self.store.objects.get(("pods", name + "-0")) else 0,
                "availableReplicas": ready, "readyReplicas": ready,
                "observedGeneration": sts["metadata"]["generation"]}
        if sts.get("status") != want:
            sts["status"] = want
            self.store.replace("statefulsets", sts)

    def _make_pod(self, sts, pod_name):
        template = copy.deepcopy(sts["spec"]["template"])
        meta = template.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        labels.update({"statefulset.kubernetes.io/pod-name": pod_name,
                       "apps.kubernetes.io/pod-index": "0",
                       "controller-revision-hash": sts["metadata"]["name"] + "-5d8f9c7b6d"})
        spec = template.get("spec") or {}
        volumes = spec.setdefault("volumes", [])
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            cname = claim["metadata"]["name"]
            pvc_name = f"{cname}-{pod_name}"
            volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": pvc_name}})
            if ("persistentvolumeclaims", pvc_name) not in self.store.objects:
                pvc_labels = dict((claim.get("metadata") or {}).get("labels") or {})
                pvc_labels.update(sts["spec"]["selector"].get("matchLabels") or {})
                meta = {"name": pvc_name, "labels": pvc_labels}
                # persistentVolumeClaimRetentionPolicy whenDeleted Delete: the
                # claim is the StatefulSet's, collected with it
                policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
                if policy.get("whenDeleted") == "Delete":
                    meta["ownerReferences"] = [owner(sts)]
                self.store.create("persistentvolumeclaims", {
                    "metadata": meta,
                    "spec": copy.deepcopy(claim.get("spec") or {}),
                    "status": {"phase": "Bound"}})
        pod = {"metadata": {"name": pod_name, "labels": labels,
                            "annotations": dict(meta.get("annotations") or {}),
                            "ownerReferences": [owner(sts)]},
               "spec": spec,
               "status": {"phase": "Pending", "conditions": [
                   {"type": "PodScheduled", "status": "True"},
                   {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}}
        if self.unschedulable:
            pod["status"]["conditions"][0] = {"type": "PodScheduled", "status": "False",
                                              "reason": "Unschedulable",
                                              "message": self.unschedulable}
        self._since[pod_name] = time.monotonic()
        self.store.create("pods", pod)
        self.pods_made.append(copy.deepcopy(pod))
        self._status(sts["metadata"]["name"], 0)

    def _progress(self, pod):
        """A made pod after ready_delay: Ready, or stuck as configured."""
        pod = copy.deepcopy(pod)
        status = pod["status"]
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        if self.unschedulable:
            return
        if self.waiting:
            reason, message = self.waiting
            want = [{"name": n, "ready": False, "restartCount": 0, "image": "",
                     "state": {"waiting": {"reason": reason, "message": message}}}
                    for n in names]
            if status.get("containerStatuses") != want:
                status["containerStatuses"] = want
                self.store.replace("pods", pod)
            return
        if self.on_ready:
            self.on_ready(pod)
        status.update(phase="Running", podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}],
                      hostIP="127.0.0.1", startTime=now_rfc3339())
        status["conditions"] = [{"type": "PodScheduled", "status": "True"},
                                {"type": "Ready", "status": "True"}]
        status["containerStatuses"] = [
            {"name": n, "ready": True, "restartCount": 0, "image": "",
             "state": {"running": {"startedAt": now_rfc3339()}}} for n in names]
        self.store.replace("pods", pod)
        self._status(pod["metadata"]["ownerReferences"][0]["name"], 1)
