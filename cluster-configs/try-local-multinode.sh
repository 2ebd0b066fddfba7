#!/usr/bin/env bash
# Try faber-ray on a real multi-node Ray cluster without any cloud: start a head
# and N worker nodes on THIS machine, each with its own ports, all advertising
# the `faber_ray_sandbox` resource, with token authentication on.
#
#   cluster-configs/try-local-multinode.sh up       # start the nodes (+ executor if faber-ray is installed)
#   cluster-configs/try-local-multinode.sh status   # the nodes Ray sees
#   cluster-configs/try-local-multinode.sh demo     # a batch spread over every node (needs faber-ray)
#   cluster-configs/try-local-multinode.sh env      # `eval "$(... env)"` to point ray/faber-ray at it
#   cluster-configs/try-local-multinode.sh down     # stop everything this script started (safe to repeat)
#
# Why not `ray stop --force`? It kills EVERY Ray process on the machine,
# including a `ray.init()` in your test suite or another cluster. Instead each
# node runs in its own process group (setsid) under a private --temp-dir, and
# `down` only signals the groups whose processes live under that temp dir.
#
# Linux only (setsid, /proc-style ps). Knobs, all optional:
#   FABER_RAY_MN_DIR            Ray --temp-dir and state (default /tmp/faber-ray-mn).
#                               Keep it short: Ray puts unix sockets in it (107-byte limit).
#   FABER_RAY_MN_WORKERS        worker nodes besides the head (default 2, so 3 nodes)
#   FABER_RAY_MN_CPUS           logical CPUs per node (default 2; all nodes share the real cores)
#   FABER_RAY_MN_OBJECT_STORE   object store bytes per node (default 256 MiB; Ray's default
#                               of 30% of RAM per node would overcommit /dev/shm N times)
#   FABER_RAY_MN_PORT           GCS port (default 6390). Derived: Ray Client = PORT+1,
#                               node i: node manager PORT+10+2i, object manager PORT+11+2i
#   FABER_RAY_MN_DASHBOARD_PORT dashboard (default 8275)
#   FABER_RAY_MN_METRICS_PORT   metrics export port of node 0; node i uses +i (default 8090)
#   FABER_RAY_MN_AGENT_PORT     dashboard agent HTTP port of node 0; node i uses +i (default 52380)
#   FABER_RAY_MN_WORKER_PORTS   first worker port of node 0; node i gets 100 from +100i (default 23000)
#   FABER_RAY_MN_SKIP_FABER=1   only manage Ray; never call the faber-ray CLI
#   FABER_RAY_MN_GRACE          seconds `down` gives worker nodes after SIGTERM (default 10)
# The defaults stay clear of a default `ray start --head` (6379, 8265, 10001,
# 52365, workers 10002-19999) so both can run side by side.

set -euo pipefail

DIR=${FABER_RAY_MN_DIR:-/tmp/faber-ray-mn}
DIR=${DIR%/}
WORKERS=${FABER_RAY_MN_WORKERS:-2}
CPUS=${FABER_RAY_MN_CPUS:-2}
OBJECT_STORE=${FABER_RAY_MN_OBJECT_STORE:-$((256 * 1024 * 1024))}
PORT=${FABER_RAY_MN_PORT:-6390}
DASHBOARD_PORT=${FABER_RAY_MN_DASHBOARD_PORT:-8275}
METRICS_PORT=${FABER_RAY_MN_METRICS_PORT:-8090}
AGENT_PORT=${FABER_RAY_MN_AGENT_PORT:-52380}
WORKER_PORTS=${FABER_RAY_MN_WORKER_PORTS:-23000}
SKIP_FABER=${FABER_RAY_MN_SKIP_FABER:-0}
GRACE=${FABER_RAY_MN_GRACE:-10}

# Ray rewrites 127.0.0.1 to this machine's primary address (so the node IPs you
# see are e.g. 192.168.x.y), but connecting through loopback works either way.
ADDRESS="127.0.0.1:${PORT}"
PGID_FILE="$DIR/pgids"
TOKEN_FILE="$DIR/auth_token"
PYTHON=${FABER_RAY_MN_PYTHON:-python3}

# A stray RAY_ADDRESS would make the python checks below talk to another cluster.
unset RAY_ADDRESS

