#!/bin/sh
# Runs the libFuzzer targets of build/fuzz/bin/ (make fuzz-targets), each
# for a bounded time, JOBS at once.
#   tests/fuzz/run.sh [--seconds N] [--jobs N] [--fresh] [TARGET...]
#       defaults: 60 s, 1 job, every target
# A target starts from its seed corpus, tests/fuzz/corpus/TARGET/ (read
# only; regression inputs are there too), and its working corpus,
# build/fuzz/corpus/TARGET/, which keeps what earlier runs found; --fresh
# (the smoke test of `make check`) starts from the seeds alone.  A crash,
# leak, undefined behaviour or broken promise is saved in
# build/fuzz/crashes/TARGET/ and counts as a failure; run
#   build/fuzz/bin/TARGET build/fuzz/crashes/TARGET/crash-...
# to see it again.  Ends with "N passed, N failed" (make check adds it up).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${WS_BUILD:-$top/build}
bin=$build/fuzz/bin
logs=$build/fuzz/logs

# One target (run in parallel by xargs below): its verdict goes to
# $logs/TARGET.result as "ok RUNS" or "FAIL EXIT".
if [ "${1:-}" = "--one" ]; then
	t=$2 seconds=$3 fresh=$4
	seeds=$top/tests/fuzz/corpus/$t
	crashes=$build/fuzz/crashes/$t
	if [ "$fresh" = 1 ]; then
		work=$build/fuzz/smoke-corpus/$t
		rm -rf "$work"
	else
		work=$build/fuzz/corpus/$t
	fi
	mkdir -p "$work" "$crashes"
	[ -d "$seeds" ] || seeds=""
	# upstream's SSH streams are long (their .options files say 50000)
	case $t in fuzzer-*) max_len=50000 ;; *) max_len=8192 ;; esac
	# the outer timeout only catches a fuzzer that stops answering;
	# lsan.supp: what only looks like a leak in the fuzz harness
	LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
	timeout -k 5 $((seconds + 60)) "$bin/$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 \
		-artifact_prefix="$crashes/" "$work" $seeds > "$logs/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		echo "ok ${runs:-?}" > "$logs/$t.result"
	else
		echo "FAIL $rc" > "$logs/$t.result"
	fi
	exit 0
fi

seconds=60 jobs=1 fresh=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--fresh) fresh=1; shift ;;
	*) break ;;
	esac
done
targets=$*
[ -n "$targets" ] || targets=$(cd "$bin" 2>/dev/null && ls | sort)
if [ -z "$targets" ]; then
	echo "no fuzz targets in $bin: make fuzz-targets" >&2
	exit 1
fi

mkdir -p "$logs"
for t in $targets; do
	rm -f "$logs/$t.result"
done
printf '%s\n' $targets | xargs -P "$jobs" -I{} "$0" --one {} "$seconds" "$fresh"
passed=0 failed=0
for t in $targets; do
	set -- $(cat "$logs/$t.result" 2>/dev/null || echo "FAIL ?")
	if [ "$1" = ok ]; then
		echo "ok   fuzz $t: $2 runs in ${seconds}s"
		passed=$((passed + 1))
	else
		echo "FAIL fuzz $t (exit $2): log $logs/$t.log"
		grep -E -m 5 'ERROR|runtime error|broken promise|Test unit written' "$logs/$t.log" \
			| sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
