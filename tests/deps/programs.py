"""What programs the build and the tests run, read from the sources (for
tests/deps/check.py).  A pragmatic reading, not a full parser:
- shell scripts (*.sh, #!/bin/sh files): the command word of every simple
  command, in $(...) and `...` too; `command -v NAME` is a probe, not a run;
  variables and relative paths (our own scripts) are left out;
- Makefile.in and *.mk: the recipes, make variables expanded, read as shell;
  the recipe's target gives the purpose (MAKE_TARGETS);
- configure.ac: AC_PATH_PROG;
- Python: the head of each argv list passed to subprocess (or to our run
  helpers), returned by a function or kept in `args`/`argv`/`cmd`, with
  module-level names resolved; shutil.which("NAME"); the script of
  `sh -c SCRIPT` and of "#!/bin/sh..." strings; and, where the server runs
  on this machine, the commands sent with .ssh("...")."""
import ast
import bisect
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PURPOSES = ("build", "run", "check", "bench")  # tests/deps.sh's, each list a superset of build

# The purpose of a source by its path (first match); None: it runs in the
# image or is generated, not run on this machine.
FILE_PURPOSE = [
    ("configure", None),  # generated from configure.ac, which is read instead
    ("configure~", None),  # autoconf's copy of the one it replaced
    ("container-image/entrypoint.sh", None),
    ("container-image/healthcheck.sh", None),
    ("container-image/docker.sh", None),
    ("plugins/proxy/workspace-agent.sh", None),  # the agent sidecar's, in the image
    # the gateway's podman backend: here, run by tests/image/test_gateway_podman.py
    ("plugins/gateway/ws-gateway-podman", "check"),
    ("tests/bench/", "bench"),
    ("tests/", "check"),
    ("container-image/", "check"),  # make image is part of make check
    ("helm/release.sh", "check"),  # make release, run by tests/helm/test_e2e.py
    (".ci/", "check"),
    ("dropbear/run-local.sh", "run"),
    ("dropbear/run-gateway.sh", "run"),  # make run-gateway
    ("dropbear/as-workspace-user.sh", "run"),  # make run's, and the tests' (check)
    # the maintainer's tools for the patch series; tests/integration/test_build.py
    # runs them
    ("dropbear/import-series.sh", "check"),
    ("dropbear/export-series.sh", "check"),
    ("", "build"),
]
# Makefile targets whose recipes are not build's; any other is build's.
MAKE_TARGETS = {
    "check": "check", "unit-check": "check", "integration-check": "check",
    "deps-check": "check", "stress": "check", "$(UNIT_TESTS)": "check",
    "$(CIPHER_TESTS)": "check", "$(ASAN_PLUGIN)": "check", "upstream-dbclient": "check",
    "$(DB_CLIENT_DIR)/Makefile": "check", "upstream-check": "check", "image": "check",
    "image-check": "check", "helm-check": "check", "release": "check",
    "run": "run", "run-gateway": "run",
    "upstream": "bench", "$(UPSTREAM_DIR)/dropbear": "bench", "bench": "bench",
    "bench-env": "bench", "bench-gateway": "bench",
}
# Python files whose .ssh("COMMAND") runs COMMAND on this machine (elsewhere
# the server is in a container).
HOST_SESSIONS = ("tests/integration/", "tests/upstream/", "tests/bench/")

PROGRAM = re.compile(r"[A-Za-z_][\w.+-]*|/[\w.+/-]+")
SHELL_BUILTINS = set("""! { } [ : . alias break case cd command continue do done echo elif
else esac eval exec exit export false fi for getopts if in kill local printf pwd read readonly
return set shift source test then time trap true type ulimit umask unset until wait while
""".split())


def purpose_of(rel):
    return next(p for prefix, p in FILE_PURPOSE if rel == prefix or
                (prefix.endswith("/") or not prefix) and rel.startswith(prefix))


# --- shell ---

