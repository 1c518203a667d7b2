"""Pod Security Standards "restricted" (Kubernetes 1.25+), checked on rendered
objects, plus the chart's own rules: no root anywhere (no uid 0 in any
container, init container included), a read-only root filesystem, no host
ports, no Helm hook Jobs and no RBAC that reads Secrets (or names every
resource).

    problems(objects) -> list of "Kind/name: what is wrong" strings
    problems(objects, ids_assigned=True): for pods whose uid the platform
        assigns (podSecurityContext.omitIds, OpenShift): an unset runAsUser
        is allowed, as in the Pod Security Standards themselves (runAsNonRoot
        is still required, so the kubelet refuses uid 0)
"""

READ_VERBS = {"get", "list", "watch", "*"}
ALLOWED_VOLUMES = {"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected",
                   "downwardAPI"}
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}


def _get(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _pod_spec_problems(spec, pod_meta, ids_assigned=False):
    out = []
    psc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"{field} is true")
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"volume {vol.get('name')} is of type {', '.join(sorted(kinds))}, "
                       f"not one of {', '.join(sorted(ALLOWED_VOLUMES))}")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl.get('name')}")
    if psc.get("runAsUser") == 0:
        out.append("pod runAsUser is 0")
    pod_seccomp = _get(psc, ("seccompProfile", "type"))
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"pod seccompProfile is {pod_seccomp}")
    if _get(psc, ("seLinuxOptions", "type")) not in (None, "", "container_t", "container_init_t",
                                                      "container_kvm_t", "container_engine_t"):
        out.append("pod seLinuxOptions.type is not allowed")
    if _get(psc, ("appArmorProfile", "type")) not in (None, "RuntimeDefault", "Localhost"):
        out.append("pod appArmorProfile is not allowed")
    if _get(psc, ("windowsOptions", "hostProcess")):
        out.append("pod windowsOptions.hostProcess is true")
    for key, value in (pod_meta.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and \
                value not in ("runtime/default",) and not value.startswith("localhost/"):
            out.append(f"annotation {key}: {value}")
        if key.startswith("seccomp.security.alpha.kubernetes.io/") or \
                key.startswith("container.seccomp.security.alpha.kubernetes.io/"):
            if value == "unconfined":
                out.append(f"annotation {key}: unconfined")

    containers = [("container", c) for c in spec.get("containers") or []] + \
                 [("init container", c) for c in spec.get("initContainers") or []] + \
                 [("ephemeral container", c) for c in spec.get("ephemeralContainers") or []]
    if not spec.get("containers"):
        out.append("no containers")
    for what, c in containers:
        name = f"{what} {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities.drop does not include ALL")
        added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            out.append(f"{name}: capabilities.add {', '.join(sorted(added))}")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{name}: readOnlyRootFilesystem is not true")
        run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            out.append(f"{name}: runAsNonRoot is not true (pod or container)")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid == 0 or (uid is None and not ids_assigned):
            out.append(f"{name}: runs as uid {uid if uid is not None else 'of the image'} "
                       "(runAsUser must be set and not 0)")
        seccomp = _get(sc, ("seccompProfile", "type")) or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile is {seccomp or 'not set'} "
                       "(RuntimeDefault or Localhost)")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{name}: procMount {sc.get('procMount')}")
        if _get(sc, ("windowsOptions", "hostProcess")):
            out.append(f"{name}: windowsOptions.hostProcess is true")
        if _get(sc, ("appArmorProfile", "type")) not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{name}: appArmorProfile is not allowed")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{name}: hostPort {port['hostPort']} (not allowed by baseline)")
    return out


def problems(objects, ids_assigned=False):
    """All violations in a list of rendered objects (dicts)."""
    out = []
    for obj in objects:
        if not obj:
            continue
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        label = f"{kind}/{meta.get('name')}"
        annotations = meta.get("annotations") or {}
        if "helm.sh/hook" in annotations and kind != "Pod":
            out.append(f"{label}: a Helm hook ({annotations['helm.sh/hook']}) that is a {kind}: "
                       "the chart has no hook Jobs")
        if kind in ("Role", "ClusterRole"):
            for rule in obj.get("rules") or []:
                resources = set(rule.get("resources") or [])
                verbs = set(rule.get("verbs") or [])
                # writing a Secret it makes is the fleet gateway's job;
                # reading any is what a token must never allow
                if "*" in resources or ("secrets" in resources and verbs & READ_VERBS):
                    out.append(f"{label}: RBAC rule on {', '.join(sorted(resources))} "
                               f"({', '.join(sorted(verbs))})")
        if kind in POD_SPEC_PATHS:
            spec = _get(obj, POD_SPEC_PATHS[kind])
            pod_meta = (obj if kind == "Pod" else _get(obj, POD_SPEC_PATHS[kind][:-1])) or {}
            pod_meta = pod_meta.get("metadata") or {}
            if not isinstance(spec, dict):
                out.append(f"{label}: no pod spec")
                continue
            out.extend(f"{label}: {p}" for p in _pod_spec_problems(spec, pod_meta, ids_assigned))
    return out
