#!/usr/bin/env bash
# lockstep's benchmark against its peers (restic, rustic, tar+zstd) on an IM-like host.
# Not part of the test suite; see bench/README.md.
#
#   bench/run.sh [xs|s|m|l] [WORKDIR]
#
# Environment: LOCKSTEP_BIN (default: a release build made here), TOOLS (default: every tool
# installed, e.g. TOOLS=lockstep for lockstep's own rows at scale l), INSTALL=0 to skip installing
# missing peers (their rows are then marked "not installed"), ROUNDS (default 3): how many times
# (a), (d) and (e) are measured, the tools taking turns to go first; the report gives medians.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
scale=${1:-s}
rounds=${ROUNDS:-3}
work=${2:-$(mktemp -d /var/tmp/lockstep-bench.XXXXXX)}
gen="$top/../shared/bench/gen_tree.py"
[ -f "$gen" ] || { echo "bench: $gen not found (it models the IM + WAS + DX host)" >&2; exit 2; }
mkdir -p "$work" "$top/bench/results"
export RESTIC_PASSWORD=bench-password RUSTIC_PASSWORD=bench-password
export LOCKSTEP_PASSWORD=bench-password LOCKSTEP_HOST=bench LOCKSTEP_STATE_DIR="$work/state"
export LOCKSTEP_CONFIG="$work/lockstep.toml"
: > "$LOCKSTEP_CONFIG"

# --- tools -------------------------------------------------------------------------------
if [ -z "${LOCKSTEP_BIN:-}" ]; then
  cargo build --release --locked -q
  LOCKSTEP_BIN="$top/target/release/lockstep"
fi
have() { command -v "$1" >/dev/null 2>&1; }
if [ "${INSTALL:-1}" = 1 ]; then
  have restic || { apt-get update -qq && apt-get install -y -qq restic >/dev/null; }
  have zstd || apt-get install -y -qq zstd >/dev/null
  have rustic || cargo install --locked rustic-rs --no-default-features -q
fi

# --- the host ----------------------------------------------------------------------------
host="$work/host"
python3 "$gen" "$host" --scale "$scale" --force >/dev/null
mapfile -t dirs < <(python3 "$gen" --list-dirs)
ls_args=(--root "$host" --agent-data /var/ibm/InstallationManager --extra /opt/IBM/WebSphere/wp_profile)
# A wrapper on disk, so /usr/bin/time can run it like the peers' binaries.
cat > "$work/lockstep" <<SH
#!/bin/sh
exec "$LOCKSTEP_BIN" ${ls_args[*]} "\$@"
SH
chmod +x "$work/lockstep"
lockstep() { "$work/lockstep" "$@"; }

results="$work/results.tsv"
: > "$results"
: > "$work/timings.tsv"
drop_caches() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true; }
round=1
# measure SCENARIO TOOL CMD… — wall s, cpu s, peak RSS MiB and the round, appended to results.tsv
measure() {
  local scenario=$1 tool=$2; shift 2
  drop_caches
  local t="$work/time.out"
  if LOCKSTEP_TIMINGS=1 /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" >"$work/last.log" 2>&1; then
    # lockstep's own phase timings (LOCKSTEP_TIMINGS), kept for the report
    # and, on Linux, the resident memory at each phase's end and the peak so far
    grep -E '^(timing|memory): ' "$work/last.log" | awk -v s="$scenario" -v r="$round" '
      /^timing: / { if (t != "") print t "\t-\t-"; sub(/^timing: /, ""); t = s "\t" r "\t" $0; next }
      /^memory: / { n = split($0, a, " "); if (t != "") print t "\t" a[n - 1] "\t" a[n]; t = "" }
      END { if (t != "") print t "\t-\t-" }' >> "$work/timings.tsv" || true
    read -r wall user sys rss < "$t"
    printf '%s\t%s\t%s\t%.2f\t%d\t%d\n' "$scenario" "$tool" "$wall" "$(awk "BEGIN {print $user + $sys}")" "$((rss / 1024))" "$round" >> "$results"
  else
    printf '%s\t%s\tfailed\t-\t-\t%d\n' "$scenario" "$tool" "$round" >> "$results"
    tail -3 "$work/last.log" >&2
  fi
}
reset_host_to() { # SNAPSHOT: put the host back in a known state and back it up (not timed), so
  # the next rollback starts, as an administrator's would, from a host whose newest snapshot is
  # the state it is in
  lockstep --repo "$work/repo-lockstep" restore "$1" --in-place --full >/dev/null
  lockstep --repo "$work/repo-lockstep" backup >/dev/null
}
if [ -n "${TOOLS:-}" ]; then
  read -r -a tools <<< "$TOOLS"
