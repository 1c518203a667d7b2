"""The documentation's links hold: every relative link in the repository's
Markdown files names a file that exists, and a #fragment names a heading of
that file (as GitHub makes anchors).  No build needed."""
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


# what the build, the tests and `make run` leave in the tree
SKIP = {".git", "build", ".run", "node_modules", "autom4te.cache"}


def markdown_files():
    found = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP]
        found += [os.path.relpath(os.path.join(top, f), REPO) for f in files if f.endswith(".md")]
    return sorted(found)


def anchors(path):
    """GitHub's anchors for the headings of PATH: lower case, punctuation
    dropped, spaces to hyphens, -1, -2, ... for repeats."""
    seen, result = {}, set()
    in_code = False
    with open(path) as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            m = None if in_code else re.match(r"#{1,6} (.*)", line)
            if not m:
                continue
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def links(path):
    with open(path) as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("doc", markdown_files())
def test_relative_links_resolve(doc):
    here = os.path.dirname(os.path.join(REPO, doc))
    bad = []
    for link in links(os.path.join(REPO, doc)):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, fragment = link.partition("#")
        path = os.path.normpath(os.path.join(here, target)) if target else os.path.join(REPO, doc)
        if not os.path.exists(path):
            bad.append(f"{link}: no such file")
        elif fragment and path.endswith(".md") and fragment not in anchors(path):
            bad.append(f"{link}: no heading #{fragment}")
    assert not bad, f"{doc}: " + "; ".join(bad)