log() { printf '[try-local-multinode] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

faber_ray_wanted() { [[ "$SKIP_FABER" != 1 ]] && command -v faber-ray >/dev/null 2>&1; }

# --- token authentication ----------------------------------------------------
# Every node and every client must present the same token. This demo cluster
# gets its own token in $DIR (so it never touches ~/.ray/auth_token), unless you
# already exported RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH. RAY_AUTH_MODE=token is
# set explicitly: without it a `ray start --address` worker (or a driver given
# an explicit address) does not even try to authenticate.
setup_auth() {
    export RAY_AUTH_MODE=token
    if [[ -n "${RAY_AUTH_TOKEN:-}" || -n "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
        return
    fi
    if [[ ! -s "$TOKEN_FILE" ]]; then
        mkdir -p "$DIR"
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32), end="")' >"$TOKEN_FILE")
    fi
    export RAY_AUTH_TOKEN_PATH="$TOKEN_FILE"
}

# --- process groups ----------------------------------------------------------
own_pgid() { ps -o pgid= -p $$ | tr -d ' '; }

# Process groups holding a Ray process whose command line mentions our temp dir
# (gcs_server, raylet, dashboard, log monitor, ... all do). Requiring "/ray/"
# (the Ray install path) spares e.g. a `tail -f` of one of our log files.
discovered_pgids() {
    local own
    own=$(own_pgid)
    ps -ww -eo pgid=,args= | awk -v dir="$DIR/" -v own="$own" \
        'index($0, dir) && index($0, "/ray/") && $1 != own { print $1 }' | sort -u
}

# A recorded group is only trusted if it still holds something Ray-like: after
# a reboot or PID reuse the number may belong to someone else.
group_is_ours() {
    local pgid=$1
    ps -ww -eo pgid=,args= | awk -v g="$pgid" \
        '$1 == g && ($2 ~ /^ray::/ || index($0, "/ray/")) { found = 1 }
         END { exit !found }'
}

# Zombies do not count: they are already dead, just not yet reaped by init.
group_alive() { ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }

node_pgids() {
    local own pgid
    own=$(own_pgid)
    {
        [[ -f "$PGID_FILE" ]] && cat "$PGID_FILE"
        discovered_pgids
    } | sort -u | while read -r pgid; do
        [[ -n "$pgid" && "$pgid" != "$own" && "$pgid" != 0 && "$pgid" != 1 ]] || continue
        group_is_ours "$pgid" && echo "$pgid"
    done
    return 0
}

# The node groups plus the groups of their direct children: the raylet starts
# each Ray worker (task/actor process) in a process group of its own.
our_pgids() {
    local nodes own
    nodes=$(node_pgids)
    [[ -n "$nodes" ]] || return 0
    own=$(own_pgid)
    ps -eo pid=,ppid=,pgid= | awk -v nodes="$nodes" -v own="$own" '
        BEGIN { n = split(nodes, list, "\n"); for (i = 1; i <= n; i++) node[list[i]] = 1 }
        { pgid[$1] = $3; parent[$1] = $2 }
        END {
            for (g in node) print g
            for (p in parent)
                if (parent[p] in pgid && pgid[parent[p]] in node && !(pgid[p] in node) && pgid[p] != own)
                    print pgid[p]
        }' | sort -un
}

record_pgids() { discovered_pgids >>"$PGID_FILE"; sort -u -o "$PGID_FILE" "$PGID_FILE"; }

# --- nodes -------------------------------------------------------------------
# Flags every node gets; node $1 (0 = head) gets its own slice of ports.
node_flags() {
    local i=$1
    printf '%s\n' \
        --temp-dir="$DIR" \
        --node-ip-address=127.0.0.1 \
        --num-cpus="$CPUS" \
        --object-store-memory="$OBJECT_STORE" \
        --resources='{"faber_ray_sandbox": 1}' \
        --node-manager-port=$((PORT + 10 + 2 * i)) \
        --object-manager-port=$((PORT + 11 + 2 * i)) \
        --metrics-export-port=$((METRICS_PORT + i)) \
        --dashboard-agent-listen-port=$((AGENT_PORT + i)) \
        --min-worker-port=$((WORKER_PORTS + 100 * i)) \
        --max-worker-port=$((WORKER_PORTS + 100 * i + 99)) \
        --disable-usage-stats
}

# setsid: each node becomes its own process group, which `down` can signal as
# a whole without touching any other Ray on the machine. -w keeps `ray start`
# in the foreground even if setsid has to fork.
start_head() {
    local flags
    mapfile -t flags < <(node_flags 0)
    log "starting head on $ADDRESS (logs: $DIR/node-0.log)"
    setsid -w ray start --head --port="$PORT" \
        --ray-client-server-port=$((PORT + 1)) \
        --dashboard-host=127.0.0.1 --dashboard-port="$DASHBOARD_PORT" \
        "${flags[@]}" >"$DIR/node-0.log" 2>&1
}

start_worker() {
    local i=$1 flags
    mapfile -t flags < <(node_flags "$i")
    setsid -w ray start --address="$ADDRESS" "${flags[@]}" >"$DIR/node-$i.log" 2>&1
}

# Wait until Ray itself reports $1 alive nodes carrying faber_ray_sandbox.
# Runs a short-lived driver; prints one line per node.
check_nodes() {
    local want=$1 timeout=$2
    "$PYTHON" - "$ADDRESS" "$want" "$timeout" <<'PY'
import sys, time
import ray

address, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, log_to_driver=False, logging_level="ERROR")
deadline = time.monotonic() + timeout
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    hosts = [n for n in alive if n["Resources"].get("faber_ray_sandbox", 0) > 0]
    if len(hosts) >= want or time.monotonic() > deadline:
        break
    time.sleep(0.5)
for n in sorted(alive, key=lambda n: n["NodeManagerPort"]):
    role = "head  " if "node:__internal_head__" in n["Resources"] else "worker"
    print(f"  {role} {n['NodeID'][:12]}  {n['NodeManagerAddress']}:{n['NodeManagerPort']}"
          f"  CPU={n['Resources'].get('CPU', 0):g}"
          f"  faber_ray_sandbox={n['Resources'].get('faber_ray_sandbox', 0):g}")
ray.shutdown()
if len(hosts) < want:
    sys.exit(f"only {len(hosts)} of {want} nodes with faber_ray_sandbox are alive")
PY
}

