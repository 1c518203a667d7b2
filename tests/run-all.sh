#!/bin/sh
# Every test of `make check`, in this order: that tests/deps.sh lists a
# package for each program the build and the tests run (tests/deps/check.py),
# the C unit tests of the hook library and the cipher tests (ASan/UBSan
# builds), a short smoke of every fuzz target, the integration tests (pytest:
# OpenSSH and the other interop clients against the built server), Dropbear's
# own test suite, then the container image: built offline and tested with
# podman (tests/image; WS_IMAGE_TESTS=0 leaves it out), then the Helm chart
# (tests/helm; its end-to-end tests only with the image).  tests/README.md
# describes each suite.
# Ends with one line the CI reads: "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${WS_BUILD:-$top/build}
export WS_BUILD="$build"  # the test suites find the build here
out=$build/tests
mkdir -p "$out"
# make check passes the Python ./configure found (Makefile: PYTHON); run
# alone, Debian's, which has the packages tests/deps.sh installs
python=${PYTHON:-/usr/bin/python3}

"$top/tests/deps.sh" check || exit 1

passed=0 failed=0 skipped=0 broken=""

# counted NAME RC: adds the "N passed, N failed" line that the runner NAME
# printed last into $out/NAME.log; no such line, or a non-zero RC with no
# failure counted, is a runner problem.
counted() {
	cat "$out/$1.log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$1.log" | tail -n 1)
	if [ -z "$line" ]; then
		broken="$broken $1(rc=$2)"
		return
	fi
	n_failed=$(echo "$line" | cut -d' ' -f3)
	passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
	failed=$((failed + n_failed))
	[ "$2" -eq 0 ] || [ "$n_failed" -gt 0 ] || broken="$broken $1(rc=$2)"
}

# the packages: every program the build and the tests run (read from the
# sources, plus those other programs run) comes from a package tests/deps.sh
# lists for its purpose; one test per program, no build or network needed
"$python" "$top/tests/deps/check.py" > "$out/deps-check.log" 2>&1
counted deps-check $?

# unit test binaries (the hook library's, the ciphers')
for unit in unit-tests cipher-tests; do
	"$build/tests/$unit" > "$out/$unit.log" 2>&1
	counted $unit $?
done

# fuzzing: a short smoke of every libFuzzer target (make fuzz-targets), from
# its seeds and regression inputs; each target counts as one test
# (tests/fuzz/run.sh; WS_FUZZ_SMOKE_SECONDS per target, 2 at once)
"$top/tests/fuzz/run.sh" --fresh --seconds "${WS_FUZZ_SMOKE_SECONDS:-2}" --jobs 2 \
	> "$out/fuzz-smoke.log" 2>&1
counted fuzz-smoke $?

# Every pytest run stops a test (setup, call and teardown) that takes longer
# than WS_TEST_TIMEOUT seconds: it fails with the stacks of its threads and
# the suite goes on.  The slowest tests take under 30 s on an idle machine.
# Should a teardown hang after that (pytest-timeout stops one phase), the
# stacks of every thread go to stderr 120 s later (faulthandler_timeout),
# and the suite's own limit ends it.
case ${WS_TEST_TIMEOUT:=300} in
'' | *[!0-9]*) echo "WS_TEST_TIMEOUT=$WS_TEST_TIMEOUT: a number of seconds (0: no limit)" >&2; exit 2 ;;
esac
test_timeout="--timeout=$WS_TEST_TIMEOUT --timeout-method=signal"
if [ "$WS_TEST_TIMEOUT" -gt 0 ]; then
	test_timeout="$test_timeout -o faulthandler_timeout=$((WS_TEST_TIMEOUT + 120))"
fi

# bounded LIMIT SUITE COMMAND...: runs the command for at most LIMIT
# seconds, then adds the counts of SUITE from its JUnit report (none when
# the limit stopped it: one runner problem, named).
bounded() {
	limit=$1 suite=$2
	shift 2
	rm -f "$out/$suite.xml"
	# --foreground: an interrupt from the terminal still reaches the suite
	timeout --foreground --kill-after=30 "$limit" "$@"
	rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		broken="$broken $suite(stopped after ${limit}s)"
		return
	fi
	junit_counts "$suite" "$rc"
}

# pytest SUITE DIR LIMIT: runs the pytest suite in DIR (at most LIMIT
# seconds) and adds the counts from its JUnit report.
pytest_suite() {
	# shellcheck disable=SC2086
	bounded "$3" "$1" "$python" -m pytest -p no:cacheprovider -q -rfEs \
		$test_timeout --junitxml="$out/$1.xml" "$2"
}

# junit_counts SUITE RC: adds the counts from $out/SUITE.xml; a missing report,
# or a non-zero RC with no failure in it, is a runner problem.
junit_counts() {
	py_rc=$2
	if [ ! -f "$out/$1.xml" ]; then
		broken="$broken $1(no report, rc=$py_rc)"
		return
	fi
	set -- "$1" $("$python" - "$out/$1.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
s = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - s, f, s)
PY
)
	passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
	[ "$py_rc" -eq 0 ] || [ "$3" -gt 0 ] || broken="$broken $1(rc=$py_rc)"
}

# about 11 minutes on an idle machine
pytest_suite integration "$top/tests/integration" 2400

# Dropbear's own test suite (build/dropbear-*/test) against our server with
# the hook library loaded; skips and their reasons: tests/upstream/skip.txt
# shellcheck disable=SC2086
bounded 900 upstream "$python" "$top/tests/upstream/run.py" \
	--junitxml="$out/upstream.xml" $test_timeout

if [ "${WS_IMAGE_TESTS:-1}" != 0 ]; then
	WS_IMAGE=${WS_IMAGE:-localhost/ssh-workspace:test}
	export WS_IMAGE
	echo "building the image $WS_IMAGE (log: $out/image-build.log)"
	start=$(date +%s)
	# at most 45 minutes (an idle machine takes about 10)
	if timeout 2700 "$top/container-image/build.sh" "$WS_IMAGE" "${WS_IMAGE_VERSION:-0.0.0}" > "$out/image-build.log" 2>&1; then
		echo "image built in $(( $(date +%s) - start ))s"
		pytest_suite image "$top/tests/image" 1500
	else
		tail -n 30 "$out/image-build.log"
		broken="$broken image-build"
	fi
fi

# The Helm chart (tests/helm): lint, render, schemas, "restricted", package
# (through a registry on 127.0.0.1); with the image (WS_IMAGE_TESTS != 0),
# also `podman kube play` end to end and `make release` to that registry.
pytest_suite helm "$top/tests/helm" 1500

if [ -n "$broken" ]; then
	echo "test runner problems:$broken"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
