#!/usr/bin/env bash
# lockstep against restic over S3: a first backup to and a full restore from a three-node Garage
# cluster on loopback, on the host bench/run.sh generates. Not part of the test suite; see
# bench/README.md, "Remote (Garage cluster)".
#
#   bench/remote.sh [xs|s|m] [WORKDIR]
#
# Environment: LOCKSTEP_BIN (default: a release build made here), BENCH_COMMIT (the commit
# LOCKSTEP_BIN was built at, for the report; default HEAD), ROUNDS (default 1): how many
# times each step is measured, into fresh repositories, the tools taking turns to go first.
#
# Targets (issue 25): lockstep's first backup ≤ 0.8× restic's wall time, its full restore ≤
# restic's, its peak RSS ≤ 300 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scale=${1:-m}
rounds=${ROUNDS:-1}
work=${2:-$(mktemp -d /var/tmp/lockstep-remote.XXXXXX)}
gen="$top/../shared/bench/gen_tree.py"
[ -f "$gen" ] || { echo "remote: $gen not found (it models the IM + WAS + DX host)" >&2; exit 2; }
mkdir -p "$work" "$top/bench/results"
have() { command -v "$1" >/dev/null 2>&1; }
have restic || { apt-get update -qq && apt-get install -y -qq restic >/dev/null; }
export RESTIC_PASSWORD=bench-password LOCKSTEP_PASSWORD=bench-password
export LOCKSTEP_HOST=bench LOCKSTEP_STATE_DIR="$work/state"
# Both tools' caches (rustic's and restic's both live under XDG_CACHE_HOME) are in the work
# directory and removed before each step: the restore is a rebuilt host's, with no cache.
export XDG_CACHE_HOME="$work/cache"

# --- tools -------------------------------------------------------------------------------
# Cargo through the lock the shared checkout uses (../cargo.lock beside it), when there is one.
cargo_locked() {
  if [ -e "$top/../cargo.lock" ]; then flock "$top/../cargo.lock" cargo "$@"; else cargo "$@"; fi
}
if [ -z "${LOCKSTEP_BIN:-}" ]; then
  cargo_locked build --release --locked -q
  LOCKSTEP_BIN="$top/target/release/lockstep"
fi
# a copy: a build in the checkout while the benchmark runs does not change what it measures
cp "$LOCKSTEP_BIN" "$work/lockstep-bin"
# the commit the figures are for: LOCKSTEP_BIN's, when it was built elsewhere (BENCH_COMMIT)
commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD)}

# --- the cluster -------------------------------------------------------------------------
garage="$work/garage"
cleanup() { "$top/scripts/garage.sh" stop "$garage" || true; }
trap cleanup EXIT
"$top/scripts/garage.sh" cluster "$garage" >/dev/null
# shellcheck disable=SC1091
. "$garage/env"
export AWS_ACCESS_KEY_ID=$LOCKSTEP_TEST_S3_KEY_ID AWS_SECRET_ACCESS_KEY=$LOCKSTEP_TEST_S3_SECRET
# restic signs for the region Garage expects
restic_opts=(-o s3.region=garage)
# lockstep_config ROOT — a configuration naming the repository at ROOT in the bucket
lockstep_config() {
  cat <<TOML
repository = 'opendal:s3'
[repository-options]
bucket = '$LOCKSTEP_TEST_S3_BUCKET'
endpoint = '$LOCKSTEP_TEST_S3_ENDPOINT'
region = 'garage'
root = '$1'
access_key_id = '$LOCKSTEP_TEST_S3_KEY_ID'
secret_access_key = '$LOCKSTEP_TEST_S3_SECRET'
TOML
}

# --- the host (as bench/run.sh makes it) ---------------------------------------------------
host="$work/host"
python3 "$gen" "$host" --scale "$scale" --force >/dev/null
mapfile -t dirs < <(python3 "$gen" --list-dirs)
ls_args=(--root "$host" --agent-data /var/ibm/InstallationManager --extra /opt/IBM/WebSphere/wp_profile)
# A wrapper on disk, so /usr/bin/time can run it like restic.
export LOCKSTEP_CONFIG="$work/lockstep.toml"
cat > "$work/lockstep" <<SH
#!/bin/sh
exec "$work/lockstep-bin" ${ls_args[*]} "\$@"
SH
chmod +x "$work/lockstep"
set_bytes=$(cd "$host" && du -sb "${dirs[@]}" | awk '{s+=$1} END {print s}')
set_files=$(cd "$host" && find "${dirs[@]}" -type f | wc -l)

