#!/usr/bin/env bash
# `lockstep fleet` and `lockstep snapshots` on repositories of 60, 600 and 6000 snapshots (2, 20
# and 200 hosts × 30 a day), on local disk and on a three-node Garage cluster: wall time, CPU,
# peak RSS, and what each command reads. Not part of the test suite; see bench/README.md,
# "Fleet at scale".
#
#   bench/fleet.sh [WORKDIR]
#
# Environment: LOCKSTEP_BIN (default: a release build made here), BENCH_COMMIT (the commit
# LOCKSTEP_BIN was built at, for the report; default HEAD), HOSTS (default "2 20 200"):
# the fleets to build, 30 snapshots a host; ROUNDS (default 3): timed runs of each command on
# each repository (the report gives medians, and the highest peak RSS).
#
# The fleets are not backed up host by host (6000 real backups take hours): `lockstep demo`
# makes a sample host and two real snapshots of it (before and after a fix pack), and
# examples/fleet_fixture.rs copies their snapshot files as other hosts' histories (hostname,
# time, set tag and the manifest's host and set rewritten; the trees are the demo's). On S3 the
# demo's snapshots are first copied into the bucket with `lockstep copy`, so the cluster holds
# real data the copies point at.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
rounds=${ROUNDS:-3}
hosts_list=${HOSTS:-"2 20 200"}
per_host=30
work=${1:-$(mktemp -d /var/tmp/lockstep-fleet.XXXXXX)}
mkdir -p "$work" "$top/bench/results"
have() { command -v "$1" >/dev/null 2>&1; }
have strace || { apt-get update -qq && apt-get install -y -qq strace >/dev/null; }

# --- tools -------------------------------------------------------------------------------
# Cargo through the lock the shared checkout uses (../cargo.lock beside it), when there is one:
# never two builds at once in one target directory.
cargo_locked() {
  if [ -e "$top/../cargo.lock" ]; then flock "$top/../cargo.lock" cargo "$@"; else cargo "$@"; fi
}
if [ -z "${LOCKSTEP_BIN:-}" ]; then
  cargo_locked build --release --locked -q
  LOCKSTEP_BIN="$top/target/release/lockstep"
fi
# Both binaries are copied into the work directory: a build in the checkout while the
# benchmark runs does not change what it measures.
cp "$LOCKSTEP_BIN" "$work/lockstep-bin"
cargo_locked build --locked -q --example fleet_fixture
cp "$top/target/debug/examples/fleet_fixture" "$work/fleet_fixture"
lockstep() { "$work/lockstep-bin" "$@"; }
# the commit the figures are for: LOCKSTEP_BIN's, when it was built elsewhere (BENCH_COMMIT)
commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD)}

# --- the cluster -------------------------------------------------------------------------
garage="$work/garage"
cleanup() { "$top/scripts/garage.sh" stop "$garage" || true; }
trap cleanup EXIT
"$top/scripts/garage.sh" cluster "$garage" >/dev/null
# shellcheck disable=SC1091
. "$garage/env"
# Node 1 logs every S3 request it serves (`GET /bucket/key`); lockstep talks to node 1 only.
s3_log="$garage/n1/garage.log"
# s3_options ROOT — the [*-options] table of the repository at ROOT in the bucket.
s3_options() {
  cat <<TOML
bucket = '$LOCKSTEP_TEST_S3_BUCKET'
endpoint = '$LOCKSTEP_TEST_S3_ENDPOINT'
region = 'garage'
root = '$1'
access_key_id = '$LOCKSTEP_TEST_S3_KEY_ID'
secret_access_key = '$LOCKSTEP_TEST_S3_SECRET'
TOML
}

# --- the template: a sample host and two real snapshots of it ------------------------------
export LOCKSTEP_CONFIG="$work/empty.toml" LOCKSTEP_STATE_DIR="$work/state"
# The S3 repositories' cache (rustic keeps snapshot and index files under the cache
# directory); the cold runs remove it.
export XDG_CACHE_HOME="$work/cache"
: > "$LOCKSTEP_CONFIG"
rm -rf "$work/demo"
lockstep demo --keep "$work/demo" >/dev/null
LOCKSTEP_PASSWORD=$(cat "$work/demo/password")
export LOCKSTEP_PASSWORD