cluster_up() { [[ -n "$(our_pgids)" ]]; }

print_env() {
    echo "export RAY_AUTH_MODE=token"
    if [[ -n "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
        echo "export RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH"
    elif [[ -z "${RAY_AUTH_TOKEN:-}" ]]; then
        echo "export RAY_AUTH_TOKEN_PATH=$TOKEN_FILE"
    fi
    echo "export FABER_RAY_MN_ADDRESS=$ADDRESS"
}

# --- subcommands -------------------------------------------------------------
cmd_up() {
    command -v ray >/dev/null || die "ray is not on PATH (pip install 'ray[default]')"
    command -v setsid >/dev/null || die "setsid (util-linux) is required"
    if cluster_up; then
        die "already up (process groups: $(our_pgids | xargs)); run '$0 down' first"
    fi
    mkdir -p "$DIR"
    rm -f "$PGID_FILE"
    setup_auth

    if ! start_head; then
        tail -n 30 "$DIR/node-0.log" >&2 || true
        record_pgids
        cmd_down
        die "head node failed to start"
    fi
    record_pgids

    # One at a time: concurrent `ray start`s sharing a temp dir race for the
    # same socket names and one raylet dies with "Address already in use".
    local i
    for ((i = 1; i <= WORKERS; i++)); do
        log "starting worker $i (logs: $DIR/node-$i.log)"
        if ! start_worker "$i"; then
            tail -n 30 "$DIR/node-$i.log" >&2 || true
            record_pgids
            cmd_down
            die "worker node $i failed to start"
        fi
        record_pgids
    done

    log "waiting for $((WORKERS + 1)) nodes with faber_ray_sandbox"
    if ! check_nodes $((WORKERS + 1)) 60; then
        cmd_down
        die "the cluster did not come up"
    fi

    if faber_ray_wanted; then
        # Each node would budget 80% of the memory it sees for sandboxes, and
        # all of them see this whole machine: split one budget between them.
        if [[ -z "${FABER_RAY_NODE_SANDBOX_MEMORY:-}" ]]; then
            local total_kib
            total_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
            export FABER_RAY_NODE_SANDBOX_MEMORY=$((total_kib * 1024 * 8 / 10 / (WORKERS + 1)))
        fi
        log "starting the faber-ray executor"
        faber-ray start --address "$ADDRESS" || die "faber-ray start failed (Ray is still up; '$0 down' stops it)"
    elif [[ "$SKIP_FABER" != 1 ]]; then
        log "faber-ray is not installed: Ray only (pip install -e . and rerun 'up' after 'down')"
    fi

    cat >&2 <<EOF

Cluster is up: $((WORKERS + 1)) nodes, GCS at $ADDRESS.
  Dashboard:  http://127.0.0.1:$DASHBOARD_PORT  (asks for the token: ray get-auth-token, with the env below)
  Metrics:    http://127.0.0.1:$METRICS_PORT/metrics ... :$((METRICS_PORT + WORKERS))/metrics
Point ray / faber-ray at it:
  eval "\$($0 env)"
  ray status --address $ADDRESS
  faber-ray run --address $ADDRESS -- echo hi
  $0 demo        # a batch spread over all nodes
Stop it:
  $0 down
EOF
}

cmd_status() {
    cluster_up || die "not running"
    setup_auth
    check_nodes 0 0
    ray status --address "$ADDRESS"
}

cmd_demo() {
    command -v faber-ray >/dev/null || die "faber-ray is not installed (pip install -e .)"
    cluster_up || die "not running; '$0 up' first"
    setup_auth
    local tasks="$DIR/demo-tasks.jsonl" results="$DIR/demo-results.jsonl" n=${1:-12} i
    # Each task sleeps a little so they overlap and the scheduler has to use every node.
    : >"$tasks"
    for ((i = 1; i <= n; i++)); do
        printf '{"command": "sh", "args": ["-c", "sleep 1; echo task %d"]}\n' "$i" >>"$tasks"
    done
    faber-ray batch "$tasks" -o "$results" --address "$ADDRESS"
    "$PYTHON" - "$results" <<'PY'
import collections, json, sys
per_node = collections.Counter()
status = collections.Counter()
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            result = json.loads(line)
            per_node[result.get("node_id", "?")[:12]] += 1
            status[result.get("status", "?")] += 1
print("results by status:", dict(status))
print("tasks per node:")
for node, count in per_node.most_common():
    print(f"  {node}  {count}")
PY
}

# Send $1 to the groups in $3..., then wait up to $2 seconds for them to exit.
signal_groups() {
    local signal=$1 seconds=$2 pgid tries
    shift 2
    for pgid in "$@"; do kill "-$signal" -- "-$pgid" 2>/dev/null || true; done
    for ((tries = 0; tries < seconds * 4; tries++)); do
        local alive=0
        for pgid in "$@"; do group_alive "$pgid" && alive=1; done
        ((alive)) || return 0
        sleep 0.25
    done
    return 1
}

cmd_down() {
    local pgids heads=() others=() pgid
    pgids=$(our_pgids)
    if [[ -z "$pgids" ]]; then
        rm -f "$PGID_FILE"
        log "nothing running under $DIR"
        return 0
    fi
    if faber_ray_wanted; then
        setup_auth
        # Let the executor stop its sandboxes cleanly; the signals below are the backstop.
        timeout 60 faber-ray stop --address "$ADDRESS" >/dev/null 2>&1 || true
    fi
    # Worker nodes and Ray worker processes first, while the GCS can still
    # record their exit; then the head. Ray 2.60's gcs_server can hang for a
    # long time on SIGTERM ("flushing remaining events"), and a throwaway
    # cluster has nothing worth flushing, so the head only gets a short grace.
    for pgid in $pgids; do
        if ps -ww -eo pgid=,args= | awk -v g="$pgid" '$1 == g && /gcs_server/ { f = 1 } END { exit !f }'; then
            heads+=("$pgid")
        else
            others+=("$pgid")
        fi
    done
    log "stopping ${#others[@]} worker group(s), then ${#heads[@]} head group(s)"
    ((${#others[@]} == 0)) || signal_groups TERM "$GRACE" "${others[@]}" || true
    ((${#heads[@]} == 0)) || signal_groups TERM 2 "${heads[@]}" || true
    local left=()
    for pgid in $pgids; do group_alive "$pgid" && left+=("$pgid"); done
    if ((${#left[@]})); then
        log "SIGKILL for what is left (process groups ${left[*]})"
        signal_groups KILL 5 "${left[@]}" || log "warning: process groups ${left[*]} survived SIGKILL"
    fi
    rm -f "$PGID_FILE"
    log "down (logs kept in $DIR)"
}

cmd_env() { setup_auth; print_env; }

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    demo) shift; cmd_demo "$@" ;;
    env) cmd_env ;;
    *)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
