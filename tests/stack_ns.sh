# shellcheck shell=bash
# tests/stack_ns.sh - for the tests that run deploy/local/stack for real
# (up, stop, start, down) without touching the shared stack (bash; sourced).
#
#   stack_ns_enter NAME "$@"
# Outside, it runs the calling script again in a private network namespace
# (`unshare -n`: its own loopback, so the stack's fixed ports are free) with
# its own GD_STACK_DIR and GD_BUILD_DIR=$BUILD, then checks that no process of
# that directory survived, removes it and exits with the script's status.
# Inside (argument --inside) it brings the loopback up, sources
# tests/assert.sh, sets STACK (the stack script) and `down` (stack down, its
# output shown only on failure), armed as the EXIT trap, and returns.
# Without root or namespaces the test is skipped (0 passed, 0 failed).
stack_ns_enter() {
  local name=$1 dir rc=0 left
  shift
  if [ "${1:-}" == --inside ]; then
    ip link set lo up
    source "$SRC/tests/assert.sh"
    STACK=$SRC/deploy/local/stack
    down() { "$STACK" down >"$GD_STACK_DIR.down.log" 2>&1 || cat "$GD_STACK_DIR.down.log"; }
    trap down EXIT
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "$name: needs root and network namespaces (unshare -n); skipped"
    echo "0 passed, 0 failed"
    exit 0
  fi
  dir=/var/tmp/gd-$name-$$ # not under a private /tmp dir: PostgreSQL runs as postgres
  GD_STACK_DIR=$dir GD_BUILD_DIR=$BUILD unshare -n bash "$0" --inside || rc=$?
  # Whatever the outcome, nothing of ours may survive: `down` ran inside; a
  # straggler is found by its data dir (argv, working directory or env).
  left=''
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$dir" ||
      [[ $(readlink "$p/cwd" 2>/dev/null) == "$dir"* ]] ||
      grep -qzF "$dir" "$p/environ" 2>/dev/null; then
      left+=" ${p#/proc/}:$(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-60)"
    fi
  done
  [ -z "$left" ] || { echo "FAIL processes left running:$left"; rc=1; }
  rm -rf "$dir" "$dir".*
  exit "$rc"
}
