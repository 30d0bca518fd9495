# tests/assert.sh - the counted, exact checks every test script uses (bash;
# sourced by tests/lib.sh and by the scripts that need no services).
#
#   expect NAME ACTUAL WANTED   one check, counted; never exits
#   tally                      prints "P passed, F failed"; fails when F > 0

T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_FAILS=0
T_PASSES=0

log() { printf '[%s %s] %s\n' "$T_NAME" "$(date +%H:%M:%S)" "$*"; }

# expect NAME ACTUAL WANTED: exact check, counted
expect() {
  if [ "$2" == "$3" ]; then
    T_PASSES=$((T_PASSES + 1))
    log "ok   $1 = $2"
  else
    T_FAILS=$((T_FAILS + 1))
    log "FAIL $1 = $2, expected $3"
  fi
}

tally() {
  printf '%d passed, %d failed\n' "$T_PASSES" "$T_FAILS"
  [ "$T_FAILS" -eq 0 ]
}