class Shell:
    """The command words of a shell script.  Variables and relative paths
    (our own scripts) are left out, as are builtins and the script's own
    functions; heredoc bodies are skipped."""
    # What the next word is: a command; an argument; the name after
    # `command -v`; the command after env/sudo (options and assignments
    # first); maybe the command after `$sudo` (else an argument); for's
    # variable and list; case's subject; a case pattern.
    CMD, ARG, PROBE, PREFIX, VARIABLE, FOR, CASE, PATTERN = range(8)

    def __init__(self, text, line=1, functions=()):
        self.s, self.i, self.line = text, 0, line
        self.starts = [m.end() for m in re.finditer("\n", text)]
        self.functions = set(functions) | shell_functions(text)
        self.heredocs, self.found, self.backticks = [], [], 0

    def lineno(self, i):
        return self.line + bisect.bisect_right(self.starts, i)

    def run(self):
        self.commands()
        return self.found

    def commands(self, end=None):
        """Reads commands up to `end` (the ")" of $(...), the "`" of `...`)."""
        s, pos, cases = self.s, self.CMD, []
        while True:
            while self.i < len(s) and (s[self.i] in " \t" or s.startswith("\\\n", self.i)):
                self.i += 2 if s[self.i] == "\\" else 1
            if self.i >= len(s):
                return
            c, at = s[self.i], self.i
            if end and c == end:
                self.i += 1
                return
            if c == "#":
                self.i = self.end_of_line(self.i)
            elif c == "\n":
                self.i += 1
                self.skip_heredocs()
                pos = pos if pos in (self.PATTERN, self.CASE) else self.CMD
            elif s.startswith(";;", at):
                self.i += 2
                pos = self.PATTERN
            elif c in ";&|":
                self.i += 1
                pos = pos if pos == self.PATTERN else self.CMD
            elif c == "(":
                self.i += 1
                pos = pos if pos == self.PATTERN else self.CMD
            elif c == ")":
                self.i += 1
                pos = self.CMD if pos == self.PATTERN else self.ARG
            elif REDIRECT.match(s, at):
                op = REDIRECT.match(s, at).group(0)
                self.i += len(op)
                self.skip_blanks()
                target = self.word()
                if op.endswith(("<<", "<<-")):
                    self.heredocs.append((target, op.endswith("-")))
            else:
                w = self.word()
                pos = self.took(w, at, pos, cases)

    def took(self, w, at, pos, cases):
        """The next state after word w."""
        if pos == self.CASE:
            return self.PATTERN if w == "in" else pos
        if pos == self.PATTERN:
            if w == "esac" and cases:
                cases.pop()
                return self.ARG
            return pos
        if pos == self.FOR:
            return self.CMD if w == "do" else pos
        if pos in (self.ARG, self.PROBE) or (pos == self.VARIABLE and w.startswith("-")):
            return self.ARG
        if w == "case":
            cases.append(1)
            return self.CASE
        if w == "for":
            return self.FOR
        if w in ("if", "then", "else", "elif", "do", "while", "until", "!", "{", "exec"):
            return self.CMD
        if re.match(r"[A-Za-z_]\w*=", w):
            return pos  # an assignment: the command follows
        if pos == self.PREFIX and w.startswith("-"):
            return pos
        if w == "command":
            m = re.compile(r"[ \t]+-[vV]\b").match(self.s, self.i)
            if m:
                self.i = m.end()
                return self.PROBE
            return self.CMD
        m = re.compile(r"\s*\(\s*\)").match(self.s, self.i)
        if w in self.functions and m:
            self.i = m.end()
            return self.CMD  # a definition; its body follows
        if w == "$":
            return self.VARIABLE  # $sudo, $as_user: maybe a prefix of the command
        if w in SHELL_BUILTINS or w in self.functions or not PROGRAM.fullmatch(w):
            return self.ARG
        self.found.append((w, self.lineno(at)))
        return self.PREFIX if w in ("env", "nohup", "nice", "sudo") else self.ARG

    def skip_blanks(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def end_of_line(self, i):
        nl = self.s.find("\n", i)
        return len(self.s) if nl < 0 else nl

    def skip_heredocs(self):
        for delim, tabs in self.heredocs:
            while self.i < len(self.s):
                nl = self.end_of_line(self.i)
                line, self.i = self.s[self.i:nl], nl + 1
                if (line.lstrip("\t") if tabs else line) == delim:
                    break
        self.heredocs = []

    def word(self):
        """Reads one word; what $(...) and `...` run in it is recorded.
        Returns its text, with "$" left where something expands."""
        s, out = self.s, []
        while self.i < len(s) and s[self.i] not in " \t\n;&|()<>":
            c = s[self.i]
            if c == "`" and self.backticks:
                break  # the end of `...`
            if s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "\\":
                out.append(s[self.i + 1:self.i + 2])
                self.i += 2
            elif c == "'":
                j = s.find("'", self.i + 1)
                j = len(s) if j < 0 else j
                out.append(s[self.i + 1:j])
                self.i = j + 1
            elif c == '"':
                self.i += 1
                while self.i < len(s) and s[self.i] != '"':
                    if s[self.i] in "$`":
                        out.append(self.expansion())
                    else:
                        out.append(s[self.i + 1] if s[self.i] == "\\" else s[self.i])
                        self.i += 2 if s[self.i] == "\\" else 1
                self.i += 1
            elif c in "$`":
                out.append(self.expansion())
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def expansion(self):
        s, i = self.s, self.i
        if s[i] == "`":
            self.i += 1
            self.backticks += 1
            self.commands(end="`")
            self.backticks -= 1
        elif s.startswith("$((", i):
            self.i = matching(s, i + 1)
        elif s.startswith("$(", i):
            self.i += 2
            self.commands(end=")")
        elif s.startswith("${", i):
            self.i = matching(s, i + 1)
        else:
            self.i = re.compile(r"\$(\w+|.?)").match(s, i).end()
        return "$"


REDIRECT = re.compile(r"\d*(<<-|<<|>>|>&|<&|>\||<>|<|>)")


def matching(s, i):
    """The index just after the bracket that closes the one at s[i]."""
    open_, close = s[i], {"(": ")", "{": "}"}[s[i]]
    depth = 0
    while i < len(s):
        depth += {open_: 1, close: -1}.get(s[i], 0)
        i += 1
        if depth == 0:
            break
    return i


def shell_functions(text):
    return set(re.findall(r"(?m)^\s*([A-Za-z_][\w-]*)\s*\(\)", text))


def sourced_functions(text, rel):
    """The functions of the repository's shell files that a script sources
    (`. "$top/dropbear/run-lib.sh"`, `. "$here/x.sh"`): called there, run
    here."""
    found = set()
    for m in re.finditer(r'(?m)^\s*(?:\.|source)\s+"?\$\{?\w+\}?/([\w./-]+)"?\s*$', text):
        for path in (m.group(1), os.path.join(os.path.dirname(rel), m.group(1))):
            full = os.path.join(REPO, path)
            if os.path.isfile(full):
                with open(full, encoding="utf-8") as f:
                    found |= shell_functions(f.read())
                break
    return found


def shell_commands(text, line=1, functions=()):
    """[(program, line)] that a shell script runs."""
    return Shell(text, line, functions).run()


# --- make ---

def makefile_commands(text, purpose):
    """[(program, line, purpose)] of the recipes of a makefile whose
    targets not in MAKE_TARGETS have `purpose`."""
    lines, start = [], None
    for n, line in enumerate(text.split("\n"), 1):
        if start is None:
            start, buf = n, []
        buf.append(line[:-1] if line.endswith("\\") else line)
        if not line.endswith("\\"):
            lines.append((start, " ".join(buf)))
            start = None
    defs = {}
    for _, line in lines:
        m = re.match(r"([A-Za-z_]\w*)\s*[:?+]?=\s*(.*)", line)
        if m and not line.startswith("\t"):
            defs[m.group(1)] = m.group(2)
    defs["MAKE"] = "make"  # make's own
    found, target = [], None
    for n, line in lines:
        if line.startswith("\t") and target is not None:
            recipe = make_expand(line.lstrip("\t").lstrip("@-+"), defs)
            found += [(w, ln, MAKE_TARGETS.get(target, purpose))
                      for w, ln in shell_commands(recipe, n)]
        elif re.match(r"[^\s#=:][^=:]*::?($|[^=])", line):
            target = line.split(":")[0].split()[0]
            if target.startswith("."):
                target = None
        elif line.strip() and not line.startswith("#"):
            target = None
    return found


def make_expand(text, defs, depth=0):
    """Expands $(NAME) from defs; "$$" becomes "$", and anything else that
    make would expand (functions, automatic variables, @SUBST@) a shell
    variable, so that it is not taken for a program."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith(("$(", "${"), i):
            j = matching(text, i + 1)
            name = text[i + 2:j - 1]
            if name in defs and depth < 10:
                out.append(make_expand(defs[name], defs, depth + 1))
            else:
                out.append("$MAKE_VAR")
            i = j
        elif text[i] == "$":
            out.append("$MAKE_VAR")
            i += 2
        else:
            out.append(text[i])
            i += 1
    return re.sub(r"@\w+@", "$MAKE_VAR", "".join(out))


# --- python ---

RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "run_in_pty",
           "create_subprocess_exec", "execv", "execvp", "execvpe"}
ARGV_NAMES = {"args", "argv", "cmd", "command"}


def python_commands(text, host_sessions):
    """[(program, line)] that a Python file runs."""
    tree = ast.parse(text)
    module = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)}
    found = []

    def literal(node):
        """A str constant, or an f-string with $F for what it formats."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "$F" for v in node.values)
        return None

    def argv(node, depth=0):
        """Records the program at the head of an argv expression."""
        if depth > 5:
            return
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            argv(node.left, depth + 1)
            if may_be_empty(node.left):  # CLIENT_CPU + ["ssh", ...]
                argv(node.right, depth + 1)
        elif isinstance(node, ast.IfExp):
            argv(node.body, depth + 1)
            argv(node.orelse, depth + 1)
        elif isinstance(node, ast.Name) and node.id in module:
            argv(module[node.id], depth + 1)
        elif isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            head = node.elts[0]
            if isinstance(head, ast.Name) and head.id in module:
                head = module[head.id]
            prog = literal(head)
            if prog is not None and PROGRAM.fullmatch(prog):
                found.append((prog, node.lineno))
            words = [literal(e) for e in node.elts]
            for k in range(len(words) - 2):  # sh -c SCRIPT
                if words[k] in ("sh", "bash") and re.fullmatch(r"-\w*c", words[k + 1] or "") \
                        and words[k + 2] is not None:
                    found.extend((w, node.lineno) for w, _ in shell_commands(words[k + 2]))

    def may_be_empty(node):
        if isinstance(node, ast.Name):
            node = module.get(node.id)
        return isinstance(node, ast.IfExp) and any(
            isinstance(n, ast.List) and not n.elts for n in (node.body, node.orelse))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in RUNNERS:
                for a in node.args[:1] + [k.value for k in node.keywords if k.arg == "args"]:
                    argv(a)
            elif name == "which" and node.args and literal(node.args[0]):
                found.append((literal(node.args[0]), node.lineno))
            elif name == "ssh" and host_sessions and node.args and literal(node.args[0]):
                found.extend((w, node.lineno) for w, _ in shell_commands(literal(node.args[0])))
        elif isinstance(node, ast.Return) and node.value is not None:
            argv(node.value)
            if isinstance(node.value, ast.Tuple) and node.value.elts:
                argv(node.value.elts[0])
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in ARGV_NAMES for t in targets):
                argv(node.value)
        elif literal(node) and re.match(r"#!/bin/(ba)?sh\n", literal(node)):
            found.extend((w, node.lineno + ln - 1) for w, ln in shell_commands(literal(node)))
    return found


