"""The chart README is right: its quick start runs as written (helm v4, a
client-side dry run) and prints the port-forward and ssh lines it shows; the
image it pushes is the one `make image` makes; its parameter tables name
every value of values.yaml with its default, and nothing else; the refusal
it quotes is the chart's."""
import os
import re
import subprocess

import pytest
import yaml

from conftest import CHART, HELMS, REPO

README = os.path.join(CHART, "README.md")


@pytest.fixture(scope="module")
def readme():
    with open(README) as f:
        return f.read()


@pytest.fixture(scope="module")
def chart():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        return yaml.safe_load(f)


def quick_start(readme):
    section = readme[readme.index("## Quick start"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    lines, current = [], ""
    for line in block.splitlines():
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if current and not current.startswith("#"):
                lines.append(re.sub(r"\s+", " ", current).strip())
            current = ""
    return lines


def test_quick_start_image_is_what_make_image_builds(readme, chart):
    lines = quick_start(readme)
    assert lines[0] == "./configure && make image"
    with open(os.path.join(REPO, "configure.ac")) as f:
        version = re.search(r"AC_INIT\(\[ssh-workspace\], \[([^]]+)\]\)", f.read()).group(1)
    with open(os.path.join(REPO, "Makefile.in")) as f:
        assert "IMAGE = localhost/ssh-workspace:$(VERSION)" in f.read()
    assert chart["appVersion"] == version, "Chart.yaml appVersion != configure.ac version"
    assert lines[1] == (f"podman push localhost/ssh-workspace:{version} "
                        f"registry.example.com/ssh-workspace:{version}")
    assert "--set image.repository=registry.example.com/ssh-workspace" in lines[2]


def test_quick_start_installs_and_prints_its_login_lines(readme, client_key, tmp_path):
    lines = quick_start(readme)
    install = lines[2]
    assert install.startswith("helm install ws ./helm/ssh-workspace "), install
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(HELMS["v4"][1], bindir / "helm")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(client_key[1])
    env = dict(os.environ, HOME=str(home), PATH=f"{bindir}:{os.environ['PATH']}",
               KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    r = subprocess.run(["bash", "-c", install + " --dry-run=client"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # the workspace runs the pushed image with the key from $HOME
    manifests = r.stdout[r.stdout.index("MANIFEST:"):r.stdout.index("NOTES:")]
    objects = [o for o in yaml.safe_load_all(manifests.split("\n", 1)[1]) if o]
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example.com/ssh-workspace:" + objects[0]["metadata"]["labels"][
            "app.kubernetes.io/version"]
    notes = r.stdout[r.stdout.index("NOTES:"):]
    for line in lines[3:]:
        assert f"  {line}\n" in notes, f"{line!r} is not in the NOTES:\n{notes}"


def test_readme_quotes_the_chart_refusal(readme):
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    message = re.search(r'fail "(ssh\.publicKeys\.authorizedKeys is required[^"]*)"',
                        helpers).group(1)
    assert message in readme


def leaves(values, prefix=""):
    out = {}
    for key, value in values.items():
        path = prefix + key
        if isinstance(value, dict) and value and key != "resources":
            out.update(leaves(value, path + "."))
        else:
            out[path] = value
    return out


def test_every_parameter_is_documented_with_its_default(readme):
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = leaves(yaml.safe_load(f))
    section = readme[readme.index("## Parameters"):]
    section = section[:section.index("\n## ")]
    rows = {}
    for m in re.finditer(r"^\| `([A-Za-z0-9_.]+)` \| ([^|]*) \|", section, re.M):
        rows[m.group(1)] = m.group(2).strip()
    params = rows
    assert sorted(params) == sorted(values), (
        f"undocumented: {sorted(set(values) - set(params))}, "
        f"not in values.yaml: {sorted(set(params) - set(values))}")
    for key, default in values.items():
        shown = params[key]
        if isinstance(default, dict) and default:
            continue   # resources: described in words
        if isinstance(default, bool):
            expected = f"`{str(default).lower()}`"
        elif default is None:
            expected = "`null`"
        elif isinstance(default, list):
            expected = "`[" + ", ".join(str(x) for x in default) + "]`"
        elif isinstance(default, dict):
            expected = "`{}`"
        elif default == "":
            expected = '`""`'
        else:
            expected = f"`{default}`"
        assert shown == expected, f"{key}: README says {shown}, values.yaml {expected}"


def release_blocks(readme):
    """The ```sh blocks of "## Publishing a release", each as its commands
    (continuation lines joined, comments and blank lines left out)."""
    section = readme[readme.index("## Publishing a release"):]
    section = section[:section.index("\n## ")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [[re.sub(r"\s+", " ", c.split("#")[0]).strip()
             for c in re.sub(r"\\\n\s*", "", b).splitlines() if c.split("#")[0].strip()]
            for b in blocks]


def test_release_section_shows_what_release_sh_runs(readme, chart, tmp_path):
    """The commands the README says `make release` runs are helm/release.sh's
    (run here with a podman and a helm that only record), for Chart.yaml's
    versions; the registry test (test_e2e.py) runs it for real."""
    blocks = release_blocks(readme)
    assert blocks[0] == ["./configure && make image",
                         "make release REGISTRY=registry.example.com/team"]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "podman").write_text(
        '#!/bin/sh\n[ "$1 $2" = "image exists" ] && exit 0\n'
        'while [ $# -gt 1 ]; do [ "$1" = --digestfile ] && echo sha256:0 > "$2"; shift; done\n')
    (bindir / "helm").write_text("#!/bin/sh\nexit 0\n")
    for p in ("podman", "helm"):
        os.chmod(bindir / p, 0o755)
    dest = tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if k not in ("HELM", "PLAIN_HTTP")}
    env.update(PATH=f"{bindir}:{os.environ['PATH']}", DEST=str(dest))
    r = subprocess.run([os.path.join(REPO, "helm", "release.sh"), "registry.example.com/team"],
                       env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ran = [line[2:].replace(str(dest), "build/release").replace(REPO + "/", "")
           for line in r.stderr.splitlines() if line.startswith(("+ helm ", "+ podman "))]
    assert ran == blocks[1]
    assert chart["version"] == chart["appVersion"] == "0.1.0", \
        "the README's release commands show version 0.1.0"
    assert blocks[2][0].startswith(
        f"helm install ws oci://registry.example.com/team/charts/ssh-workspace "
        f"--version {chart['version']} ")
    assert "--set image.repository=registry.example.com/team/ssh-workspace" in blocks[2][0]
