#!/usr/bin/env bash
# A single-node Garage S3 server on 127.0.0.1 for the S3 integration tests (tests/it/s3.rs).
#
#   scripts/garage.sh start DIR   installs Garage 2.5.0 when absent (cargo install, ~17 CPU-min),
#                                 starts it with data under DIR, creates a key and a bucket and
#                                 prints the variables the tests read (KEY=VALUE lines, also
#                                 written to DIR/env);
#   scripts/garage.sh stop DIR    stops it (the pid is in DIR/garage.pid).
#
# The tests stop and restart the server themselves (Garage stopped mid-backup) with
# LOCKSTEP_TEST_GARAGE_CONFIG and the binary in LOCKSTEP_TEST_GARAGE_BIN.
set -euo pipefail

cmd=${1:?usage: garage.sh start|stop DIR}
dir=${2:?usage: garage.sh start|stop DIR}
garage=${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}

if [ "$cmd" = stop ]; then
  if [ -f "$dir/garage.pid" ]; then
    kill "$(cat "$dir/garage.pid")" 2>/dev/null || true
    rm -f "$dir/garage.pid"
  fi
  exit 0
fi

if [ ! -x "$garage" ]; then
  echo "garage.sh: installing Garage 2.5.0 (cargo install --locked garage; takes a while)" >&2
  cargo install --locked garage --version 2.5.0 >&2
  garage="$HOME/.cargo/bin/garage"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mkdir -p "$dir/meta" "$dir/data"
s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
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
export GARAGE_CONFIG_FILE="$dir/garage.toml"

"$garage" server >"$dir/garage.log" 2>&1 &
echo $! > "$dir/garage.pid"

# Ready when the server answers on its RPC port (`node id` alone only reads the key on disk).
node=""
for _ in $(seq 1 150); do
  if "$garage" status >/dev/null 2>&1 && node=$("$garage" node id -q 2>/dev/null); then break; fi
  node=""
  sleep 0.2
done
[ -n "$node" ] || { echo "garage.sh: Garage did not start; see $dir/garage.log" >&2; exit 1; }
node=${node%%@*}
"$garage" layout assign -z dc1 -c 1G "$node" >/dev/null
"$garage" layout apply --version 1 >/dev/null
"$garage" key create lockstep-test >/dev/null
"$garage" bucket create lockstep-test >/dev/null
"$garage" bucket allow --read --write --owner lockstep-test --key lockstep-test >/dev/null
info=$("$garage" key info lockstep-test --show-secret)
key_id=$(printf '%s\n' "$info" | awk -F': *' '/Key ID/ {print $2; exit}')
key_secret=$(printf '%s\n' "$info" | awk -F': *' '/Secret key/ {print $2; exit}')
[ -n "$key_id" ] && [ -n "$key_secret" ] || { echo "garage.sh: cannot read the key: $info" >&2; exit 1; }

# Wait until the S3 API answers.
for _ in $(seq 1 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; then break; fi
  sleep 0.2
done

cat > "$dir/env" <<ENV
LOCKSTEP_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
LOCKSTEP_TEST_S3_BUCKET=lockstep-test
LOCKSTEP_TEST_S3_REGION=garage
LOCKSTEP_TEST_S3_KEY_ID=$key_id
LOCKSTEP_TEST_S3_SECRET=$key_secret
LOCKSTEP_TEST_GARAGE_CONFIG=$dir/garage.toml
LOCKSTEP_TEST_GARAGE_BIN=$garage
ENV
cat "$dir/env"
