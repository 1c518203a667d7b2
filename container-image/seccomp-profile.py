#!/usr/bin/python3
"""Derives seccomp-podman.json, the profile a workspace container needs for
rootless `podman build` inside it, from podman's default profile
(/usr/share/containers/seccomp.json of the image's Debian release):

  seccomp-profile.py DEFAULT.json > seccomp-podman.json

The default allows sethostname, setdomainname and setns only with
CAP_SYS_ADMIN, and chroot only with CAP_SYS_CHROOT.  The workspace has no
capabilities in its own user namespace, but rootless podman/buildah call
these inside the user namespace they create (where they hold the
capabilities, which seccomp does not see): buildah's RUN sets the
hostname and chroots.  So those four are allowed unconditionally; nothing
else changes.  The output has one rule per line so that a diff shows what
changed when podman's default does."""
import json
import sys

UNGATED = {"sethostname", "setdomainname", "setns", "chroot"}


def derive(profile):
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in UNGATED or
                 not (rule.get("includes", {}).get("caps") or rule.get("excludes", {}).get("caps"))]
        if names:
            rules.append(dict(rule, names=names))
    allow = next(r for r in rules if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
                 and not r.get("includes") and not r.get("excludes"))
    allow["names"] = sorted(set(allow["names"]) | UNGATED)
    return dict(profile, syscalls=rules)


def dump(profile):
    head = {k: v for k, v in profile.items() if k != "syscalls"}
    out = json.dumps(head, separators=(", ", ": "))[:-1]
    lines = [json.dumps(r, separators=(", ", ": ")) for r in profile["syscalls"]]
    return out + ', "syscalls": [\n' + ",\n".join(lines) + "\n]}\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        sys.stdout.write(dump(derive(json.load(f))))
