#!/bin/bash
# `shmrt manager serve` and `shmrt manager ls`: a server on a private Unix socket with
# a 0600 key file, listed in text and JSON, empty and then holding a client's dict and
# list; a key file others may read is refused (by serve and by ls), and so is a --region
# that does not exist; SIGTERM stops the server with exit status 0 and removes nothing
# but what it made. TLS: a
# non-loopback address without TLS is refused with a reason, --insecure-no-tls
# warns and serves; a TLS server is listed by ls --tls-ca and refused to a client
# trusting another CA; a key that is not the certificate's is refused with a reason.
# Every wait is bounded, and whatever was started is killed at the end.
# usage: manager_cli_test.sh SHMRT_TOOL MANAGER_CLI_CLIENT TLSCERT_MAKE
set -u
TOOL=$1
CLIENT=$2
TLSCERT=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/shmrt-mcli-test.XXXXXX") || exit 1
chmod 700 "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/*.out "$dir"/*.err; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done >&2
	exit 1
}
# wait_for FILE REGEX: until a line of FILE matches, 10 s at most
wait_for() {
	for _ in $(seq 100); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1 after 10 s"
}

key=$dir/key
head -c 32 /dev/urandom > "$key"
chmod 600 "$key"
addr=unix:$dir/sock/manager

# A key file group or others may read is refused, by serve and by ls.
cp "$key" "$dir/key644" && chmod 644 "$dir/key644"
timeout 10 "$TOOL" manager serve --address "$addr" --authkey-file "$dir/key644" \
	> "$dir/bad.out" 2> "$dir/bad.err"
rc=$?
[ $rc -eq 1 ] || fail "serve with a 0644 key exited $rc, not 1"
grep -q 'group or others' "$dir/bad.err" || fail "serve did not say why it refused the key"
[ -e "$dir/sock/manager" ] && fail "serve with a refused key created its socket"
"$TOOL" manager serve --address "$addr" > /dev/null 2>&1
[ $? -eq 2 ] || fail "serve without --authkey-file is not a usage error"

# --region of a region that does not exist: the server does not start, and says why.
timeout 10 "$TOOL" manager serve --address "$addr" --authkey-file "$key" \
	--region "shmrt-cli-test-no-region-$$" > "$dir/noreg.out" 2> "$dir/noreg.err"
rc=$?
[ $rc -eq 1 ] || fail "serve --region of a missing region exited $rc, not 1"
grep -q 'no such region' "$dir/noreg.err" || fail "serve --region did not say the region is missing"
grep -q 'listening' "$dir/noreg.out" && fail "serve --region of a missing region listened"

"$TOOL" manager serve --address "$addr" --authkey-file "$key" > "$dir/serve.out" 2> "$dir/serve.err" &
srv=$!
pids+=("$srv")
wait_for "$dir/serve.out" "^listening on $addr\$"

"$TOOL" manager ls "$addr" --authkey-file "$dir/key644" > /dev/null 2> "$dir/ls644.err" &&
	fail "ls accepted a 0644 key file"

# Empty: no objects, one session (ls itself).
timeout 20 "$TOOL" manager ls "$addr" --authkey-file "$key" > "$dir/ls0.out" 2>&1 || fail "ls failed"
grep -q "^manager $addr: epoch [0-9]*, 1 sessions (this one included), 0 objects\$" "$dir/ls0.out" ||
	fail "ls of an empty server"
timeout 20 "$TOOL" manager ls --json "$addr" --authkey-file "$key" > "$dir/ls0j.out" 2>&1 ||
	fail "ls --json failed"
python3 - "$dir/ls0j.out" "$addr" <<'PY' || fail "ls --json of an empty server"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["address"] == sys.argv[2] and j["sessions"] == 1 and j["count"] == 0, j
assert j["objects"] == [] and j["truncated"] is False and 0 < j["epoch"] < 65536, j
PY

# A client's dict and list are listed while it lives, and gone once it is killed.
"$CLIENT" "$addr" "$key" > "$dir/client.out" 2> "$dir/client.err" &
cli=$!
pids+=("$cli")
wait_for "$dir/client.out" '^ready$'
timeout 20 "$TOOL" manager ls "$addr" --authkey-file "$key" > "$dir/ls1.out" 2>&1 || fail "ls failed"
grep -q ", 2 sessions (this one included), 2 objects\$" "$dir/ls1.out" || fail "ls: not 2 sessions, 2 objects"
grep -Eq '^ID +TYPE +LEN +BYTES +REFS$' "$dir/ls1.out" || fail "ls: no header"
grep -Eq '^0x[0-9a-f]{16} +dict +2 +7 +1$' "$dir/ls1.out" || fail "ls: no dict of 2 keys"
grep -Eq '^0x[0-9a-f]{16} +list +3 +4 +1$' "$dir/ls1.out" || fail "ls: no list of 3 items"
timeout 20 "$TOOL" manager ls "$addr" --json --authkey-file "$key" > "$dir/ls1j.out" 2>&1 ||
	fail "ls --json failed"