else
  tools=(lockstep restic)
  have rustic && tools+=(rustic)
  tools+=(tar+zstd)
fi
uses() { [[ " ${tools[*]} " == *" $1 "* ]]; }
in_turn() { # the tools, a different one first in each round (the disk's state moves with each step)
  local n=${#tools[@]} i
  for ((i = 0; i < n; i++)); do echo "${tools[$(((i + round - 1) % n))]}"; done
}

# --- physical limits ---------------------------------------------------------------------
drop_caches
limit_read=$( { /usr/bin/time -f "%e" sh -c "cd '$host' && find ${dirs[*]} -type f -exec cat {} + > /dev/null" ; } 2>&1 | tail -1)
drop_caches
limit_cp=$( { /usr/bin/time -f "%e" cp -a "$host" "$work/cp-copy" ; } 2>&1 | tail -1)
rm -rf "$work/cp-copy"
set_bytes=$(cd "$host" && du -sb "${dirs[@]}" | awk '{s+=$1} END {printf "%.0f", s}')
set_files=$(cd "$host" && find "${dirs[@]}" -type f | wc -l)

# --- (a) first backup, (b) no change, (c) after a fix pack ----------------------------------
backup_with() { # SCENARIO TOOL
  case $2 in
    lockstep) measure "$1" lockstep "$work/lockstep" --repo "$work/repo-lockstep" backup ;;
    restic) measure "$1" restic sh -c "cd '$host' && restic -r '$work/repo-restic' backup -q ${dirs[*]}" ;;
    rustic) measure "$1" rustic sh -c "cd '$host' && rustic -r '$work/repo-rustic' backup ${dirs[*]}" ;;
    tar+zstd) measure "$1" tar+zstd sh -c "tar -C '$host' -cf - ${dirs[*]} | zstd -q -T0 -3 -o '$work/tar-$1.tar.zst' -f" ;;
  esac
}
backup_all() { # SCENARIO
  local tool
  for tool in $(in_turn); do backup_with "$1" "$tool"; done
}
# (a) is measured in every round, each into fresh repositories; (b) and (c) use the last ones.
for ((round = 1; round <= rounds; round++)); do
  rm -rf "$work/repo-lockstep" "$work/repo-restic" "$work/repo-rustic" "$work/state"
  lockstep --repo "$work/repo-lockstep" init >/dev/null
  if uses restic; then restic -r "$work/repo-restic" init -q; fi
  if uses rustic; then rustic -r "$work/repo-rustic" init >/dev/null 2>&1 || true; fi
  backup_all a-first-backup
done
round=1
backup_all b-no-change
s1=$(lockstep --repo "$work/repo-lockstep" --json snapshots | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["id"])')
python3 "$gen" "$host" --fixpack 1 >/dev/null
backup_all c-after-fix-pack
s2=$(lockstep --repo "$work/repo-lockstep" --json snapshots | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][-1]["id"])')
restic_s1=$(uses restic && restic -r "$work/repo-restic" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' || true)
rustic_s1=$(uses rustic && rustic -r "$work/repo-rustic" snapshots --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["snapshots"][0]["id"])' || true)

# --- (d) full restore into an empty root ---------------------------------------------------
restore_with() { # TOOL
  case $1 in
    lockstep) measure d-full-restore lockstep "$work/lockstep" --repo "$work/repo-lockstep" restore "$s1" --target "$work/d-lockstep" ;;
    restic) measure d-full-restore restic restic -r "$work/repo-restic" restore "$restic_s1" --target "$work/d-restic" ;;
    rustic) measure d-full-restore rustic rustic -r "$work/repo-rustic" restore "$rustic_s1" "$work/d-rustic" ;;
    tar+zstd) measure d-full-restore tar+zstd sh -c "mkdir -p '$work/d-tar' && zstd -q -d -c '$work/tar-a-first-backup.tar.zst' | tar -C '$work/d-tar' -xf -" ;;
  esac
}
# Each copy is removed before the next tool restores: at `l` two full copies beside the host and
# three repositories do not fit on this machine's disk.
for ((round = 1; round <= rounds; round++)); do
  for tool in $(in_turn); do
    restore_with "$tool"
    rm -rf "$work"/d-*
  done
