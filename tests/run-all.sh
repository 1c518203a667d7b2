#!/bin/sh
# Every test of `make check`: the C unit tests (ASan/UBSan build), then the
# integration tests (pytest, real OpenSSH client against the built server).
# Ends with one line the CI reads: "N passed, N failed[, N skipped]".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${WS_BUILD:-$top/build}
out=$build/tests
mkdir -p "$out"

"$top/tests/deps.sh" check || exit 1

passed=0 failed=0 skipped=0 broken=""

# unit test binaries (the hook library's, the ciphers') print their own
# "N passed, N failed" as the last line
for unit in unit-tests cipher-tests; do
	"$build/tests/$unit" > "$out/$unit.log" 2>&1
	unit_rc=$?
	cat "$out/$unit.log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$unit.log" | tail -n 1)
	if [ -n "$line" ]; then
		passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
		failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	fi
	[ -n "$line" ] && [ $unit_rc -eq 0 -o "$(echo "$line" | cut -d' ' -f3)" != 0 ] || broken="$broken $unit(rc=$unit_rc)"
done

# integration tests: counts from pytest's JUnit report
rm -f "$out/integration.xml"
WS_BUILD=$build /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfEs \
	--junitxml="$out/integration.xml" "$top/tests/integration"
py_rc=$?
if [ -f "$out/integration.xml" ]; then
	set -- $(/usr/bin/python3 - "$out/integration.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
s = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - s, f, s)
PY
)
	passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
	[ "$py_rc" -eq 0 ] || [ "$2" -gt 0 ] || broken="$broken pytest(rc=$py_rc)"
else
	broken="$broken pytest(no report, rc=$py_rc)"
fi

if [ -n "$broken" ]; then
	echo "test runner problems:$broken"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
