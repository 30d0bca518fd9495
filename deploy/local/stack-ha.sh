# deploy/local/stack-ha.sh: HA mode of deploy/local/stack (DESIGN §10),
# sourced by it; not run on its own.  `stack up --ha` starts on loopback:
#
#   rabbitmq-1..3  one RabbitMQ cluster: AMQP 5672-5674, management 15672-15674,
#                  Prometheus 15692-15694, Erlang distribution 25672-25674,
#                  nodes rabbitmq-N@localhost; every quorum queue has a member
#                  on each node (deploy/rabbitmq/definitions-ha.json)
#   redis-1..3     one primary and two replicas, 6379-6381, master name giftdrop
#   sentinel-1..3  Redis Sentinel, 26379-26381, quorum 2
#   pg-monitor     the pg_auto_failover monitor, 5440
#   postgres-1..2  a primary and a synchronous standby under pg_auto_failover,
#                  5432-5433; migrations applied through the primary
#   apps           HA_APPS below, with the settings `stack env` prints
#
# Data under $STACK_DIR/ha/<node>, pid files under run/<node>/, logs under
# logs/<node>/; the single-node stack's data is left as it is.  The mode is
# remembered in $STACK_DIR/mode, so that status, env, down, start, stop and
# kill know it.  The RabbitMQ and Redis nodes reuse the single-node functions
# of deploy/local/stack (rmq_launch, rmq_wait_ready, rmq_stop, redis_start,
# redis_stop, pg_migrate) with their globals bound to one node by the
# *_scope functions below (bash's dynamic scoping of `local`).
# shellcheck shell=bash

HA_DIR=$STACK_DIR/ha
HA_MODE_FILE=$STACK_DIR/mode
HA_PACKAGES=(redis-sentinel postgresql-15-auto-failover pg-auto-failover-cli)

# The apps `stack up --ha` starts, in this order, with the HA settings.  The
# giftdrop services do not read comma-separated AMQP_URL, REDIS_SENTINELS or
# multi-host DATABASE_URL yet (issue 19); once common/ does, add them here:
#   HA_APPS=(fake-provider entry-api-1 entry-api-2 haproxy stock-consumer notifier-consumer)
# (HAProxy without an entry-api behind it is never ready, so it waits too.)
HA_APPS=(fake-provider)

HA_RMQ_N=3 HA_REDIS_N=3 HA_PG_N=2
HA_AMQP_BASE=5672 HA_MGMT_BASE=15672 HA_PROM_BASE=15692 HA_DIST_BASE=25672
HA_REDIS_BASE=6379 HA_SENTINEL_BASE=26379 HA_PG_BASE=5432 HA_PG_MONITOR_PORT=5440
HA_MASTER_NAME=giftdrop
# definitions.json plus x-quorum-initial-group-size 3 on every quorum queue.
# The broker checks that argument on a redeclaration: a client declaring
# stock.entries with definitions.json's arguments (common/topology.c) gets
# PRECONDITION_FAILED "inequivalent arg 'x-quorum-initial-group-size'" here.
# Without it a quorum queue declared on this 3-node cluster gets 3 members
# as well (observed on RabbitMQ 3.10.8; it.ha_stack logs the count).
HA_RMQ_DEFS=$REPO_ROOT/deploy/rabbitmq/definitions-ha.json
HA_PG_BOOT_TIMEOUT=180 # pg_auto_failover: a cold start clones the standby
HA_REJOIN_TIMEOUT=120  # a restarted node back in its cluster
# Sentinel: a primary silent for 2 s is down; quorum 2 of 3.
HA_SENTINEL_DOWN_MS=2000 HA_SENTINEL_FAILOVER_MS=10000
HA_PG_BIN=/usr/lib/postgresql/15/bin
HA_PG_DIR=$HA_DIR/pg # owned by postgres: monitor/, postgres-N/, xdg/
HA_PG_SOCK=$RUN_DIR/pg # the PostgreSQL sockets of every HA node

ha_mode() { [[ -f $HA_MODE_FILE && $(<"$HA_MODE_FILE") == ha ]]; }

ha_amqp_url() {
  local n out=''
  for ((n = 1; n <= HA_RMQ_N; n++)); do out+="${out:+,}amqp://guest:guest@$HOST:$((HA_AMQP_BASE + n - 1))"; done
  printf '%s' "$out"
}
ha_sentinels() {
  local n out=''
  for ((n = 1; n <= HA_REDIS_N; n++)); do out+="${out:+,}$HOST:$((HA_SENTINEL_BASE + n - 1))"; done
  printf '%s' "$out"
}
ha_database_url() {
  local n hosts=''
  for ((n = 1; n <= HA_PG_N; n++)); do hosts+="${hosts:+,}$HOST:$((HA_PG_BASE + n - 1))"; done
  printf 'postgresql://giftdrop:giftdrop@%s/giftdrop?target_session_attrs=read-write' "$hosts"
}

# In HA mode the globals the apps get (export_stack_env) are the HA ones.
ha_select_env() {
  AMQP_URL=$(ha_amqp_url)
  REDIS_URL="redis://$HOST:$HA_REDIS_BASE" # password and database; the host comes from the Sentinels
  REDIS_SENTINELS=$(ha_sentinels)
  REDIS_MASTER_NAME=$HA_MASTER_NAME
  DATABASE_URL=$(ha_database_url)
  MGMT_URL="http://$HOST:$HA_MGMT_BASE"
  export REDIS_SENTINELS REDIS_MASTER_NAME
}
if ha_mode; then ha_select_env; fi

ha_env() {
  cat <<EOF
export AMQP_URL=$AMQP_URL
export REDIS_URL=$REDIS_URL
export REDIS_SENTINELS=$REDIS_SENTINELS
export REDIS_MASTER_NAME=$REDIS_MASTER_NAME
export DATABASE_URL='$DATABASE_URL'
export RABBITMQ_MGMT_URL=$MGMT_URL
export RABBITMQ_MGMT_USER=guest
export RABBITMQ_MGMT_PASSWORD=guest
EOF
}

# ---------------------------------------------------------------------------
# Nodes and their processes
# ---------------------------------------------------------------------------
ha_is_node() {
  [[ $1 =~ ^rabbitmq-[1-3]$ || $1 =~ ^redis-[1-3]$ || $1 =~ ^sentinel-[1-3]$ ||
    $1 =~ ^postgres-[1-2]$ || $1 == pg-monitor ]]
}
ha_nodes() {
  local n
  for ((n = 1; n <= HA_RMQ_N; n++)); do echo "rabbitmq-$n"; done
  for ((n = 1; n <= HA_REDIS_N; n++)); do echo "redis-$n"; done
  for ((n = 1; n <= HA_REDIS_N; n++)); do echo "sentinel-$n"; done
  echo pg-monitor
  for ((n = 1; n <= HA_PG_N; n++)); do echo "postgres-$n"; done
}

# Called by deploy/local/stack's start/stop/restart: a node name only in HA
# mode, a single-node component name only outside it.
ha_check_component() {
  if ha_mode; then
    case $1 in
    rabbitmq | redis | postgres)
      die "the stack is in HA mode: name a node ($(ha_nodes | paste -sd' '))" ;;
    esac
  elif ha_is_node "$1"; then
    die "$1 is a node of the HA stack, which is not in use (stack up --ha)"
  fi
  return 0
}