done

# --- (f) check reading all data ----------------------------------------------------------
# Before (e): its resets back the host up again, which adds snapshots (new trees) to lockstep's
# repository only.
measure f-check-read-data lockstep "$work/lockstep" --repo "$work/repo-lockstep" check --read-data
if uses restic; then measure f-check-read-data restic restic -r "$work/repo-restic" check --read-data -q; fi
if uses rustic; then measure f-check-read-data rustic rustic -r "$work/repo-rustic" check --read-data; fi

# --- (h) the interactive commands, warm (after one run to warm the caches) -------------------
if uses lockstep; then
  for cmd in status "diff latest" doctor snapshots; do
    lockstep --repo "$work/repo-lockstep" $cmd >/dev/null 2>&1 || true
    LOCKSTEP_TIMINGS=1 /usr/bin/time -f "%e %U %S %M" -o "$work/time.out" \
      "$work/lockstep" --repo "$work/repo-lockstep" $cmd >"$work/last.log" 2>&1 || true
    read -r wall user sys rss < "$work/time.out"
    printf '%s\t%s\t%s\t%.2f\t%d\t%d\n' "h-${cmd%% *}-warm" lockstep "$wall" \
      "$(awk "BEGIN {print $user + $sys}")" "$((rss / 1024))" 1 >> "$results"
  done
fi

# --- (e) roll the live host back from the fix pack to the snapshot before it ----------------
# Every tool starts from the fix-pack state (s2); the host is put back after each one that
# changed it.
rollback_with() { # TOOL
  case $1 in
    lockstep)
      measure e-rollback lockstep "$work/lockstep" --repo "$work/repo-lockstep" restore "$s1" --in-place
      # It returns once the set is rolled back; the replaced copies are removed in the
      # background. How long after the return that ended (any lockstep command waits for it):
      local t0 t1
      t0=$(date +%s.%N)
      lockstep --repo "$work/repo-lockstep" recover >/dev/null
      t1=$(date +%s.%N)
      printf 'e-rollback\t%s\tbackground clean-up, ended after the return %.3f\n' "$round" \
        "$(awk "BEGIN {print $t1 - $t0}")" >> "$work/timings.tsv"
      # (g) the backup right after the rollback: the restore's proof lets it read nothing.
      measure g-backup-after-rollback lockstep "$work/lockstep" --repo "$work/repo-lockstep" backup
      reset_host_to "$s2" ;;
    rustic)
      for d in "${dirs[@]}"; do
        measure e-rollback "rustic ($d)" rustic -r "$work/repo-rustic" restore --delete "$rustic_s1:$d" "$host/$d" || true
      done
      reset_host_to "$s2" ;;
    restic)
      measure e-rollback "restic (full restore)" restic -r "$work/repo-restic" restore "$restic_s1" --target "$work/e-restic"
      rm -rf "$work/e-restic" ;;
    tar+zstd)
      measure e-rollback tar+zstd sh -c "cd '$host' && rm -rf ${dirs[*]} && zstd -q -d -c '$work/tar-a-first-backup.tar.zst' | tar -xf -"
      reset_host_to "$s2" ;;
  esac
}
for ((round = 1; round <= rounds; round++)); do
  for tool in $(in_turn); do rollback_with "$tool"; done
done
round=1