python3 - "$dir/ls1j.out" <<'PY' || fail "ls --json with a client's objects"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["sessions"] == 2 and j["count"] == 2, j
d, l = j["objects"]
assert (d["type"], d["len"], d["bytes"], d["refs"]) == ("dict", 2, 7, 1), d
assert (l["type"], l["len"], l["bytes"], l["refs"]) == ("list", 3, 4, 1), l
assert int(d["id"], 16) < int(l["id"], 16) and int(d["id"], 16) >> 48 == j["epoch"], j
PY
kill -KILL "$cli"
wait "$cli" 2>/dev/null
for _ in $(seq 100); do
	timeout 20 "$TOOL" manager ls "$addr" --authkey-file "$key" > "$dir/ls2.out" 2>&1
	grep -q ", 1 sessions (this one included), 0 objects\$" "$dir/ls2.out" && break
	sleep 0.1
done
grep -q ", 1 sessions (this one included), 0 objects\$" "$dir/ls2.out" ||
	fail "a killed client's objects are still listed"

# A wrong key is refused.
head -c 32 /dev/urandom > "$dir/wrong" && chmod 600 "$dir/wrong"
timeout 20 "$TOOL" manager ls "$addr" --authkey-file "$dir/wrong" > /dev/null 2> "$dir/wrong.err" &&
	fail "ls with a wrong key succeeded"

# SIGTERM: a clean stop (status 0) within 10 s; the socket is gone.
kill -TERM "$srv"
for _ in $(seq 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
kill -0 "$srv" 2>/dev/null && fail "serve still runs 10 s after SIGTERM"
wait "$srv"
rc=$?
[ $rc -eq 0 ] || fail "serve exited $rc after SIGTERM"
timeout 20 "$TOOL" manager ls "$addr" --authkey-file "$key" > /dev/null 2>&1 &&
	fail "ls succeeded after the server stopped"
# TLS. A non-loopback address needs TLS or --insecure-no-tls, and says so.
timeout 10 "$TOOL" manager serve --address tcp:0.0.0.0:0 --any-host --authkey-file "$key" \
	> "$dir/notls.out" 2> "$dir/notls.err"
rc=$?
[ $rc -eq 1 ] || fail "serve on 0.0.0.0 without TLS exited $rc, not 1"
grep -q 'needs TLS' "$dir/notls.err" || fail "serve on 0.0.0.0 without TLS did not say why"
"$TOOL" manager serve --address tcp:0.0.0.0:0 --any-host --insecure-no-tls --authkey-file "$key" \
	> "$dir/insecure.out" 2> "$dir/insecure.err" &
ins=$!
pids+=("$ins")
wait_for "$dir/insecure.out" "^listening on tcp:0.0.0.0:[0-9]+\$"
grep -q 'WARNING: --insecure-no-tls' "$dir/insecure.err" || fail "--insecure-no-tls did not warn"
kill -TERM "$ins"
wait "$ins" || fail "the insecure server did not stop cleanly"
mkdir "$dir/tls" && "$TLSCERT" "$dir/tls" || fail "could not make the test certificates"
timeout 10 "$TOOL" manager serve --address tcp:127.0.0.1:0 --authkey-file "$key" \
	--tls-cert "$dir/tls/server.pem" --tls-key "$dir/tls/wrong.key" \
	> "$dir/wrongkey.out" 2> "$dir/wrongkey.err"
[ $? -eq 1 ] || fail "serve with a key not of its certificate did not exit 1"
grep -q 'does not match the certificate' "$dir/wrongkey.err" || fail "no reason for a wrong TLS key"
"$TOOL" manager serve --address tcp:127.0.0.1:0 --authkey-file "$key" \
	--tls-cert "$dir/tls/server.pem" --tls-key "$dir/tls/server.key" \
	> "$dir/tls.out" 2> "$dir/tls.err" &
tsrv=$!
pids+=("$tsrv")
wait_for "$dir/tls.out" "^listening on tcp:127.0.0.1:[0-9]+\$"
taddr=$(sed -n 's/^listening on //p' "$dir/tls.out")
timeout 20 "$TOOL" manager ls "$taddr" --authkey-file "$key" --tls-ca "$dir/tls/ca.pem" \
	> "$dir/tlsls.out" 2>&1 || fail "ls over TLS failed"
grep -q ", 1 sessions (this one included), 0 objects\$" "$dir/tlsls.out" || fail "ls over TLS"
timeout 20 "$TOOL" manager ls "$taddr" --authkey-file "$key" --tls-ca "$dir/tls/other-ca.pem" \
	> /dev/null 2> "$dir/tlsother.err" && fail "ls trusting another CA succeeded"
grep -q 'certificate was refused' "$dir/tlsother.err" || fail "no reason for a refused certificate"
kill -TERM "$tsrv"
wait "$tsrv" || fail "the TLS server did not stop cleanly"
echo "manager_cli_test: ok"