# proc_matches' HA names (deploy/local/stack calls this for ha-*); the node
# is the one the *_scope function bound.
ha_proc_matches() {
  local name=$1 pid=$2 cl
  pid_alive "$pid" || return 1
  cl=$(cmdline "$pid")
  case $name in
  ha-sentinel) [[ $cl == *redis-sentinel* || $cl == *'[sentinel]'* ]] && cwd_is "$pid" "$HA_SENT_DIR" ;;
  ha-pg) [[ $cl == "pg_autoctl run --pgdata $HA_PGDATA" ]] && has_env "$pid" "XDG_CONFIG_HOME=$HA_PG_DIR/xdg/config" ;;
  # epmd, started by the first node with its env
  ha-epmd) [[ $cl == *epmd* ]] && grep -qz "^RABBITMQ_MNESIA_BASE=$HA_DIR/rabbitmq-" "/proc/$pid/environ" 2>/dev/null ;;
  *) return 1 ;;
  esac
}

# ha_tree PID: PID and every descendant, parents first.
ha_tree() {
  local -A kids=()
  local p pp todo=("$1") out=()
  while read -r p pp; do kids[$pp]+=" $p"; done < <(ps -e -o pid=,ppid=)
  while ((${#todo[@]})); do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    out+=("$p")
    # shellcheck disable=SC2206 # a list of pids
    [[ -z ${kids[$p]:-} ]] || todo+=(${kids[$p]})
  done
  printf '%s\n' "${out[@]}"
}

# ha_tree_kill PID: SIGKILL PID's whole process tree, frozen first so that
# no supervisor restarts a child and no child is reparented meanwhile.
ha_tree_kill() {
  local pids=() p
  mapfile -t pids < <(ha_tree "$1")
  kill -STOP "${pids[@]}" 2>/dev/null || true
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for p in "${pids[@]}"; do wait_gone "$p" 5 || warn "pid $p survived SIGKILL"; done
}

# ha_wait_until COMP PID SECONDS WHAT LOG CMD...: until CMD succeeds; fails
# (naming WHAT, with LOG's tail) when PID exits or after SECONDS.
ha_wait_until() {
  local comp=$1 pid=$2 t=$3 what=$4 log=$5 end=$((SECONDS + $3))
  shift 5
  until "$@"; do
    pid_alive "$pid" || fail "$comp" "pid $pid exited during start-up" "$log"
    ((SECONDS < end)) || fail "$comp" "$what after ${t}s" "$log"
    sleep 0.3
  done
}

# ha_relabel COMP LABEL: in a subshell, the single-node functions' messages
# about COMP (say "rabbitmq: ...", fail rabbitmq ...) name LABEL instead.
ha_relabel() {
  HA_COMP=$1 HA_LABEL=$2
  eval "ha_fail_single() $(declare -f fail | tail -n +2)"
  say() { printf 'stack: %s\n' "$(ha_label "$*")"; }
  warn() { printf 'stack: WARNING: %s\n' "$(ha_label "$*")" >&2; }
  fail() {
    local c=$1
    shift
    [[ $c != "$HA_COMP" ]] || c=$HA_LABEL
    ha_fail_single "$c" "$@"
  }
}
ha_label() {
  local m=$1
  [[ $m != "$HA_COMP:"* ]] || m="$HA_LABEL:${m#"$HA_COMP:"}"
  printf '%s' "$m"
}

# ---------------------------------------------------------------------------
# RabbitMQ cluster
# ---------------------------------------------------------------------------
# ha_rmq_scope N CMD...: CMD with deploy/local/stack's RabbitMQ globals
# pointing at node N.
ha_rmq_scope() {
  local n=$1
  shift
  local RMQ_NODE="rabbitmq-$n@localhost" RMQ_DIR="$HA_DIR/rabbitmq-$n"
  local RUN_DIR="$RUN_DIR/rabbitmq-$n" LOG_DIR="$LOG_DIR/rabbitmq-$n"
  local AMQP_PORT=$((HA_AMQP_BASE + n - 1)) MGMT_PORT=$((HA_MGMT_BASE + n - 1))
  local PROM_PORT=$((HA_PROM_BASE + n - 1)) RMQ_DIST_PORT=$((HA_DIST_BASE + n - 1))
  local MGMT_URL="http://$HOST:$((HA_MGMT_BASE + n - 1))"
  local RMQ_ENV=("${RMQ_ENV[@]}") i e k
  for i in "${!RMQ_ENV[@]}"; do
    e=${RMQ_ENV[i]}
    k=${e%%=*}
    case $k in
    HOME) e="$k=$RMQ_DIR" ;;
    RABBITMQ_NODENAME) e="$k=$RMQ_NODE" ;;
    RABBITMQ_MNESIA_BASE) e="$k=$RMQ_DIR/mnesia" ;;
    RABBITMQ_LOG_BASE) e="$k=$LOG_DIR/rabbitmq" ;;
    RABBITMQ_ENABLED_PLUGINS_FILE) e="$k=$RMQ_DIR/enabled_plugins" ;;
    RABBITMQ_CONFIG_FILE) e="$k=$RMQ_DIR/rabbitmq.conf" ;;
    RABBITMQ_ADVANCED_CONFIG_FILE) e="$k=$RMQ_DIR/advanced.config" ;;
    RABBITMQ_CONF_ENV_FILE) e="$k=$RMQ_DIR/rabbitmq-env.conf" ;;
    RABBITMQ_PID_FILE) e="$k=$RUN_DIR/rabbitmq.pid" ;;
    RABBITMQ_DIST_PORT) e="$k=$RMQ_DIST_PORT" ;;
    *) # anything else naming the single node's places would be shared by all
      [[ $e != *"$STACK_DIR/"* ]] || die "stack-ha.sh: RMQ_ENV entry '$k' is not rebound per node; add it to ha_rmq_scope" ;;
    esac
    RMQ_ENV[i]=$e
  done
  mkdir -p "$RMQ_DIR" "$RUN_DIR" "$LOG_DIR" 2>/dev/null || true
  "$@"
}

# Replaces rmq_write_config inside a node's subshell: the single node's
# config without load_definitions (the topology is imported once the cluster
# has formed, so that each quorum queue gets a member on every node), plus
# cluster formation, and the cluster's shared Erlang cookie.
ha_rmq_write_config() {
  local n
  {
    echo "# generated by deploy/local/stack (HA); rewritten at every start"
    echo "listeners.tcp.default = $HOST:$AMQP_PORT"
    echo "management.tcp.ip = $HOST"
    echo "management.tcp.port = $MGMT_PORT"
    echo "prometheus.tcp.ip = $HOST"
    echo "prometheus.tcp.port = $PROM_PORT"
    echo "log.file.level = info"
    echo "log.console = false"
    echo "cluster_formation.peer_discovery_backend = classic_config"
    for ((n = 1; n <= HA_RMQ_N; n++)); do
      echo "cluster_formation.classic_config.nodes.$n = rabbitmq-$n@localhost"
    done
    # A node cut off from the other two stops serving rather than diverge.
    echo "cluster_partition_handling = pause_minority"
  } >"$RMQ_DIR/rabbitmq.conf"
  echo '[rabbitmq_management,rabbitmq_prometheus].' >"$RMQ_DIR/enabled_plugins"
  echo '# intentionally empty: see deploy/local/stack' >"$RMQ_DIR/rabbitmq-env.conf"
  echo '[].' >"$RMQ_DIR/advanced.config"
  if [[ ! -s $HA_DIR/erlang.cookie ]]; then
    (umask 077 && tr -dc 'A-Z' </dev/urandom | head -c 32 >"$HA_DIR/erlang.cookie")
  fi
  if ! cmp -s "$HA_DIR/erlang.cookie" "$RMQ_DIR/.erlang.cookie"; then
    rm -f "$RMQ_DIR/.erlang.cookie"
    install -m 400 "$HA_DIR/erlang.cookie" "$RMQ_DIR/.erlang.cookie"
  fi
}

