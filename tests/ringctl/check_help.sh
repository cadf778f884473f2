#!/bin/bash
# Every program's --help, as a new user types it first:
#   check_help.sh RINGSERVED RINGCTL RINGSERVE_BENCH RINGSERVE_MAKE_MODEL
# `PROGRAM --help` (and -h) prints the usage on stdout, nothing on stderr, and exits 0; an
# unknown option prints an error and the usage on stderr, nothing on stdout, and exits 2.
# ringctl's commands take --help too (`ringctl chat --help`), and ringctl's usage names the
# default of --max-tokens.
set -uo pipefail

ringserved=$1
ringctl=$2
bench=$3
make_model=$4
tmp=$(mktemp -d /tmp/ringserve-help-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect RC STREAM COMMAND...: STREAM (stdout or stderr) holds "usage:", the other is empty.
expect() {
  local want=$1 stream=$2 rc=0
  shift 2
  timeout 10 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  local what="${*##*/}"
  [ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want ($(head -c 300 "$tmp/err"))"
  local other=err
  [ "$stream" = out ] || other=out
  grep -q "usage:" "$tmp/$stream" || fail "$what: no usage on std$stream"
  [ ! -s "$tmp/$other" ] || fail "$what: std$other is not empty: $(head -c 300 "$tmp/$other")"
  echo "ok: $what -> exit $rc"
}

for program in "$ringserved" "$ringctl" "$bench" "$make_model"; do
  expect 0 out "$program" --help
  expect 0 out "$program" -h
done
for command in generate chat status metrics tokenize; do
  expect 0 out "$ringctl" "$command" --help
done
expect 0 out "$bench" latency --help

expect 2 err "$ringserved" --no-such-option
expect 2 err "$ringctl" --no-such-option
expect 2 err "$ringctl" chat --no-such-option
expect 2 err "$make_model" --no-such-option
# ringserve-bench names the subcommand it does not know and points at --help.
rc=0
"$bench" --no-such-option >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "try --help" "$tmp/err" || [ -s "$tmp/out" ]; then
  fail "ringserve-bench --no-such-option: exit $rc, '$(cat "$tmp/err")'"
fi
expect 2 err "$make_model"  # no --out

"$ringctl" --help >"$tmp/out" 2>&1
grep -Eq -- "--max-tokens N.*default 128" "$tmp/out" ||
  fail "ringctl --help does not give the default of --max-tokens (128): $(cat "$tmp/out")"

[ "$failures" -eq 0 ] || exit 1
echo "all ok"