# --- measuring (as bench/run.sh) ---------------------------------------------------------
results="$work/results.tsv"
: > "$results"
: > "$work/timings.tsv"
drop_caches() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true; }
# measure SCENARIO TOOL CMD… — wall s, CPU s, peak RSS MiB and the round, appended to results.tsv
measure() {
  local scenario=$1 tool=$2; shift 2
  rm -rf "$XDG_CACHE_HOME"
  drop_caches
  local t="$work/time.out"
  if LOCKSTEP_TIMINGS=1 /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" >"$work/last.log" 2>&1; then
    grep '^timing: ' "$work/last.log" | sed "s/^timing: /$scenario\t$round\t/" >> "$work/timings.tsv" || true
    read -r wall user sys rss < "$t"
    printf '%s\t%s\t%s\t%.2f\t%d\t%d\n' "$scenario" "$tool" "$wall" "$(awk "BEGIN {print $user + $sys}")" "$((rss / 1024))" "$round" >> "$results"
  else
    printf '%s\t%s\tfailed\t-\t-\t%d\n' "$scenario" "$tool" "$round" >> "$results"
    tail -3 "$work/last.log" >&2
  fi
}
tools=(lockstep restic)
in_turn() { # the tools, the other one first in each round
  local n=${#tools[@]} i
  for ((i = 0; i < n; i++)); do echo "${tools[$(((i + round - 1) % n))]}"; done
}
for ((round = 1; round <= rounds; round++)); do
  # fresh repositories in the bucket for each round
  stamp="$(date +%s)-$round"
  lockstep_config "/lockstep-$stamp" > "$LOCKSTEP_CONFIG"
  restic_repo="s3:$LOCKSTEP_TEST_S3_ENDPOINT/$LOCKSTEP_TEST_S3_BUCKET/restic-$stamp"
  rm -rf "$work/state"
  "$work/lockstep" init >/dev/null
  restic "${restic_opts[@]}" -r "$restic_repo" init -q
  # (a) first backup
  for tool in $(in_turn); do
    case $tool in
      lockstep) measure a-first-backup lockstep "$work/lockstep" backup ;;
      restic) measure a-first-backup restic sh -c "cd '$host' && restic ${restic_opts[*]} -r '$restic_repo' backup -q ${dirs[*]}" ;;
    esac
  done
  s1=$("$work/lockstep" --json snapshots | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][-1]["id"])')
  restic_s1=$(restic "${restic_opts[@]}" -r "$restic_repo" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
  # (d) full restore into an empty root, with no cache (a rebuilt host)
  for tool in $(in_turn); do
    case $tool in
      lockstep) measure d-full-restore lockstep "$work/lockstep" restore "$s1" --target "$work/d-lockstep" ;;
      restic) measure d-full-restore restic restic "${restic_opts[@]}" -r "$restic_repo" restore "$restic_s1" --target "$work/d-restic" ;;
    esac
  done
  # the restored sets must be the host's (file count and bytes; the test suite proves metadata)
  for d in "$work/d-lockstep" "$work/d-restic"; do
    got=$(cd "$d" && find "${dirs[@]}" -type f | wc -l)
    [ "$got" = "$set_files" ] || echo "remote: $d has $got files, the set $set_files" >&2
  done
  rm -rf "$work"/d-*
done
repo_bytes=$(du -sb "$garage/n1/data" | cut -f1)

# --- report ------------------------------------------------------------------------------
out="$top/bench/results/$(date +%Y-%m-%d)-remote-$scale.md"
n=2
while [ -e "$out" ]; do out="$top/bench/results/$(date +%Y-%m-%d)-remote-$scale-run$n.md"; n=$((n + 1)); done
python3 - "$results" "$out" "$scale" "$set_bytes" "$set_files" "$work/timings.tsv" "$commit" "$repo_bytes" <<'PY'
import sys, collections, statistics
res, out, scale, nbytes, nfiles, tim, commit, repo = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
runs = collections.OrderedDict()
for r in rows:
    runs.setdefault((r[0], r[1]), []).append(r)
def summary(rs):
    if any(r[2] == "failed" for r in rs):
        return None
    return (statistics.median(float(r[2]) for r in rs), statistics.median(float(r[3]) for r in rs),
            max(int(r[4]) for r in rs), ", ".join(r[2] for r in sorted(rs, key=lambda r: int(r[5]))))
targets = {"a-first-backup": 0.8, "d-full-restore": 1.0}
lines = [f"# lockstep against restic on a three-node Garage cluster, scale {scale} (commit {commit})", "",
         f"Set: {int(nbytes)/2**20:.0f} MiB in {nfiles} files. Node 1's data directory after the run: {int(repo)/2**20:.0f} MiB (both tools' repositories, every round).",
         "Page cache dropped and both tools' caches removed before each step. Wall and CPU: medians over the rounds; peak RSS: the highest.", "",
         "| scenario | tool | wall s | CPU s | peak RSS MiB | lockstep ÷ restic (wall) | target | every round's wall s |", "|---|---|---|---|---|---|---|---|"]
for (scen, tool), rs in runs.items():
    s = summary(rs)
    if s is None:
        lines.append(f"| {scen} | {tool} | failed | - | - | - | - | - |")
        continue
    ratio, target = "-", "-"
    if tool == "lockstep":
        r = summary(runs.get((scen, "restic"), []) or [["", "", "failed"]])
        if r:
            q = s[0] / r[0]
            ratio = f"{q:.2f}"
            target = f"≤ {targets[scen]}× {'met' if q <= targets[scen] else 'missed'}; RSS ≤ 300 {'met' if s[2] <= 300 else 'missed'}"
    lines.append(f"| {scen} | {tool} | {s[0]:.2f} | {s[1]:.2f} | {s[2]} | {ratio} | {target} | {s[3]} |")
phases = [l.rstrip("\n").split("\t") for l in open(tim) if l.strip()]
if phases:
    lines += ["", "Where lockstep's wall time went (`LOCKSTEP_TIMINGS=1`, seconds):", "",
              "| scenario | round | phase | s |", "|---|---|---|---|"]
    for scen, rnd, rest in phases:
        name, _, secs = rest.rpartition(" ")
        lines.append(f"| {scen} | {rnd} | {name} | {secs} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "remote: results in $out (work directory $work)"