ha_rmq_has_data() { [[ -d $HA_DIR/rabbitmq-$1/mnesia/rabbitmq-$1@localhost ]]; }

# ha_rmq_boot N: launch node N and wait until it is ready (in a subshell).
ha_rmq_boot() {
  (
    ha_relabel rabbitmq "rabbitmq-$1"
    rmq_write_config() { ha_rmq_write_config; }
    ha_rmq_scope "$1" ha_rmq_boot_scoped
  )
}
ha_rmq_boot_scoped() {
  rmq_launch
  rmq_wait_ready
}

# ha_rmq_start_all: every node, those with data first and together (each
# waits for the others' tables), then the fresh ones, which join through
# peer discovery.  On a cold cluster node 1 comes first, alone.
ha_rmq_start_all() {
  local n fresh=() warm=()
  for ((n = 1; n <= HA_RMQ_N; n++)); do
    if ha_rmq_has_data "$n"; then warm+=("$n"); else fresh+=("$n"); fi
  done
  if ((${#warm[@]} == 0)); then
    ha_rmq_boot 1 || return 1
    fresh=("${fresh[@]:1}")
  else
    ha_rmq_boot_together "${warm[@]}" || return 1
  fi
  ha_rmq_boot_together "${fresh[@]}"
}

# ha_rmq_boot_together N...: boot the nodes in parallel.
ha_rmq_boot_together() {
  local n pids=() rc=0
  for n in "$@"; do ha_rmq_boot_retry "$n" & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  return "$rc"
}
# ha_rmq_boot_retry N: a node whose boot fails is booted once more, a few
# seconds later: RabbitMQ 3.10 sometimes fails a node booting beside another
# while it syncs feature flags (incompatible_feature_flags, badmap undefined
# in rabbit_feature_flags:enable_dependencies).
ha_rmq_boot_retry() {
  local n=$1 err
  err=$(mktemp)
  if ha_rmq_boot "$n" 2>"$err"; then
    rm -f "$err"
    return 0
  fi
  if grep -q incompatible_feature_flags "$err"; then
    say "rabbitmq-$n: boot failed beside the other nodes (incompatible_feature_flags, a RabbitMQ 3.10 race); booting it again"
  else
    cat "$err" >&2
    say "rabbitmq-$n: boot failed (above); booting it again"
  fi
  rm -f "$err"
  sleep 3
  ha_rmq_boot "$n"
}

ha_rmq_pid() { ha_rmq_scope "$1" rmq_any_pid; }
ha_rmq_mgmt() { # N PATH: GET from node N's management API
  curl -sf -m 5 -u guest:guest "http://$HOST:$((HA_MGMT_BASE + $1 - 1))$2" 2>/dev/null
}
ha_rmq_first_up() { # the first node whose management API answers
  local n
  for ((n = 1; n <= HA_RMQ_N; n++)); do
    ha_rmq_mgmt "$n" /api/overview >/dev/null && { echo "$n"; return 0; }
  done
  return 1
}
ha_rmq_running_nodes() { # N: the cluster's running nodes as node N sees them
  ha_rmq_mgmt "$1" '/api/nodes?columns=name,running' | jq -r '.[] | select(.running) | .name' | sort
}

# ha_rmq_join N PEER: the fallback when peer discovery left node N on its own.
ha_rmq_join() {
  local n=$1 peer=$2
  say "rabbitmq-$n: not in the cluster after boot: joining rabbitmq-$peer@localhost"
  ha_rmq_scope "$n" ha_rmq_join_scoped "rabbitmq-$peer@localhost" ||
    fail "rabbitmq-$n" "joining rabbitmq-$peer@localhost failed" "$LOG_DIR/rabbitmq-$n/rabbitmqctl.log"
}
ha_rmq_join_scoped() {
  rmqctl 60 stop_app && rmqctl 60 reset && rmqctl 60 join_cluster "$1" && rmqctl 60 start_app
}
ha_rmq_grow_scoped() { # the node gets a member of every quorum queue
  (cd "$RMQ_DIR" && exec timeout 60 env "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmq-queues" grow "$RMQ_NODE" all \
    --vhost-pattern '^/$' --queue-pattern '.*') </dev/null >>"$LOG_DIR/rabbitmqctl.log" 2>&1 9>&-
}

# ha_rmq_cluster_ready: every node in one cluster, the HA topology imported
# (each quorum queue with a member on each node).
ha_rmq_cluster_ready() {
  local want n have out
  want=$(for ((n = 1; n <= HA_RMQ_N; n++)); do echo "rabbitmq-$n@localhost"; done)
  have=$(ha_rmq_running_nodes 1 || true)
  for ((n = 2; n <= HA_RMQ_N; n++)); do
    grep -qx "rabbitmq-$n@localhost" <<<"$have" || ha_rmq_join "$n" 1
  done
  local end=$((SECONDS + 60))
  until [[ $(ha_rmq_running_nodes 1 || true) == "$want" ]]; do
    ((SECONDS < end)) || fail rabbitmq "the cluster does not list all $HA_RMQ_N nodes as running: $(ha_rmq_running_nodes 1 | paste -sd' ')" \
      "$LOG_DIR/rabbitmq-1/rabbitmq/rabbitmq-1@localhost.log"
    sleep 0.5
  done
  # The topology, once every node runs: declared from node 1 with
  # x-quorum-initial-group-size 3.  Idempotent on a cluster that has it.
  jq -e 'type == "object"' "$HA_RMQ_DEFS" >/dev/null 2>&1 || fail rabbitmq "$HA_RMQ_DEFS is not a valid JSON object"
  out=$(curl -s -m 30 -u guest:guest -H 'content-type: application/json' -X POST \
    --data-binary "@$HA_RMQ_DEFS" -w ' HTTP %{http_code}' "http://$HOST:$HA_MGMT_BASE/api/definitions" 2>&1) || true
  [[ $out == *'HTTP 20'[0-9] ]] || fail rabbitmq "importing $HA_RMQ_DEFS through the management API failed: $out"
  # Every quorum queue of the definitions with a member on every node; a
  # queue declared while a node was away gets one (rabbitmq-queues grow).
  local short
  short=$(ha_rmq_short_queues)
  if [[ -n $short ]]; then
    say "rabbitmq: quorum queues without a member on every node ($short): rabbitmq-queues grow"
    for ((n = 1; n <= HA_RMQ_N; n++)); do ha_rmq_scope "$n" ha_rmq_grow_scoped || true; done
    short=$(ha_rmq_short_queues)
    [[ -z $short ]] || fail rabbitmq "quorum queues still without a member on each of the $HA_RMQ_N nodes: $short"
  fi
  local leader
  leader=$(ha_rmq_mgmt 1 /api/queues/%2F/stock.entries | jq -r '.leader // empty' || true)
  say "rabbitmq: cluster of $HA_RMQ_N ready, $(jq '[.queues[] | select(.arguments["x-queue-type"] == "quorum")] | length' "$HA_RMQ_DEFS") quorum queues with $HA_RMQ_N members each, stock.entries led by ${leader:-?}"
}
ha_rmq_short_queues() { # the quorum queues of the definitions lacking a member
  local want
  want=$(jq -r '.queues[] | select(.arguments["x-queue-type"] == "quorum") | .name' "$HA_RMQ_DEFS")
  ha_rmq_mgmt 1 '/api/queues/%2F?columns=name,type,members' |
    jq -r --argjson n "$HA_RMQ_N" --arg want "$want" '
      ($want | split("\n")) as $w
      | [.[] | {name, m: ((.members // []) | length)}] as $have
      | [$w[] as $q | select(([$have[] | select(.name == $q and .m == $n)] | length) == 0) | $q] | join(" ")'
}

# ha_rmq_wait_member N: node N runs in the cluster and is an online member
# of stock.entries (after `stack start rabbitmq-N`).
ha_rmq_wait_member() {
  local n=$1 node="rabbitmq-$1@localhost" peer end=$((SECONDS + HA_REJOIN_TIMEOUT)) online
  while :; do
    peer=$(ha_rmq_first_up || true)
    if [[ -n $peer ]]; then
      online=$(ha_rmq_mgmt "$peer" /api/queues/%2F/stock.entries | jq -r '(.online // [])[]' 2>/dev/null || true)
      ha_rmq_running_nodes "$peer" | grep -qx "$node" && grep -qx "$node" <<<"$online" && break
    fi
    ((SECONDS < end)) || fail "rabbitmq-$n" "not a running cluster member online in stock.entries after ${HA_REJOIN_TIMEOUT}s" \
      "$LOG_DIR/rabbitmq-$n/rabbitmq/$node.log"
    sleep 0.5
  done
  say "rabbitmq-$n: in the cluster, online member of stock.entries"
}

ha_rmq_stop() {
  (
    ha_relabel rabbitmq "rabbitmq-$1"
    ha_rmq_scope "$1" rmq_stop
  )
}
# epmd: rmq_stop stops it with the node whose env it has if no other node
# is registered; else it is stopped here, after the last node.
ha_epmd_stop() {
  local ep
  ep=$(ss -Hltnp 'sport = :4369' 2>/dev/null | grep -o '"epmd",pid=[0-9]*' | head -n 1 | sed 's/.*pid=//' || true)
  [[ -n $ep ]] && ha_proc_matches ha-epmd "$ep" || return 0
  if grep -q '^name ' < <(epmd -names 2>/dev/null); then
    say "epmd: left running (pid $ep): other Erlang nodes are registered"
  else
    kill -TERM "$ep" 2>/dev/null || true
    wait_gone "$ep" 5 || kill -KILL "$ep" 2>/dev/null || true
    say "epmd: stopped (pid $ep)"
  fi
}

ha_rmq_kill() {
  local pid
  pid=$(ha_rmq_scope "$1" running_pid rabbitmq-wrapper) || pid=$(ha_rmq_scope "$1" running_pid rabbitmq) ||
    { say "rabbitmq-$1: not running"; return 0; }
  ha_tree_kill "$pid"
  say "rabbitmq-$1: killed (SIGKILL, process tree of pid $pid)"
}

# ---------------------------------------------------------------------------
# Redis: primary, replicas, Sentinels
# ---------------------------------------------------------------------------
ha_redis_scope() { # N CMD...: deploy/local/stack's Redis globals on node N
  local n=$1
  shift
  local REDIS_DIR="$HA_DIR/redis-$n" RUN_DIR="$RUN_DIR/redis-$n" LOG_DIR="$LOG_DIR/redis-$n"
  local REDIS_PORT=$((HA_REDIS_BASE + n - 1))
  local REDIS_URL="redis://$HOST:$REDIS_PORT"
  mkdir -p "$REDIS_DIR" "$RUN_DIR" "$LOG_DIR" 2>/dev/null || true
  "$@"
}
ha_sentinel_port() { echo $((HA_SENTINEL_BASE + $1 - 1)); }
ha_sentinel_pong() { [[ $(ha_scli "$1" ping) == PONG ]]; }
ha_scli() { timeout 3 redis-cli -h "$HOST" -p "$(ha_sentinel_port "$1")" "${@:2}" 2>/dev/null; }

# The port of the primary: as a running Sentinel says, else as the Sentinels'
# config files last recorded it (they rewrite it at a failover), else node 1.
ha_redis_master_port() {
  local n out f
  for ((n = 1; n <= HA_REDIS_N; n++)); do
    out=$(ha_scli "$n" sentinel get-master-addr-by-name "$HA_MASTER_NAME" | sed -n 2p || true)
    [[ $out =~ ^[0-9]+$ ]] && { echo "$out"; return 0; }
  done
  for ((n = 1; n <= HA_REDIS_N; n++)); do
    f=$HA_DIR/sentinel-$n/sentinel.conf
    out=$(awk -v m="$HA_MASTER_NAME" '$1 == "sentinel" && $2 == "monitor" && $3 == m {print $5}' "$f" 2>/dev/null || true)
    [[ $out =~ ^[0-9]+$ ]] && { echo "$out"; return 0; }
  done
  echo "$HA_REDIS_BASE"
}

# ha_redis_start N MASTER_PORT: node N, a replica of MASTER_PORT unless it is
# that port; a replica waits until its link to the primary is up.
ha_redis_start() {
  (
    local n=$1 master=$2
    ha_relabel redis "redis-$n"
    eval "redis_write_config_single() $(declare -f redis_write_config | tail -n +2)"
    redis_write_config() {
      redis_write_config_single
      {
        [[ $REDIS_PORT == "$master" ]] || echo "replicaof $HOST $master"
        # An isolated primary refuses writes rather than take ones a
        # failover would drop; one replica within 10 s is enough.
        echo "min-replicas-to-write 1"
        echo "min-replicas-max-lag 10"
        echo "replica-serve-stale-data yes"
      } >>"$REDIS_DIR/redis.conf"
    }
    ha_redis_scope "$n" ha_redis_start_scoped "$master"
  )
}
ha_redis_start_scoped() {
  local master=$1 end=$((SECONDS + REDIS_BOOT_TIMEOUT)) info
  redis_start
  [[ $REDIS_PORT != "$master" ]] || return 0
  until info=$(rcli info replication 2>/dev/null) && grep -q '^master_link_status:up' <<<"$info"; do
    ((SECONDS < end)) || fail redis "no replication link to the primary $HOST:$master after ${REDIS_BOOT_TIMEOUT}s ($(grep -E '^(role|master_port|master_link_status):' <<<"$info" | tr -d '\r' | paste -sd' '))" "$LOG_DIR/redis.log"
    sleep 0.2
  done
  say "redis: replica of $HOST:$master, link up"
}

ha_sent_scope() { # N CMD...
  local n=$1
  shift
  local HA_SENT_DIR="$HA_DIR/sentinel-$n" RUN_DIR="$RUN_DIR/sentinel-$n" LOG_DIR="$LOG_DIR/sentinel-$n"
  local HA_SENT_PORT=$((HA_SENTINEL_BASE + n - 1))
  mkdir -p "$HA_SENT_DIR" "$RUN_DIR" "$LOG_DIR" 2>/dev/null || true
  "$@"
}

# Sentinel owns its config file (it records the primary, the replicas, the
# other Sentinels, its id and the epoch there), so it is written only once;
# a Sentinel restarted with a new id would count twice in every vote.
ha_sentinel_start() {
  local n=$1 master=$2
  ha_sent_scope "$n" ha_sentinel_start_scoped "$n" "$master"
}
ha_sentinel_start_scoped() {
  local n=$1 master=$2 pid end conf=$HA_SENT_DIR/sentinel.conf
  if pid=$(running_pid ha-sentinel); then
    say "sentinel-$n: already running (pid $pid)"
  else
    ensure_port_free "sentinel-$n" "$HA_SENT_PORT" redis-sentinel
    if [[ ! -s $conf ]]; then
      cat >"$conf" <<EOF
# written by deploy/local/stack (HA) once; Sentinel rewrites it from then on
bind $HOST
port $HA_SENT_PORT
daemonize yes
pidfile "$RUN_DIR/ha-sentinel.pid"
logfile "$LOG_DIR/sentinel.log"
dir "$HA_SENT_DIR"
sentinel monitor $HA_MASTER_NAME $HOST $master 2
sentinel down-after-milliseconds $HA_MASTER_NAME $HA_SENTINEL_DOWN_MS
sentinel failover-timeout $HA_MASTER_NAME $HA_SENTINEL_FAILOVER_MS
sentinel parallel-syncs $HA_MASTER_NAME 1
EOF
    fi
    rm -f "$RUN_DIR/ha-sentinel.pid"
    printf '\n=== %s starting sentinel-%s ===\n' "$(date -Is)" "$n" >>"$LOG_DIR/sentinel.log"
    (cd "$HA_SENT_DIR" && setsid redis-sentinel "$conf") </dev/null >>"$LOG_DIR/sentinel.log" 2>&1 9>&- ||
      fail "sentinel-$n" "redis-sentinel refused to start" "$LOG_DIR/sentinel.log"
    say "sentinel-$n: starting"
  fi
  end=$((SECONDS + REDIS_BOOT_TIMEOUT))
  until pid=$(running_pid ha-sentinel); do
    ((SECONDS < end)) || fail "sentinel-$n" "no live redis-sentinel with pid file $RUN_DIR/ha-sentinel.pid" "$LOG_DIR/sentinel.log"
    sleep 0.2
  done
  ha_wait_until "sentinel-$n" "$pid" "$REDIS_BOOT_TIMEOUT" "no PONG on $HOST:$HA_SENT_PORT" "$LOG_DIR/sentinel.log" \
    ha_sentinel_pong "$n"
  say "sentinel-$n: ready (pid $pid, $HOST:$HA_SENT_PORT)"
}

# ha_sentinels_agree: each running Sentinel names the same primary, knows
# the replicas and the other Sentinels, and can authorise a failover.
ha_sentinels_agree() {
  local n end=$((SECONDS + 60)) ok out
  while :; do
    ok=1
    for ((n = 1; n <= HA_REDIS_N; n++)); do
      ha_sent_scope "$n" running_pid ha-sentinel >/dev/null || continue
      out=$(ha_scli "$n" sentinel ckquorum "$HA_MASTER_NAME" || true)
      [[ $out == OK* && $out == *"$HA_REDIS_N usable"* ]] || { ok=0; break; }
      out=$(ha_scli "$n" sentinel master "$HA_MASTER_NAME" | awk 'NR % 2 {k = $0; next} k == "num-slaves" {print}' || true)
      [[ $out == $((HA_REDIS_N - 1)) ]] || { ok=0; break; }
    done
    ((ok)) && break
    ((SECONDS < end)) || fail "sentinel-$n" "no agreement after 60s: ckquorum says '${out:-nothing}'" "$LOG_DIR/sentinel-$n/sentinel.log"
    sleep 0.5
  done
  say "sentinels: $HA_REDIS_N agree on the primary $HOST:$(ha_redis_master_port), $((HA_REDIS_N - 1)) replicas, quorum 2"
}

ha_sentinel_stop() {
  local n=$1 pid
  if ! pid=$(ha_sent_scope "$n" running_pid ha-sentinel); then
    say "sentinel-$n: not running"
  else
    say "sentinel-$n: stopping (pid $pid)"
    ha_sent_scope "$n" terminate ha-sentinel "$pid" TERM 10 || return 1
    say "sentinel-$n: stopped"
  fi
  rm -f "$RUN_DIR/sentinel-$n/ha-sentinel.pid"
}

ha_redis_up() {
  local master n
  master=$(ha_redis_master_port)
  # the primary first, then the replicas, then the Sentinels
  ha_redis_start $((master - HA_REDIS_BASE + 1)) "$master" || return 1
  for ((n = 1; n <= HA_REDIS_N; n++)); do
    ((HA_REDIS_BASE + n - 1 == master)) || ha_redis_start "$n" "$master" || return 1
  done
  for ((n = 1; n <= HA_REDIS_N; n++)); do ha_sentinel_start "$n" "$master" || return 1; done
  ha_sentinels_agree
}

ha_redis_role() { # N: master / replica of PORT (link) / down
  local info
  info=$(timeout 3 redis-cli -h "$HOST" -p $((HA_REDIS_BASE + $1 - 1)) info replication 2>/dev/null | tr -d '\r') || { echo down; return 0; }
  case $(sed -n 's/^role://p' <<<"$info") in
  master) echo "master, $(sed -n 's/^connected_slaves://p' <<<"$info") replicas" ;;
  slave) echo "replica of :$(sed -n 's/^master_port://p' <<<"$info") (link $(sed -n 's/^master_link_status://p' <<<"$info"))" ;;
  *) echo unknown ;;
  esac
}

# ---------------------------------------------------------------------------
# PostgreSQL with pg_auto_failover
# ---------------------------------------------------------------------------
# Every pg_autoctl runs as postgres with its config, state and run files
# under $HA_PG_DIR/xdg (not ~postgres), and finds its node's socket in
# $HA_PG_SOCK.
ha_pg_as() {
  (cd / && exec setpriv --reuid=postgres --regid=postgres --init-groups \
    env -i HOME="$HA_PG_DIR" PATH=/usr/bin:/bin LANG=C.UTF-8 PGHOST="$HA_PG_SOCK" \
    XDG_CONFIG_HOME="$HA_PG_DIR/xdg/config" XDG_DATA_HOME="$HA_PG_DIR/xdg/data" \
    XDG_RUNTIME_DIR="$HA_PG_DIR/xdg/run" "$@")
}
ha_pg_scope() { # NODE CMD...: NODE is postgres-N or pg-monitor
  local node=$1
  shift
  local HA_PGDATA="$HA_PG_DIR/$node" RUN_DIR="$RUN_DIR/$node" LOG_DIR="$LOG_DIR/$node"
  local HA_PGPORT=$HA_PG_MONITOR_PORT
  [[ $node == pg-monitor ]] || HA_PGPORT=$((HA_PG_BASE + ${node#postgres-} - 1))
  mkdir -p "$RUN_DIR" "$LOG_DIR" 2>/dev/null || true
  "$@"
}
ha_pg_monitor_uri() { printf 'postgres://autoctl_node@%s:%s/pg_auto_failover?sslmode=disable' "$HOST" "$HA_PG_MONITOR_PORT"; }
ha_pg_monitor_sql() { # SQL: on the monitor, as postgres over its socket
  ha_pg_as "$HA_PG_BIN/psql" -X -q -At -F '|' -h "$HA_PG_SOCK" -p "$HA_PG_MONITOR_PORT" -d pg_auto_failover -c "$1" 2>/dev/null
}
# ha_pg_states: "name|port|reported|goal|postgres running (t/f)" per node,
# from the monitor.
ha_pg_states() {
  ha_pg_monitor_sql 'SELECT nodename, nodeport, reportedstate, goalstate, reportedpgisrunning FROM pgautofailover.node ORDER BY nodeid'
}
ha_pg_primary_port() {
  ha_pg_states | awk -F'|' '$3 == "primary" && $4 == "primary" {print $2; exit}
    ($3 == "single" || $3 == "wait_primary") && $3 == $4 {p = $2} END {if (p) print p}' | head -n 1
}

ha_pg_prepare_dirs() {
  mkdir -p "$HA_PG_DIR/xdg/run" "$HA_PG_SOCK"
  chown postgres:postgres "$HA_PG_DIR" "$HA_PG_DIR/xdg" "$HA_PG_DIR/xdg/run" "$HA_PG_SOCK"
  chmod 700 "$HA_PG_DIR"
  chmod 755 "$HA_PG_SOCK"
}

# Authentication: the app's role by password (scram) over TCP as in the
# single-node stack; pg_auto_failover's own roles (monitor, health checks,
# replication, pg_rewind) trusted on loopback only.
ha_pg_write_hba() {
  cat >"$1/pg_hba.conf" <<'EOF'
# written by deploy/local/stack (HA)
local all postgres peer
local pg_auto_failover autoctl_node trust
local all all peer
host pg_auto_failover autoctl_node 127.0.0.1/32 trust
host all pgautofailover_monitor 127.0.0.1/32 trust
host replication pgautofailover_replicator 127.0.0.1/32 trust
host all pgautofailover_replicator 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
EOF
  chown postgres:postgres "$1/pg_hba.conf"
}

# giftdrop.conf, included last by postgresql.conf, so that it wins over
# pg_auto_failover's settings (it sizes shared_buffers to a quarter of RAM).
ha_pg_write_config() {
  local f=$HA_PGDATA/giftdrop.conf
  [[ -f $HA_PGDATA/postgresql.conf ]] || return 0 # a standby not cloned yet
  {
    echo "# generated by deploy/local/stack (HA); rewritten at every start"
    echo "unix_socket_directories = '$HA_PG_SOCK'"
    echo "max_connections = 200"
    echo "shared_buffers = 256MB"
    echo "fsync = on"
    echo "logging_collector = off"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [[ $HA_PGDATA == */pg-monitor ]]; then
      # Failover within about 10 s of a primary's loss: a node is unhealthy
      # after 5 s without a report and failed health checks (1 s apart), and
      # a silent primary counts as demoted after 10 s (defaults 20 s, 30 s).
      echo "pgautofailover.health_check_period = 1000"
      echo "pgautofailover.health_check_timeout = 2000"
      echo "pgautofailover.health_check_max_retries = 2"
      echo "pgautofailover.health_check_retry_delay = 1000"
      echo "pgautofailover.node_considered_unhealthy_timeout = 5000"
      echo "pgautofailover.primary_demote_timeout = 10000"
    fi
  } >"$f"
  chown postgres:postgres "$f"
  grep -qx "include = 'giftdrop.conf'" "$HA_PGDATA/postgresql.conf" ||
    echo "include = 'giftdrop.conf'" >>"$HA_PGDATA/postgresql.conf"
}

ha_pg_initdb() { # the monitor and the first node; the standby is cloned
  [[ -f $HA_PGDATA/PG_VERSION ]] && return 0
  : >"$LOG_DIR/initdb.log"
  chown postgres:postgres "$LOG_DIR/initdb.log"
  ha_pg_as "$HA_PG_BIN/initdb" -D "$HA_PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >>"$LOG_DIR/initdb.log" 2>&1 ||
    fail "${HA_PGDATA##*/}" "initdb failed" "$LOG_DIR/initdb.log"
  ha_pg_write_hba "$HA_PGDATA"
  ha_pg_write_config
}

# ha_pg_create NODE: `pg_autoctl create` once (a marker records success; a
# failed attempt is resumed by the next one).
ha_pg_create() {
  local node=$1 out
  [[ -f $HA_PGDATA.created ]] && return 0
  say "$node: pg_autoctl create"
  touch "$LOG_DIR/create.log"
  if [[ $node == pg-monitor ]]; then
    ha_pg_initdb
    ha_pg_as pg_autoctl create monitor --pgdata "$HA_PGDATA" --pgport "$HA_PGPORT" --hostname "$HOST" \
      --skip-pg-hba --no-ssl --pgctl "$HA_PG_BIN/pg_ctl" >>"$LOG_DIR/create.log" 2>&1 ||
      fail "$node" "pg_autoctl create monitor failed" "$LOG_DIR/create.log"
    # it would listen on every address
    ha_pg_as pg_autoctl config set --pgdata "$HA_PGDATA" postgresql.listen_addresses "$HOST" >>"$LOG_DIR/create.log" 2>&1 ||
      fail "$node" "pg_autoctl config set postgresql.listen_addresses failed" "$LOG_DIR/create.log"
  else
    [[ $node != postgres-1 ]] || ha_pg_initdb
    ha_pg_as pg_autoctl create postgres --pgdata "$HA_PGDATA" --pgport "$HA_PGPORT" --pghost "$HA_PG_SOCK" \
      --listen "$HOST" --hostname "$HOST" --name "$node" --skip-pg-hba --no-ssl \
      --monitor "$(ha_pg_monitor_uri)" --pgctl "$HA_PG_BIN/pg_ctl" >>"$LOG_DIR/create.log" 2>&1 ||
      fail "$node" "pg_autoctl create postgres failed" "$LOG_DIR/create.log"
  fi
  out=$HA_PGDATA.created
  touch "$out"
}

# ha_pg_launch NODE: `pg_autoctl run` (it runs and supervises postgres).
ha_pg_launch() { ha_pg_scope "$1" ha_pg_launch_scoped "$1"; }
ha_pg_launch_scoped() {
  local node=$1 pid
  if pid=$(running_pid ha-pg); then
    say "$node: already running (pid $pid)"
    return 0
  fi
  ensure_port_free "$node" "$HA_PGPORT" postgresql
  ha_pg_create "$node"
  ha_pg_write_config
  touch "$LOG_DIR/postgres.log"
  printf '\n=== %s starting %s ===\n' "$(date -Is)" "$node" >>"$LOG_DIR/postgres.log"
  (cd / && exec setsid setpriv --reuid=postgres --regid=postgres --init-groups \
    env -i HOME="$HA_PG_DIR" PATH=/usr/bin:/bin LANG=C.UTF-8 PGHOST="$HA_PG_SOCK" \
    XDG_CONFIG_HOME="$HA_PG_DIR/xdg/config" XDG_DATA_HOME="$HA_PG_DIR/xdg/data" \
    XDG_RUNTIME_DIR="$HA_PG_DIR/xdg/run" pg_autoctl run --pgdata "$HA_PGDATA") \
    </dev/null >>"$LOG_DIR/postgres.log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$RUN_DIR/ha-pg.pid"
  say "$node: starting (pg_autoctl pid $pid)"
}

ha_pg_wait_monitor() {
  ha_pg_scope pg-monitor ha_pg_wait_monitor_scoped
}
ha_pg_wait_monitor_scoped() {
  local pid
  pid=$(running_pid ha-pg) || fail pg-monitor "pg_autoctl is not running" "$LOG_DIR/postgres.log"
  ha_wait_until pg-monitor "$pid" "$PG_BOOT_TIMEOUT" "the monitor does not answer on $HOST:$HA_PGPORT" \
    "$LOG_DIR/postgres.log" ha_pg_monitor_up
  say "pg-monitor: ready (pid $pid, $HOST:$HA_PGPORT)"
}
ha_pg_monitor_up() { "$HA_PG_BIN/pg_isready" -q -h "$HOST" -p "$HA_PGPORT" -t 2 && ha_pg_states >/dev/null; }

# ha_pg_wait_state NODE STATES TIMEOUT: until the monitor reports NODE in
# one of STATES (a regex) and at its goal.
ha_pg_wait_state() {
  local node=$1 want=$2 t=$3 pid row end rep goal running
  end=$((SECONDS + t))
  pid=$(ha_pg_scope "$node" running_pid ha-pg) || fail "$node" "pg_autoctl is not running" "$LOG_DIR/$node/postgres.log"
  while :; do
    row=$(ha_pg_states | awk -F'|' -v n="$node" '$1 == n' || true)
    IFS='|' read -r _ _ rep goal running <<<"$row"
    [[ -n ${rep:-} && $rep == "$goal" && $rep =~ ^($want)$ && $running == t ]] && break
    pid_alive "$pid" || fail "$node" "pg_autoctl (pid $pid) exited" "$LOG_DIR/$node/postgres.log"
    ((SECONDS < end)) || fail "$node" "not $want after ${t}s (monitor: ${rep:-no row}, goal ${goal:-?})" "$LOG_DIR/$node/postgres.log"
    sleep 0.3
  done
  say "$node: $rep (pid $pid, $HOST:$((HA_PG_BASE + ${node#postgres-} - 1)))"
}

# The monitor first (a keeper exits without it), then the primary (on a cold
# start postgres-1, else the node the monitor last made primary) until it
# runs as such, then the other node (on a cold start cloned from it).
# Launched together, a keeper that reported before its postgres was up got
# its node taken for lost and the other one promoted.  `down` stops the
# monitor first, so that it never records both nodes down.
ha_pg_up() {
  local first n
  ha_pg_prepare_dirs
  ha_pg_launch pg-monitor
  ha_pg_wait_monitor
  first=$(ha_pg_states | awk -F'|' '$4 ~ /^(primary|wait_primary|single)$/ {print $1; exit}' || true)
  [[ $first =~ ^postgres-[1-9]$ ]] || first=postgres-1
  ha_pg_launch "$first"
  ha_pg_wait_state "$first" 'single|primary|wait_primary' "$HA_PG_BOOT_TIMEOUT"
  for ((n = 1; n <= HA_PG_N; n++)); do
    [[ postgres-$n == "$first" ]] || ha_pg_launch "postgres-$n"
  done
  for ((n = 1; n <= HA_PG_N; n++)); do ha_pg_wait_state "postgres-$n" 'primary|secondary' "$HA_PG_BOOT_TIMEOUT"; done
  ha_pg_wait_pair "$HA_PG_BOOT_TIMEOUT"
  ha_pg_migrate
}

# ha_pg_wait_pair TIMEOUT: one primary and one secondary, both at their goal
# (not a node that reported primary and is being demoted).
ha_pg_wait_pair() {
  local t=$1 end=$((SECONDS + $1)) st
  while :; do
    st=$(ha_pg_states | awk -F'|' '$3 == $4 {print $3}' | sort | paste -sd' ' || true)
    [[ $st == "primary secondary" ]] && break
    ((SECONDS < end)) || fail postgres "no primary + secondary pair after ${t}s (monitor: $(ha_pg_states | paste -sd' '))" \
      "$LOG_DIR/pg-monitor/postgres.log"
    sleep 0.3
  done
  say "postgres: primary :$(ha_pg_primary_port), synchronous standby in place"
}

# Migrations through the primary, with deploy/local/stack's pg_migrate.
ha_pg_migrate() {
  local port n
  port=$(ha_pg_primary_port)
  [[ -n $port ]] || fail postgres "the monitor names no primary: $(ha_pg_states | paste -sd' ')"
  n=$((port - HA_PG_BASE + 1))
  (
    ha_relabel postgres "postgres-$n"
    # shellcheck disable=SC2034 # read by pg_migrate
    PG_PORT=$port RUN_DIR=$HA_PG_SOCK LOG_DIR=$LOG_DIR/postgres-$n
    pg_migrate
  )
}

ha_pg_stop() { # NODE: SIGTERM to pg_autoctl (it stops postgres, fast mode)
  local node=$1 pid p
  if ! pid=$(ha_pg_scope "$node" running_pid ha-pg); then
    say "$node: not running"
  else
    say "$node: stopping (pg_autoctl pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
      warn "$node: pg_autoctl (pid $pid) still alive after ${STOP_TIMEOUT}s: SIGKILL to its process tree"
      ha_tree_kill "$pid"
    fi
    say "$node: stopped"
  fi
  # a postgres left behind by a pg_autoctl killed earlier
  p=$(read_pidfile "$HA_PG_DIR/$node/postmaster.pid")
  if [[ -n $p ]] && pid_alive "$p" && cwd_is "$p" "$HA_PG_DIR/$node"; then
    warn "$node: postgres (pid $p) outlived its pg_autoctl: SIGQUIT"
    kill -QUIT "$p" 2>/dev/null || true
    wait_gone "$p" 10 || ha_tree_kill "$p"
  fi
  rm -f "$RUN_DIR/$node/ha-pg.pid"
}

ha_pg_kill() {
  local node=$1 pid
  pid=$(ha_pg_scope "$node" running_pid ha-pg) || { say "$node: not running"; return 0; }
  ha_tree_kill "$pid"
  say "$node: killed (SIGKILL, pg_autoctl and postgres: process tree of pid $pid)"
}

# ---------------------------------------------------------------------------
# Verbs
# ---------------------------------------------------------------------------
ha_single_running() {
  running_pid rabbitmq >/dev/null || running_pid rabbitmq-wrapper >/dev/null ||
    running_pid redis >/dev/null || running_pid postgres >/dev/null
}
ha_running() { # any HA node alive
  local node
  while IFS= read -r node; do ha_node_pid "$node" >/dev/null && return 0; done < <(ha_nodes)
  return 1
}
ha_node_pid() {
  case $1 in
  rabbitmq-*) ha_rmq_pid "${1#rabbitmq-}" ;;
  redis-*) ha_redis_scope "${1#redis-}" running_pid redis ;;
  sentinel-*) ha_sent_scope "${1#sentinel-}" running_pid ha-sentinel ;;
  postgres-* | pg-monitor) ha_pg_scope "$1" running_pid ha-pg ;;
  *) return 1 ;;
  esac
}

# `stack up` without --ha: leaves HA mode if nothing of it runs.
ha_leave_mode() {
  ha_mode || return 0
  ! ha_running || die "the HA stack runs (stack status); 'stack down' first, then 'stack up'"
  rm -f "$HA_MODE_FILE"
  say "mode: single-node (HA mode left; its data stays in $HA_DIR)"
}

ha_up() {
  local infra_only=$1 t0=$SECONDS rmq_job
  PACKAGES+=("${HA_PACKAGES[@]}")
  cmd_install quiet
  prepare_dirs
  mkdir -p "$HA_DIR"
  take_lock
  ! ha_single_running || die "the single-node stack runs on the same ports: 'stack down' first, then 'stack up --ha'"
  echo ha >"$HA_MODE_FILE"
  ha_select_env
  say "mode: HA (3 RabbitMQ nodes, Redis primary + 2 replicas + 3 Sentinels, PostgreSQL primary + synchronous standby)"
  # RabbitMQ boots slowest: its nodes come up in the background meanwhile.
  ha_rmq_start_all &
  rmq_job=$!
  trap 'kill "$rmq_job" 2>/dev/null || true' EXIT
  ha_redis_up
  ha_pg_up
  wait "$rmq_job" || die "rabbitmq: a node did not come up (see above)"
  trap - EXIT
  ha_rmq_cluster_ready
  if ((!infra_only)); then
    ensure_built
    local name
    for name in "${HA_APPS[@]}"; do app_start "$name"; done
  fi
  say "up --ha: done in $((SECONDS - t0))s; eval \"\$($SCRIPT_PATH env)\" for the HA settings"
}

ha_down() {
  local names=() i n rc=0 pids=()
  mapfile -t names < <(app_names)
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do app_stop "${names[i]}" || rc=1; done
  # Sentinels first: no failover while the nodes stop.
  for ((n = 1; n <= HA_REDIS_N; n++)); do ha_sentinel_stop "$n" || rc=1; done
  local master
  master=$(ha_redis_master_port)
  for ((n = HA_REDIS_N; n >= 1; n--)); do
    ((HA_REDIS_BASE + n - 1 == master)) || { (ha_relabel redis "redis-$n" && ha_redis_scope "$n" redis_stop) || rc=1; }
  done
  (ha_relabel redis "redis-$((master - HA_REDIS_BASE + 1))" && ha_redis_scope $((master - HA_REDIS_BASE + 1)) redis_stop) || rc=1
  for ((n = 1; n <= HA_RMQ_N; n++)); do ha_rmq_stop "$n" & pids+=($!); done
  # The monitor first (no failover decided while the nodes stop), then the
  # primary (a clean shutdown sends its last WAL to the standby), then the
  # standby.
  local primary
  primary=$(ha_pg_primary_port || true)
  ha_pg_stop pg-monitor || rc=1
  [[ -z ${primary:-} ]] || ha_pg_stop "postgres-$((primary - HA_PG_BASE + 1))" || rc=1
  for ((n = HA_PG_N; n >= 1; n--)); do
    [[ $((HA_PG_BASE + n - 1)) == "${primary:-}" ]] || ha_pg_stop "postgres-$n" || rc=1
  done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  ha_epmd_stop
  ((rc == 0)) || die "down: some processes could not be stopped (see above)"
  say "down: everything stopped (HA mode; 'stack up --ha' brings it back, 'stack up' the single-node stack)"
}

# stack start|stop NODE
ha_start_node() {
  local node=$1 n=${1##*-}
  ha_is_node "$node" || die "unknown node '$node' ($(ha_nodes | paste -sd' '))"
  case $node in
  rabbitmq-*)
    ha_rmq_boot_retry "$n" || exit 1
    ha_rmq_wait_member "$n"
    ;;
  redis-*)
    local master
    master=$(ha_redis_master_port)
    if [[ $master == $((HA_REDIS_BASE + n - 1)) ]] && ! timeout 3 redis-cli -h "$HOST" -p "$master" ping >/dev/null 2>&1; then
      say "redis-$n: the Sentinels still name it the primary: it starts as the primary"
    fi
    ha_redis_start "$n" "$master" || exit 1
    ;;
  sentinel-*)
    ha_sentinel_start "$n" "$(ha_redis_master_port)"
    ha_sentinels_agree
    ;;
  pg-monitor)
    ha_pg_prepare_dirs
    ha_pg_launch pg-monitor
    ha_pg_wait_monitor
    ;;
  postgres-*)
    ha_pg_prepare_dirs
    ha_pg_launch "$node"
    ha_pg_wait_state "$node" 'primary|secondary' "$HA_REJOIN_TIMEOUT"
    ha_pg_wait_pair "$HA_REJOIN_TIMEOUT"
    ;;
  esac
}
ha_stop_node() {
  local node=$1 n=${1##*-}
  ha_is_node "$node" || die "unknown node '$node' ($(ha_nodes | paste -sd' '))"
  case $node in
  rabbitmq-*) ha_rmq_stop "$n" ;;
  redis-*) (ha_relabel redis "$node" && ha_redis_scope "$n" redis_stop) ;;
  sentinel-*) ha_sentinel_stop "$n" ;;
  postgres-* | pg-monitor) ha_pg_stop "$node" ;;
  esac
}

