#!/usr/bin/env bash
# Garage S3 servers on 127.0.0.1 for the S3 integration tests (tests/it/s3.rs, tests/it/cluster.rs)
# and the remote benchmark (bench/remote.sh).
#
#   scripts/garage.sh start DIR     one node (replication_factor 1), data under DIR;
#   scripts/garage.sh cluster DIR   three nodes, one process each with its own ports and data under
#                                   DIR/n1..n3, one rpc_secret, connected with `garage node connect`,
#                                   one zone per node, a layout with replication_factor 3 (every
#                                   object on every node; reads and writes need two of three);
#   scripts/garage.sh kill DIR N    SIGKILL node N of the cluster and wait until it is gone;
#   scripts/garage.sh restart DIR N start node N again on its data and wait until the cluster
#                                   sees it;
#   scripts/garage.sh stop DIR      stop every node started under DIR.
#
# start and cluster install Garage 2.5.0 when it is absent (cargo install, ~17 CPU-min), create a
# key and a bucket and print the variables the tests read (KEY=VALUE lines, also written to
# DIR/env). The S3 endpoint printed is node 1's; LOCKSTEP_TEST_S3_ENDPOINTS lists every node's,
# comma-separated.
set -euo pipefail

usage="usage: garage.sh start|cluster|stop DIR | kill|restart DIR N"
cmd=${1:?$usage}
dir=${2:?$usage}
garage=${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}

# The node directories under DIR: DIR itself for a single node, DIR/n1… for a cluster.
nodes() {
  if [ -d "$dir/n1" ]; then
    for n in "$dir"/n*; do echo "$n"; done
  else
    echo "$dir"
  fi
}

# node_dir N — node N's directory: DIR/nN in a cluster, DIR itself for the single node.
node_dir() {
  if [ -d "$dir/n$1" ]; then echo "$dir/n$1"; elif [ "$1" = 1 ]; then echo "$dir"; else
    echo "garage.sh: no node $1 under $dir" >&2; exit 1
  fi
}

# stop_node NODE_DIR SIGNAL — signals the node's server and waits (bounded) until it is gone.
stop_node() {
  local pidfile="$1/garage.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill "-$2" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$pidfile"
}

case "$cmd" in
  stop)
    for n in $(nodes); do stop_node "$n" TERM; done
    exit 0
    ;;
  kill)
    stop_node "$(node_dir "${3:?$usage}")" KILL
    exit 0
    ;;
esac

if [ ! -x "$garage" ]; then
  echo "garage.sh: installing Garage 2.5.0 (cargo install --locked garage; takes a while)" >&2
  cargo install --locked garage --version 2.5.0 >&2
  garage="$HOME/.cargo/bin/garage"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_node NODE_DIR — starts the server of the node configured in NODE_DIR/garage.toml.
run_node() {
  GARAGE_CONFIG_FILE="$1/garage.toml" "$garage" server >>"$1/garage.log" 2>&1 &
  echo $! > "$1/garage.pid"
}

# g NODE_DIR ARGS… — the garage CLI against that node.
g() {
  local node=$1; shift
  GARAGE_CONFIG_FILE="$node/garage.toml" "$garage" "$@"
}

# node_id NODE_DIR — waits (bounded) until the node answers on its RPC port; prints its id@addr.
node_id() {
  local id=""
  for _ in $(seq 1 150); do
    if g "$1" status >/dev/null 2>&1 && id=$(g "$1" node id -q 2>/dev/null); then break; fi
    id=""
    sleep 0.2
  done
  [ -n "$id" ] || { echo "garage.sh: Garage did not start; see $1/garage.log" >&2; exit 1; }
  echo "$id"
}

# wait_s3 PORT — waits (bounded) until the S3 API accepts connections.
wait_s3() {
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "garage.sh: the S3 API on port $1 does not answer" >&2
  exit 1
}

if [ "$cmd" = restart ]; then
  n=${3:?$usage}
  node=$(node_dir "$n")
  stop_node "$node" KILL
  run_node "$node"
  node_id "$node" >/dev/null
  wait_s3 "$(cat "$node/s3_port")"
  [ "$node" != "$dir" ] || exit 0
  # Until node 1 sees the node connected again (nodes reconnect on their own; `node connect`
  # makes it immediate).
  g "$dir/n1" node connect "$(g "$node" node id -q)" >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    if [ "$(g "$dir/n1" status 2>/dev/null | grep -c 'HEALTHY NODES' || true)" -ge 1 ] &&
       ! g "$dir/n1" status 2>/dev/null | grep -q 'FAILED NODES'; then
      exit 0
    fi
    sleep 0.2
  done
  echo "garage.sh: node $n restarted but node 1 does not see it; see $node/garage.log" >&2
  exit 1
fi

case "$cmd" in
  start) count=1 ;;
  cluster) count=3 ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
node_dirs=()
endpoints=()
for i in $(seq 1 "$count"); do
  if [ "$count" = 1 ]; then node="$dir"; else node="$dir/n$i"; fi
  mkdir -p "$node/meta" "$node/data"
  s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
  echo "$s3_port" > "$node/s3_port"
  cat > "$node/garage.toml" <<TOML
metadata_dir = "$node/meta"
data_dir = "$node/data"
db_engine = "sqlite"
replication_factor = $count
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
  run_node "$node"
  node_dirs+=("$node")
  endpoints+=("http://127.0.0.1:$s3_port")
done

first=${node_dirs[0]}
i=0
for node in "${node_dirs[@]}"; do
  i=$((i + 1))
  id=$(node_id "$node")
  [ "$node" = "$first" ] || g "$first" node connect "$id" >/dev/null
  g "$first" layout assign -z "dc$i" -c 1G "${id%%@*}" >/dev/null
done
g "$first" layout apply --version 1 >/dev/null
g "$first" key create lockstep-test >/dev/null
g "$first" bucket create lockstep-test >/dev/null
g "$first" bucket allow --read --write --owner lockstep-test --key lockstep-test >/dev/null
info=$(g "$first" key info lockstep-test --show-secret)
key_id=$(printf '%s\n' "$info" | awk -F': *' '/Key ID/ {print $2; exit}')
key_secret=$(printf '%s\n' "$info" | awk -F': *' '/Secret key/ {print $2; exit}')
[ -n "$key_id" ] && [ -n "$key_secret" ] || { echo "garage.sh: cannot read the key: $info" >&2; exit 1; }
for node in "${node_dirs[@]}"; do wait_s3 "$(cat "$node/s3_port")"; done

cat > "$dir/env" <<ENV
LOCKSTEP_TEST_S3_ENDPOINT=${endpoints[0]}
LOCKSTEP_TEST_S3_ENDPOINTS=$(IFS=,; echo "${endpoints[*]}")
LOCKSTEP_TEST_S3_BUCKET=lockstep-test
LOCKSTEP_TEST_S3_REGION=garage
LOCKSTEP_TEST_S3_KEY_ID=$key_id
LOCKSTEP_TEST_S3_SECRET=$key_secret
LOCKSTEP_TEST_GARAGE_CONFIG=$first/garage.toml
LOCKSTEP_TEST_GARAGE_BIN=$garage
ENV
cat "$dir/env"