# --- the fleets --------------------------------------------------------------------------
for hosts in $hosts_list; do
  n=$((hosts * per_host))
  # local: a copy of the demo's repository, its two snapshots replaced by the fleet's
  rm -rf "$work/local-$n"
  cp -a "$work/demo/repo" "$work/local-$n"
  "$work/fleet_fixture" "$work/local-$n" "$hosts" "$per_host" 2>/dev/null
  # S3: the demo's snapshots copied into the bucket at /fleet-N, then replaced the same way
  { echo "repository = '$work/demo/repo'"; echo "remote = 'opendal:s3'"; echo "[remote-options]"
    s3_options "/fleet-$n"; } > "$work/copy-$n.toml"
  LOCKSTEP_CONFIG="$work/copy-$n.toml" lockstep init --remote >/dev/null
  LOCKSTEP_CONFIG="$work/copy-$n.toml" lockstep copy >/dev/null
  mapfile -t opts < <(s3_options "/fleet-$n" | sed "s/ = '\(.*\)'$/=\1/")
  "$work/fleet_fixture" opendal:s3 "$hosts" "$per_host" 10 "${opts[@]}" 2>/dev/null
  { echo "repository = 'opendal:s3'"; echo "[repository-options]"; s3_options "/fleet-$n"; } \
    > "$work/s3-$n.toml"
done