# stack kill NODE: SIGKILL, left dead (for tests and demos).
ha_cmd_kill() {
  [[ $# -eq 1 ]] || die "usage: stack kill NODE ($(ha_nodes | paste -sd' '))"
  need_root kill
  ha_mode || die "kill: the stack is not in HA mode (stack up --ha)"
  ha_is_node "$1" || die "kill: unknown node '$1' ($(ha_nodes | paste -sd' '))"
  take_lock
  local pid n=${1##*-}
  case $1 in
  rabbitmq-*) ha_rmq_kill "$n" ;;
  postgres-* | pg-monitor) ha_pg_kill "$1" ;;
  *)
    pid=$(ha_node_pid "$1") || { say "$1: not running"; return 0; }
    ha_tree_kill "$pid"
    say "$1: killed (SIGKILL, pid $pid)"
    ;;
  esac
}

ha_status() {
  local node pid state role addr n leader members rmq_peer rmq_q='' sent='' pg=''
  printf 'mode: HA\n'
  status_line NODE PID ADDRESS STATE
  rmq_peer=$(ha_rmq_first_up || true)
  [[ -z $rmq_peer ]] || rmq_q=$(ha_rmq_mgmt "$rmq_peer" /api/queues/%2F/stock.entries || true)
  leader=$(jq -r '.leader // empty' <<<"$rmq_q" 2>/dev/null || true)
  members=$(jq -r '(.online // [])[]' <<<"$rmq_q" 2>/dev/null || true)
  for ((n = 1; n <= HA_REDIS_N; n++)); do
    sent=$(ha_scli "$n" sentinel get-master-addr-by-name "$HA_MASTER_NAME" | sed -n 2p || true)
    [[ -z $sent ]] || break
  done
  pg=$(ha_pg_states || true)
  while IFS= read -r node; do
    n=${node##*-}
    role=''
    case $node in
    rabbitmq-*)
      addr="$HOST:$((HA_AMQP_BASE + n - 1)) mgmt :$((HA_MGMT_BASE + n - 1))"
      if [[ $leader == "rabbitmq-$n@localhost" ]]; then
        role='leader of stock.entries'
      elif grep -qx "rabbitmq-$n@localhost" <<<"$members"; then role='follower'; fi
      ;;
    redis-*)
      addr="$HOST:$((HA_REDIS_BASE + n - 1))"
      role=$(ha_redis_role "$n")
      [[ $role == down ]] && role=''
      [[ -z $role || $sent != $((HA_REDIS_BASE + n - 1)) ]] || role+=', primary for the Sentinels'
      ;;
    sentinel-*)
      addr="$HOST:$((HA_SENTINEL_BASE + n - 1))"
      role=$(ha_scli "$n" sentinel get-master-addr-by-name "$HA_MASTER_NAME" | sed -n 2p || true)
      [[ -z $role ]] || role="primary :$role"
      ;;
    pg-monitor) addr="$HOST:$HA_PG_MONITOR_PORT" ;;
    postgres-*)
      addr="$HOST:$((HA_PG_BASE + n - 1))"
      role=$(awk -F'|' -v n="$node" '$1 == n {print ($3 == $4) ? $3 : $3 " -> " $4}' <<<"$pg")
      ;;
    esac
    if pid=$(ha_node_pid "$node"); then
      state=running
      [[ -z $role ]] || state="running  $role"
    else
      pid=- state=stopped
    fi
    status_line "$node" "$pid" "$addr" "$state"
  done < <(ha_nodes)
  local name row
  for row in "${APPS[@]}"; do
    name=${row%%|*}
    if pid=$(running_pid "$name"); then state=running; else pid=- state=stopped; fi
    status_line "$name" "$pid" "$(app_field "$row" 2)" "$state"
  done
  printf '\ndata: %s   logs: %s/<node>/\n' "$HA_DIR" "$LOG_DIR"
}

ha_help() {
  cat <<EOF

HA mode (DESIGN §10; remembered in $HA_MODE_FILE until 'stack up' without --ha):
  up --ha [--infra]   three RabbitMQ nodes (AMQP $HA_AMQP_BASE-$((HA_AMQP_BASE + 2)), UI $HA_MGMT_BASE-$((HA_MGMT_BASE + 2))),
                      Redis primary + 2 replicas ($HA_REDIS_BASE-$((HA_REDIS_BASE + 2))) and 3 Sentinels ($HA_SENTINEL_BASE-$((HA_SENTINEL_BASE + 2))),
                      PostgreSQL primary + synchronous standby ($HA_PG_BASE-$((HA_PG_BASE + 1))) under pg_auto_failover
                      (monitor $HA_PG_MONITOR_PORT); without --infra also: ${HA_APPS[*]}
  status, env, down, wipe   act on the HA stack
  kill NODE           SIGKILL one node and leave it dead
  start|stop|restart NODE   NODE: $(ha_nodes | paste -sd' ')
EOF
}