# --- the sources ---

SKIP_DIRS = {".git", "build", "node_modules", ".run", "__pycache__", "autom4te.cache"}


def sources():
    """(path relative to the repository, kind) of every file to read."""
    for top, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(top, f), REPO)
            if f.endswith(".py"):
                yield rel, "python"
            elif f in ("Makefile.in",) or f.endswith(".mk"):
                yield rel, "make"
            elif f == "configure.ac":
                yield rel, "autoconf"
            elif f.endswith(".sh") or ("." not in f and shebang(os.path.join(top, f))):
                yield rel, "shell"


def shebang(path):
    """Is path a shell script without a .sh name (.ci/run)?"""
    try:
        with open(path, "rb") as f:
            return re.match(rb"#! ?/bin/(ba)?sh\b", f.readline()) is not None
    except OSError:
        return False


def programs():
    """{program: [(purpose, where)]} of every program the sources run."""
    uses = {}
    for rel, kind in sources():
        purpose = purpose_of(rel)
        if purpose is None:
            continue
        with open(os.path.join(REPO, rel), encoding="utf-8") as f:
            text = f.read()
        if kind == "make":
            found = makefile_commands(text, purpose)
        elif kind == "autoconf":
            found = [(m.group(1), text.count("\n", 0, m.start()) + 1, purpose) for m in
                     re.finditer(r"AC_PATH_PROG\(\[\w+\],\s*\[([\w.+-]+)\]", text)]
        elif kind == "python":
            found = [(w, n, purpose) for w, n in
                     python_commands(text, rel.startswith(HOST_SESSIONS))]
        else:
            found = [(w, n, purpose) for w, n in
                     shell_commands(text, functions=sourced_functions(text, rel))]
        verb = "needed by" if kind == "autoconf" else "run by"
        for w, n, p in found:
            uses.setdefault(w, []).append((p, f"{verb} {rel}:{n}"))
    return uses
