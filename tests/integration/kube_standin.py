"""A stand-in for the Kubernetes API server, for the tests of the gateway's
Kubernetes backend (ws-gateway-kube).  HTTPS on 127.0.0.1 (a port of its
own), with a CA and server certificate made by openssl in the test's
directory; a bearer token checked against the token file as it is at each
request (so a test can rotate it); one namespace of StatefulSets, Pods,
Secrets and PersistentVolumeClaims (kube_standin_store.py), watches, and
pod exec over WebSocket (kube_standin_ws.py).

What a test reads back: `requests` (every request with its Kubernetes verbs,
as RBAC sees them), `observed()` (the (verb, group, resource) set for the
RBAC comparison) and `problems` (what the real server would have refused
or what breaks the backend's rules: an object the schemas reject, a PATCH
without its label test, a DELETE without a uid precondition, ...), which a
test's teardown asserts empty.  What a test sets: `fail()` (answer a verb
and resource with 401, 403, 404, 409 or 500), `watch_faults` (the next
watches: "cut" mid-stream, "gone" = an ERROR event with a 410 Status, "end"
early), `exec_faults` (the next execs: kube_standin_ws.py), `page_size`
(lists come in pages), `path_prefix` (the API only under that path), `before[(verb, resource)]` (a function run once
before the next such request is answered), and the controller's pod
behaviour (`controller.ready_delay`, `pod_ip`, `waiting`, `unschedulable`)."""
import base64
import http.server
import json
import os
import re
import secrets
import ssl
import subprocess
import threading
import time
import urllib.parse

from kube_standin_store import (RESOURCES, STS_MUTABLE, ApiError, Controller, Store,
                                field_selector, json_patch, label_selector, meta_errors,
                                pod_ready, qualified, schema_errors, status_body)
from kube_standin_ws import handshake_error, serve_exec

GUARD_PATH = "/metadata/labels/ssh-workspace~1gateway"
PATH = re.compile(r"/(api/v1|apis/apps/v1)/namespaces/([^/]+)/([a-z]+)(?:/([^/]+)(?:/([a-z]+))?)?")
MAX_BODY = 4 << 20
SERVICE_ACCOUNT = "ws-gateway"