# --- measuring ---------------------------------------------------------------------------
results="$work/results.tsv"
reads="$work/reads.tsv"
: > "$results"
: > "$reads"
drop_caches() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true; }
# s3_requests FROM_LINE — the S3 requests node 1 logged after line FROM_LINE, by kind:
# "GET snapshots=6000 GET index=2 LIST=3 …"
s3_requests() {
  python3 - "$s3_log" "$1" <<'PY'
import collections, re, sys
log, start = sys.argv[1], int(sys.argv[2])
counts = collections.Counter()
with open(log, errors="replace") as f:
    for i, line in enumerate(f):
        if i < start:
            continue
        m = re.search(r"\) (GET|HEAD|PUT|DELETE|POST) (/\S*)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if not m:
            continue
        method, path = m.groups()
        if re.search(r"[?&](list-type|prefix)=", path):
            kind = "LIST"
        else:
            d = re.search(r"/(snapshots|index|data|keys)/", path)
            kind = f"{method} {d.group(1) if d else ('config' if path.endswith('/config') else 'other')}"
        counts[kind] += 1
print(", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none")
PY
}
# run BACKEND N COMMAND CACHE ROUND — one timed run, appended to results.tsv: wall s, CPU s,
# peak RSS MiB and, on S3, the requests node 1 served.
run() {
  local backend=$1 n=$2 cmd=$3 cache=$4 round=$5 t="$work/time.out" from=0 reqs=- where
  if [ "$backend" = local ]; then where=(--repo "$work/local-$n"); else where=(--config "$work/s3-$n.toml"); fi
  if [ "$cache" = cold ]; then rm -rf "$XDG_CACHE_HOME"; fi
  drop_caches
  if [ "$backend" = s3 ]; then from=$(wc -l < "$s3_log"); fi
  /usr/bin/time -f "%e %U %S %M" -o "$t" "$work/lockstep-bin" "${where[@]}" --json "$cmd" > "$work/out.json"
  if [ "$backend" = s3 ]; then reqs=$(s3_requests "$from"); fi
  # the output is the whole fleet: every host, every snapshot
  python3 - "$work/out.json" "$cmd" "$n" "$per_host" <<'PY'
import json, sys
out, cmd, n, per_host = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = json.load(open(out))
got = len(d["hosts"]) if cmd == "fleet" else len(d["snapshots"])
want = n // per_host if cmd == "fleet" else n
assert got == want, f"{cmd} listed {got}, expected {want}"
PY
  read -r wall user sys rss < "$t"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d\t%s\n' "$backend" "$n" "$cmd" "$cache" "$round" "$wall" \
    "$(awk "BEGIN {print $user + $sys}")" "$((rss / 1024))" "$reqs" >> "$results"
}
# reads BACKEND N COMMAND — one run under strace (not timed): the repository's files the
# command opens (local), or the cache's files it opens and the requests node 1 served (S3, cold
# cache), by directory; appended to reads.tsv.
reads() {
  local backend=$1 n=$2 cmd=$3 where root from=0 reqs=-
  if [ "$backend" = local ]; then
    where=(--repo "$work/local-$n"); root="$work/local-$n"
  else
    where=(--config "$work/s3-$n.toml"); root="$XDG_CACHE_HOME"
    rm -rf "$XDG_CACHE_HOME"; from=$(wc -l < "$s3_log")
  fi
  strace -f -qq -e trace=openat,open -o "$work/strace.out" "$work/lockstep-bin" "${where[@]}" --json "$cmd" > /dev/null
  if [ "$backend" = s3 ]; then reqs=$(s3_requests "$from"); fi
  # files opened (not directories, not failed opens) under the repository or the cache, by
  # the repository's directory they are in
  local opened
  opened=$(grep -v -e ENOENT -e O_DIRECTORY "$work/strace.out" | grep -o "\"$root/[^\"]*\"" |
    sed -E -e 's#.*/(snapshots|index|data|keys|config)(/.*)?"$#\1#' -e 's#^".*#other#' | sort | uniq -c |
    awk '{printf "%s%s=%s", (NR > 1 ? ", " : ""), $2, $1}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$backend" "$n" "$cmd" "${opened:-none}" "$reqs" >> "$reads"
}
for hosts in $hosts_list; do
  n=$((hosts * per_host))
  for cmd in fleet snapshots; do
    reads local "$n" "$cmd"
    reads s3 "$n" "$cmd"
    for ((round = 1; round <= rounds; round++)); do
      run local "$n" "$cmd" - "$round"
      # S3 with no cache (a first run on a machine, e.g. the recovery host), then again with
      # the cache the cold run left
      run s3 "$n" "$cmd" cold "$round"
      run s3 "$n" "$cmd" warm "$round"
    done
  done
done

# --- report ------------------------------------------------------------------------------
out="$top/bench/results/$(date +%Y-%m-%d)-fleet.md"
n=2
while [ -e "$out" ]; do out="$top/bench/results/$(date +%Y-%m-%d)-fleet-run$n.md"; n=$((n + 1)); done
cp "$results" "${out%.md}.tsv"
python3 - "$results" "$reads" "$out" "$commit" "$(du -sb "$work/local-$((${hosts_list##* } * per_host))/snapshots" | cut -f1)" <<'PY'
import sys, statistics, collections
res, rds, out, commit, snapbytes = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
runs = collections.OrderedDict()
for b, n, cmd, cache, rnd, wall, cpu, rss, reqs in rows:
    runs.setdefault((cmd, b, cache), collections.OrderedDict()).setdefault(int(n), []).append((float(wall), float(cpu), int(rss), reqs))
sizes = sorted({int(r[1]) for r in rows})
lines = [f"# lockstep fleet at scale (commit {commit})", "",
         f"Snapshots: {', '.join(map(str, sizes))} (hosts × 30). Snapshot files of the largest: {int(snapbytes)/2**20:.1f} MiB on disk.",
         "Wall and CPU time: medians of the rounds; peak RSS: the highest. Page cache dropped before each run;",
         "S3 `cold`: no rustic cache (removed before the run); `warm`: the cache the cold run left.", "",
         "| command | backend | cache | " + " | ".join(f"{s} wall s / CPU s / RSS MiB" for s in sizes) + " | wall growth per 10× |",
         "|---|---|---|" + "---|" * len(sizes) + "---|"]
for (cmd, b, cache), by_n in runs.items():
    cells, walls = [], []
    for s in sizes:
        rs = by_n.get(s)
        if not rs:
            cells.append("-"); walls.append(None); continue
        w = statistics.median(r[0] for r in rs); c = statistics.median(r[1] for r in rs); m = max(r[2] for r in rs)
        cells.append(f"{w:.2f} / {c:.2f} / {m}"); walls.append(w)
    growth = ", ".join(f"{b2 / a:.1f}×" for a, b2 in zip(walls, walls[1:]) if a and b2)
    lines.append(f"| {cmd} | {b} | {cache} | " + " | ".join(cells) + f" | {growth} |")
lines += ["", "S3 requests node 1 served, per run (first round):", "", "| command | cache | snapshots | requests |", "|---|---|---|---|"]
for (cmd, b, cache), by_n in runs.items():
    if b != "s3": continue
    for s in sizes:
        if s in by_n: lines.append(f"| {cmd} | {cache} | {s} | {by_n[s][0][3]} |")
lines += ["", "What each command reads (one run under `strace -f -e trace=openat`; S3 with no cache): the files opened",
          "under the repository (local) or under the cache (S3), by the repository's directory, and the S3 requests.", "",
          "| backend | snapshots | command | files opened | S3 requests |", "|---|---|---|---|---|"]
for l in open(rds):
    if l.strip():
        lines.append("| " + " | ".join(l.rstrip("\n").split("\t")) + " |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
cp "$reads" "${out%.md}-reads.tsv"
echo "fleet: results in $out (work directory $work)"