# --- report ------------------------------------------------------------------------------
out="$top/bench/results/$(date +%Y-%m-%d)-$scale.md"
# A second run on the same day gets its own file: an earlier result is never overwritten.
n=2
while [ -e "$out" ]; do out="$top/bench/results/$(date +%Y-%m-%d)-$scale-run$n.md"; n=$((n + 1)); done
python3 - "$results" "$out" "$scale" "$set_bytes" "$set_files" "$limit_read" "$limit_cp" "$work/timings.tsv" \
  "$(du -sb "$work/repo-lockstep" | cut -f1)" "$( [ -d "$work/repo-restic" ] && du -sb "$work/repo-restic" | cut -f1 || echo -)" \
  "$( [ -d "$work/repo-rustic" ] && du -sb "$work/repo-rustic" | cut -f1 || echo -)" <<'PY'
import sys, collections, statistics
res, out, scale, nbytes, nfiles, lread, lcp, tim, rl, rr, ru = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
# rustic's rollback runs once per member directory: one row per round with the sums.
per_dir = [r for r in rows if r[1].startswith("rustic (")]
if per_dir:
    at = rows.index(per_dir[0])
    summed = []
    for rnd in sorted({r[5] for r in per_dir}, key=int):
        these = [r for r in per_dir if r[5] == rnd]
        ok = all(r[2] != "failed" for r in these)
        summed.append(["e-rollback", f"rustic (restore --delete, {len(these)} directories, summed)",
                       f"{sum(float(r[2]) for r in these):.2f}" if ok else "failed",
                       f"{sum(float(r[3]) for r in these):.2f}" if ok else "-",
                       str(max(int(r[4]) for r in these)) if ok else "-", rnd])
    rows = [r for r in rows if r not in per_dir]
    rows[at:at] = summed
# One line per scenario and tool: the median wall and CPU time over its rounds, the highest
# peak RSS, every round's wall time; a tool that failed in any round is marked failed.
runs = collections.OrderedDict()
for r in rows:
    runs.setdefault((r[0], r[1]), []).append(r)
def summary(rs):
    if any(r[2] == "failed" for r in rs):
        return None
    return (statistics.median(float(r[2]) for r in rs), statistics.median(float(r[3]) for r in rs),
            max(int(r[4]) for r in rs), ", ".join(r[2] for r in sorted(rs, key=lambda r: int(r[5]))))
lines = [f"# lockstep benchmark, scale {scale}", "",
         f"Set: {int(nbytes)/2**20:.0f} MiB in {nfiles} files. Physical limits: cold read of every file {lread} s, `cp -a` {lcp} s.",
         f"Repository size: lockstep {int(rl)/2**20:.0f} MiB" + (f", restic {int(rr)/2**20:.0f} MiB" if rr != "-" else ", restic not measured") + (f", rustic {int(ru)/2**20:.0f} MiB" if ru != "-" else ", rustic not measured"), "",
         "Wall and CPU time are medians over the rounds a scenario ran (the tools took turns to go first); peak RSS is the highest of them.", "",
         "| scenario | tool | wall s | CPU s | peak RSS MiB | wall ÷ lockstep | every round's wall s |", "|---|---|---|---|---|---|---|"]
base = {scen: summary(rs) for (scen, tool), rs in runs.items() if tool == "lockstep"}
for (scen, tool), rs in runs.items():
    s = summary(rs)
    if s is None:
        lines.append(f"| {scen} | {tool} | failed | - | - | - | - |")
        continue
    b = base.get(scen)
    ratio = f"{s[0] / b[0]:.2f}" if b and b[0] > 0 else "-"
    lines.append(f"| {scen} | {tool} | {s[0]:.2f} | {s[1]:.2f} | {s[2]} | {ratio} | {s[3]} |")
phases = [l.rstrip("\n").split("\t") for l in open(tim) if l.strip()]
if phases:
    lines += ["", "Where lockstep's wall time and memory went (`LOCKSTEP_TIMINGS=1`: seconds, and the resident",
              "memory at the phase's end and the peak so far, MiB; the phase whose end first shows a peak reached it):", "",
              "| scenario | round | phase | s | resident MiB | peak MiB |", "|---|---|---|---|---|---|"]
    for scen, rnd, rest, *mem in phases:
        name, _, secs = rest.rpartition(" ")
        rss, peak = (mem + ["-", "-"])[:2]
        lines.append(f"| {scen} | {rnd} | {name} | {secs} | {rss} | {peak} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "bench: results in $out (work directory $work)"
