#!/usr/bin/env bash
# harness: tests/lib.sh itself keeps one test's failure from breaking the next.
#   - a test that stops early (a failed command under set -e) still stops
#     every process it started, and says it stopped early;
#   - a test killed with SIGKILL (as ctest does at its timeout: no trap runs)
#     leaves nothing running either: its services get SIGTERM from the kernel;
#   - start refuses a port something already listens on and names the holder,
#     instead of starting a second server beside it (SO_REUSEPORT would split
#     the traffic between them);
#   - an at_exit step that hangs is abandoned at its deadline
#     (T_AT_EXIT_TIMEOUT_S, 120 s; 2 s here), and the services are still
#     stopped.
# Each case runs a small child test that sources lib.sh; the child starts the
# fake provider (a real server) on a port of its own.
source "$(dirname "$0")/../lib.sh"

PORT=$((T_PROVIDER_PORT + 7))
CHILD=$T_DIR/child.sh
# child.sh MODE: start the fake provider, record its pid, then end by MODE
cat >"$CHILD" <<'EOF'
T_NAME=harness-child
source "$GD_SOURCE_DIR/tests/lib.sh"
case $1 in hang) T_AT_EXIT_TIMEOUT_S=2 && at_exit 'sleep 600' ;; esac
start fp "$BIN_PROVIDER" --listen "127.0.0.1:$HPORT"
wait_http "http://127.0.0.1:$HPORT/healthz" 15
echo "$PID_fp" >"$HDIR/fp.pid"
case $1 in
  fail) false ;;                   # set -e: the test stops here
  sigkill) kill -KILL $$ ;;        # no trap runs
  hang) exit 3 ;;                  # ends with the hanging step to run
  ok) finish ;;
esac
EOF
child() {
  GD_SOURCE_DIR=$GD_SOURCE_DIR GD_BUILD_DIR=$GD_BUILD_DIR HPORT=$PORT HDIR=$T_DIR \
    timeout 200 bash "$CHILD" "$1" >"$T_DIR/child-$1.out" 2>&1
}
gone_within() { # PID SECONDS: the process is gone (zombies count as gone)
  for _ in $(seq 1 $(($2 * 10))); do proc_alive "$1" || return 0; sleep 0.1; done
  return 1
}

rc=0; child fail || rc=$?
expect "a test that fails under set -e: exit status" "$rc" 1
expect "  says it stopped early" "$(grep -c 'FAIL the test stopped early (exit status 1)' "$T_DIR/child-fail.out")" 1
expect "  its server is stopped" "$(gone_within "$(cat "$T_DIR/fp.pid")" 10 && echo gone || echo running)" gone
expect "  its port is free" "$(port_listener "$PORT")" ""

rc=0; { child sigkill; } 2>/dev/null || rc=$? # (bash would report the kill)
expect "a test killed with SIGKILL: exit status" "$rc" 137
expect "  its server gets SIGTERM from the kernel and stops" \
  "$(gone_within "$(cat "$T_DIR/fp.pid")" 10 && echo gone || echo running)" gone
expect "  its port is free" "$(port_listener "$PORT")" ""

# Something already listens on the port: start refuses and names it.
start squatter "$BIN_PROVIDER" --listen "127.0.0.1:$PORT"
wait_http "http://127.0.0.1:$PORT/healthz" 15
rc=0; child ok || rc=$?
expect "start on a taken port: the test stops" "$rc" 1
# shellcheck disable=SC2154 # set by start (lib.sh)
expect "  naming the holder" \
  "$(grep -c "FAIL fp: port $PORT is already in use (127.0.0.1:$PORT users:((.*pid=$PID_squatter," "$T_DIR/child-ok.out")" 1
expect "  the squatter was left alone" "$(proc_alive "$PID_squatter" && echo running)" running
stop_all

t0=$SECONDS
rc=0; child hang || rc=$?
expect "a clean-up step that hangs: the test still ends, with its status" "$rc" 3
expect "  the step is abandoned at its deadline" "$(grep -c 'clean-up step still running after 2 s, abandoned: sleep 600' "$T_DIR/child-hang.out")" 1
expect "  and the server is stopped" "$(gone_within "$(cat "$T_DIR/fp.pid")" 10 && echo gone || echo running)" gone
log "the hanging clean-up took $((SECONDS - t0)) s"
finish