def make_certs(directory):
    """A CA and a certificate for 127.0.0.1 it signed, made by openssl in
    directory: returns the paths (ca.crt, server.crt, server.key)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=stand-in cluster CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=kube-apiserver")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-days", "2", "-out", "server.crt",
            "-extfile", "server.ext")
    return tuple(os.path.join(directory, f) for f in ("ca.crt", "server.crt", "server.key"))


# The verbs RBAC checks, by request: (method, names an object) or a special
# case.  An exec over WebSocket is a GET, authorized as create since
# Kubernetes 1.30 and as get before: both.
RBAC_VERBS = {
    ("GET", True): ("get",), ("GET", False): ("list",), "watch": ("watch",),
    ("POST", False): ("create",), ("PATCH", True): ("patch",), ("PUT", True): ("update",),
    ("DELETE", True): ("delete",), ("DELETE", False): ("deletecollection",),
    "exec upgrade": ("create", "get"), "exec POST": ("create",),
}


def verbs_of(method, name, sub, query, headers):
    """The verbs of this request (RBAC_VERBS), or None if it is not served."""
    if sub == "exec":
        key = "exec upgrade" if method == "GET" and headers.get("Upgrade") else "exec " + method
    elif sub:
        return None
    elif method == "GET" and not name and query.get("watch", [""])[0] in ("1", "true"):
        key = "watch"
    else:
        key = (method, bool(name))
    return RBAC_VERBS.get(key)


class StandIn:
    def __init__(self, directory, namespace="ws-test", token=None):
        self.dir = directory
        self.namespace = namespace
        self.token_file = os.path.join(directory, "token")
        self.set_token(token or secrets.token_urlsafe(32))
        self.ca_file, cert, key = make_certs(directory)
        self.store = Store(namespace)
        self.controller = Controller(self.store)
        self.lock = threading.Lock()
        self.requests = []
        self.problems = []
        self.failures = []
        self.watch_faults = []
        self.exec_faults = []
        self.before = {}
        self.page_size = None
        self.path_prefix = ""  # e.g. "/k8s/clusters/c-1": the API is served only under it
        self.tls_failures = 0
        self.stopping = False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd = TLSServer(("127.0.0.1", 0), Handler, ctx, self)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def env(self):
        """The backend's environment to reach this server."""
        return {"WS_KUBE_API": self.url, "WS_KUBE_TOKEN_FILE": self.token_file,
                "WS_KUBE_CA_FILE": self.ca_file, "WS_KUBE_NAMESPACE": self.namespace}

    def set_token(self, token):
        """Rotates the token: written aside and renamed over, as the kubelet
        swaps a projected token, so no reader sees half a file."""
        self.token = token
        tmp = self.token_file + ".new"
        with open(tmp, "w") as f:
            f.write(token)
        os.replace(tmp, self.token_file)

    def stop(self):
        self.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self.controller.stop()

    def fail(self, verb, resource, code, times=None, name=None, message=None, location=None):
        """Answer `verb` on `resource` (e.g. "pods/exec") with code, times
        times (None: always), for one object name or all; `location`: a
        Location header (a redirect)."""
        reasons = {302: "Found", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                   409: "Conflict", 500: "InternalError"}
        with self.lock:
            self.failures.append({"verb": verb, "resource": resource, "code": code,
                                  "reason": reasons.get(code, "Unknown"), "times": times,
                                  "name": name, "message": message, "location": location})

    def _injected(self, verbs, resource, name):
        with self.lock:
            for rule in self.failures:
                if rule["verb"] in verbs and rule["resource"] == resource and \
                        rule["name"] in (None, name) and rule["times"] != 0:
                    if rule["times"] is not None:
                        rule["times"] -= 1
                    return rule
        return None

    def run_before(self, verb, resource):
        with self.lock:
            hook = self.before.pop((verb, resource), None)
        if hook:
            hook()

    def next_watch_fault(self):
        with self.lock:
            return self.watch_faults.pop(0) if self.watch_faults else None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def calls(self, verb=None, resource=None, name=None):
        """The recorded requests with that verb, resource and name."""
        with self.lock:
            return [r for r in self.requests if verb in (None, *r["verbs"])
                    and resource in (None, r["resource"]) and name in (None, r["name"])]

    def observed(self):
        """{(verb, group, resource)} of every request made (group "core" for "")."""
        with self.lock:
            return {(v, r["group"], r["resource"]) for r in self.requests for v in r["verbs"]}

    def activity_dir(self, pod_name):
        """The directory that stands for the pod's /var/lib/ws-activity."""
        path = os.path.join(self.dir, "activity", pod_name)
        os.makedirs(path, exist_ok=True)
        return path


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, ctx, standin):
        self.ctx, self.standin = ctx, standin
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # the handshake in the request's thread, not the accepting one
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            with self.standin.lock:
                self.standin.tls_failures += 1
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-stand-in"
    timeout = 30

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.api("GET")

    def do_POST(self):
        self.api("POST")

    def do_PATCH(self):
        self.api("PATCH")

    def do_PUT(self):
        self.api("PUT")

    def do_DELETE(self):
        self.api("DELETE")

    def send_json(self, code, obj, entry=None, location=None):
        data = json.dumps(obj).encode()
        if entry is not None:
            entry["code"] = code
            entry["rv"] = (obj.get("metadata") or {}).get("resourceVersion")
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "BadRequest", "a chunked request body is not taken here")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(n) if n else b""

    def api(self, method):
        standin = self.server.standin
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if standin.path_prefix:  # the API behind a proxy's path, as Rancher serves it
            path = path[len(standin.path_prefix):] \
                if path.startswith(standin.path_prefix + "/") else ""
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        entry = {"method": method, "path": url.path, "query": query, "verbs": [], "group": None,
                 "resource": None, "name": None, "code": None, "body": None,
                 "time": time.monotonic()}
        try:
            try:
                body = self.read_body()
                m = PATH.fullmatch(path)
                prefix, ns, resource, name, sub = m.groups() if m else (None,) * 5
                if resource not in RESOURCES or \
                        (prefix == "apis/apps/v1") != (RESOURCES[resource][0] == "apps"):
                    standin.record(entry)
                    raise ApiError(404, "NotFound",
                                   "the server could not find the requested resource")
                verbs = verbs_of(method, name, sub, query, self.headers)
                entry.update(group=RESOURCES[resource][0] or "core", name=name,
                             verbs=list(verbs or ()),
                             resource=resource + (f"/{sub}" if sub else ""),
                             body=body.decode(errors="replace"))
                standin.record(entry)
                if verbs is None:
                    raise ApiError(405, "MethodNotAllowed",
                                   f"{method} {url.path} is not served here")
                self.authenticate(standin)
                if "application/json" not in self.headers.get("Accept", "") and sub != "exec":
                    standin.problem(f"{method} {url.path}: no Accept: application/json")
                if ns != standin.namespace:
                    raise self.forbidden(verbs[0], resource, name, ns, sub)
                standin.run_before(verbs[0], entry["resource"])
                rule = standin._injected(verbs, entry["resource"], name)
                if rule:
                    raise ApiError(rule["code"], rule["reason"], rule["message"] or (
                        self.forbidden(verbs[0], resource, name, ns, sub).message
                        if rule["code"] == 403 else f"injected {rule['code']} for "
                        f"{verbs[0]} {qualified(resource, name or '')}"), resource, name or "",
                        rule["location"])
                self.dispatch(standin, verbs[0], resource, name, sub, query, body, entry)
            except ApiError as e:
                self.send_json(e.code, e.status(), entry, e.location)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def authenticate(self, standin):
        with open(standin.token_file) as f:
            token = f.read()
        if self.headers.get("Authorization") != "Bearer " + token:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def forbidden(self, verb, resource, name, ns, sub=None):
        group = RESOURCES[resource][0]
        what = qualified(resource, name) if name else resource + (f".{group}" if group else "")
        full = resource + (f"/{sub}" if sub else "")
        return ApiError(403, "Forbidden", f'{what} is forbidden: User "system:serviceaccount:'
                        f'{ns}:{SERVICE_ACCOUNT}" cannot {verb} resource "{full}" in API '
                        f'group "{group}" in the namespace "{ns}"', resource, name or "")

    def dispatch(self, standin, verb, resource, name, sub, query, body, entry):
        store = standin.store
        if sub == "exec":
            return self.exec(standin, name, query, entry)
        if verb == "get":
            obj = store.get(resource, name)
            if obj is None:
                raise ApiError(404, "NotFound", f"{qualified(resource, name)} not found",
                               resource, name)
            return self.send_json(200, obj, entry)
        if verb in ("list", "watch"):
            labels = label_selector(query.get("labelSelector", [""])[0])
            fields = field_selector(query.get("fieldSelector", [""])[0])

            def match(obj):
                meta = obj["metadata"]
                return labels(meta.get("labels") or {}) and fields(meta)
            if verb == "watch":
                return self.watch(standin, resource, query, match, entry)
            return self.list(standin, resource, query, match, entry)
        if verb == "create":
            return self.send_json(201, self.create(standin, resource, self.json(body)), entry)
        if verb == "patch":
            return self.send_json(200, self.patch(standin, resource, name, body), entry)
        if verb == "delete":
            return self.send_json(200, self.delete(standin, resource, name, body), entry)
        raise ApiError(405, "MethodNotAllowed", f"{verb} is not served here")

    @staticmethod
    def json(body):
        try:
            return json.loads(body)
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"the body is not JSON: {e}")

    def check(self, standin, resource, obj, what):
        """The real server's validation: 422 (and a problem for the test)."""
        name = (obj.get("metadata") or {}).get("name") or ""
        if resource == "statefulsets" and len(name) > 52:
            # accepted by the API, but its pods' controller-revision-hash
            # label would pass 63 characters: they would never be created
            standin.problem(f"{what}: StatefulSet name {name!r} is longer than 52")
        error = meta_errors(resource, obj) or schema_errors(obj)
        if error:
            standin.problem(f"{what}: invalid {resource}/{name}: {error}")
            raise ApiError(422, "Invalid", f"{qualified(resource, name)} is invalid: {error}",
                           resource, name)

    def create(self, standin, resource, obj):
        group, version, kind = RESOURCES[resource]
        if not isinstance(obj, dict) or obj.get("kind") != kind or \
                obj.get("apiVersion") != (f"{group}/{version}" if group else version):
            raise ApiError(400, "BadRequest", f"the body is not a {kind} of this API")
        ns = (obj.get("metadata") or {}).get("namespace")
        if ns not in (None, standin.namespace):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                           "match the namespace sent on the request")
        self.check(standin, resource, obj, f"POST {resource}")
        return standin.store.create(resource, obj)

    def patch(self, standin, resource, name, body):
        ctype = self.headers.get("Content-Type", "")
        if ctype != "application/json-patch+json":
            standin.problem(f"PATCH {resource}/{name}: Content-Type {ctype!r}, not a JSON Patch")
            raise ApiError(415, "UnsupportedMediaType",
                           f"the patch type {ctype!r} is not taken here")
        ops = self.json(body)
        if not (isinstance(ops, list) and ops and ops[0].get("op") == "test"
                and ops[0].get("path") == GUARD_PATH):
            standin.problem(f"PATCH {resource}/{name}: the first op does not test the label")
        store = standin.store
        for _ in range(5):  # the real server retries a patch that raced an update
            old = store.get(resource, name)
            if old is None:
                raise ApiError(404, "NotFound", f"{qualified(resource, name)} not found",
                               resource, name)
            try:
                new = json_patch(old, ops)
            except ApiError as e:
                raise ApiError(e.code, e.reason, e.message, resource, name)
            for key in ("name", "namespace", "uid", "creationTimestamp"):
                if new.get("metadata", {}).get(key) != old["metadata"].get(key):
                    raise ApiError(422, "Invalid", f"metadata.{key}: field is immutable",
                                   resource, name)
            if resource == "statefulsets":
                changed = {k for k in set(old["spec"]) | set(new.get("spec") or {})
                           if old["spec"].get(k) != (new.get("spec") or {}).get(k)}
                if changed - STS_MUTABLE:
                    raise ApiError(422, "Invalid", "spec: Forbidden: updates to statefulset "
                                   "spec for fields other than 'replicas', 'ordinals', "
                                   "'template', 'updateStrategy', "
                                   "'persistentVolumeClaimRetentionPolicy' and "
                                   "'minReadySeconds' are forbidden", resource, name)
            new.get("metadata", {}).pop("resourceVersion", None)
            self.check(standin, resource, new, f"PATCH {resource}/{name}")
            with store.cond:
                current = store.objects.get((resource, name))
                if current and current["metadata"]["resourceVersion"] == \
                        old["metadata"]["resourceVersion"]:
                    new["status"] = current.get("status")
                    if new["status"] is None:
                        del new["status"]
                    return store.replace(resource, new)
        raise ApiError(409, "Conflict", f"Operation cannot be fulfilled on "
                       f"{qualified(resource, name)}: the object has been modified")

    def delete(self, standin, resource, name, body):
        options = self.json(body) if body else {}
        uid = ((options or {}).get("preconditions") or {}).get("uid")
        if not uid:
            standin.problem(f"DELETE {resource}/{name} without a uid precondition")
        with standin.store.cond:
            obj = standin.store.objects.get((resource, name))
            if obj is None:
                raise ApiError(404, "NotFound", f"{qualified(resource, name)} not found",
                               resource, name)
            if uid and uid != obj["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: "
                               f"{uid}, UID in object meta: {obj['metadata']['uid']}",
                               resource, name)
            rv = ((options or {}).get("preconditions") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f"Precondition failed: ResourceVersion in "
                               f"precondition: {rv}, ResourceVersion in object meta: "
                               f"{obj['metadata']['resourceVersion']}", resource, name)
            return standin.store.remove(resource, name)

    def list(self, standin, resource, query, match, entry):
        group, version, kind = RESOURCES[resource]
        with standin.store.cond:
            rv = str(standin.store.rv)
            items = [o for o in standin.store.items(resource) if match(o)]
        after = query.get("continue", [""])[0]
        if after:
            try:
                after = json.loads(base64.urlsafe_b64decode(after))["after"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "the continue token is not valid")
            items = [o for o in items if o["metadata"]["name"] > after]
        limit = query.get("limit", ["0"])[0]
        if not limit.isdigit():
            raise ApiError(400, "BadRequest", f"limit {limit!r} is not a number")
        sizes = [n for n in (int(limit), standin.page_size or 0) if n > 0]
        meta = {"resourceVersion": rv}
        if sizes and len(items) > min(sizes):
            items = items[:min(sizes)]
            token = json.dumps({"after": items[-1]["metadata"]["name"]}).encode()
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
            meta["remainingItemCount"] = 1
        for o in items:
            o.pop("apiVersion", None)
            o.pop("kind", None)
        self.send_json(200, {"kind": kind + "List", "apiVersion": f"{group}/{version}"
                             if group else version, "metadata": meta, "items": items}, entry)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def watch(self, standin, resource, query, match, entry):
        rv = query.get("resourceVersion", [""])[0]
        timeout = query.get("timeoutSeconds", ["0"])[0]
        if not (rv == "" or rv.isdigit()) or not timeout.isdigit():
            raise ApiError(400, "BadRequest", "resourceVersion and timeoutSeconds must be numbers")
        fault = standin.next_watch_fault()
        entry["code"], entry["fault"] = 200, fault
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault == "gone":
            gone = status_body(410, "Expired",
                               f"too old resource version: {rv} ({standin.store.rv})")
            self.chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            return self.chunk(b"")
        if fault == "cut":  # half an event, then the connection drops
            time.sleep(0.2)
            line = b'{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{'
            self.wfile.write(b"%x\r\n%s" % (len(line) + 200, line))
            self.close_connection = True
            return self.connection.shutdown(2)
        if fault == "end":  # the server ends the watch early, as at its timeout
            time.sleep(0.2)
            return self.chunk(b"")
        since = int(rv or 0)
        if since == 0:  # from now, with the current objects as ADDED
            with standin.store.cond:
                since = standin.store.rv
                for o in standin.store.items(resource):
                    if match(o):
                        self.chunk(json.dumps({"type": "ADDED", "object": o}).encode() + b"\n")
        seconds = int(timeout) if 0 < int(timeout) <= 600 else 600
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not standin.stopping:
            for erv, _, kind, obj in standin.store.changes_after(resource, since, 0.2):
                since = erv
                if match(obj):
                    self.chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        self.chunk(b"")

    def exec(self, standin, name, query, entry):
        pod = standin.store.get("pods", name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', "pods", name)
        problem = handshake_error(self.headers)
        if problem:
            standin.problem(f"exec {name}: {problem}")
            raise ApiError(400, "BadRequest", f"unable to upgrade connection: {problem}")
        for flag in ("stdin", "tty"):
            if query.get(flag, ["false"])[0] not in ("false", "0"):
                standin.problem(f"exec {name}: {flag} asked for")
        container = query.get("container", [""])[0]
        if container not in [c["name"] for c in pod["spec"].get("containers", [])]:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        if not pod_ready(pod) or not pod["status"].get("podIP"):
            raise ApiError(400, "BadRequest", f'unable to upgrade connection: container not '
                           f'found ("{container}")')
        argv = query.get("command", [])
        if not argv:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        entry["code"], entry["exec"] = 101, argv
        with standin.lock:
            fault = standin.exec_faults.pop(0) if standin.exec_faults else None
        entry["fault"] = fault
        serve_exec(self, argv, standin.activity_dir(name), standin.problems, fault)
