#!/usr/bin/env bash
# Builds lockstep's .deb and .rpm (README, "Install as a package").
#
#   scripts/package.sh [--out DIR]
#       the release binary (cargo build --release: thin LTO, stripped; [profile.release]), then
#       both packages into DIR (default target/packages);
#   scripts/package.sh --binary PATH [--out DIR] [--fast]
#       packages an already built lockstep binary instead, with the same metadata (the test
#       suite packages its own build this way: tests/it/package.rs). --fast compresses the .deb
#       lightly.
#
# What goes where is Cargo.toml's [package.metadata.deb] and [package.metadata.generate-rpm].
# Generated here, by the binary being packaged, into <target>/release/lockstep-package/: the
# man pages (`lockstep man --dir`, gzipped: lockstep*.1.gz, lockstep.toml.5.gz), the bash, zsh
# and fish completions (`lockstep completions`)
# and contrib/systemd's units with ExecStart at /usr/bin/lockstep instead of /usr/local/bin.
# Needs cargo-deb and cargo-generate-rpm: installed with `cargo install --locked` when missing
# (about 3.5 CPU-minutes, once per machine).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/package.sh [--binary PATH] [--out DIR] [--fast]" >&2; exit 2; }
out=target/packages
binary=""
fast=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --fast) fast=(--fast); shift ;;
    *) usage ;;
  esac
done

for tool in deb generate-rpm; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "package.sh: installing cargo-$tool (cargo install --locked)" >&2
    cargo install --locked "cargo-$tool" >&2
  fi
done

# The target directory the packaging tools read `target/release/…` from: the real one for a
# release build, a scratch one holding a copy of --binary otherwise (never a stale release
# binary packaged by mistake).
if [ -z "$binary" ]; then
  cargo build --release --locked
  target=${CARGO_TARGET_DIR:-target}
else
  [ -x "$binary" ] || { echo "package.sh: $binary is not an executable" >&2; exit 2; }
  target=$(mktemp -d)
  trap 'rm -rf "$target"' EXIT
  mkdir -p "$target/release"
  # A debug build carries its debug info; the packages ship what the release profile ships.
  strip -o "$target/release/lockstep" "$binary"
fi
bin="$target/release/lockstep"
gen="$target/release/lockstep-package"
rm -rf "$gen"
mkdir -p "$gen/completions" "$gen/systemd"

"$bin" man --dir "$gen/man"
# Debian policy and RPM distributions ship man pages compressed; -n keeps the build reproducible
# (no name or time stamp in the .gz).
gzip -9n "$gen"/man/*.1 "$gen"/man/*.5
"$bin" completions bash > "$gen/completions/lockstep.bash"
"$bin" completions zsh > "$gen/completions/_lockstep"
"$bin" completions fish > "$gen/completions/lockstep.fish"
for unit in contrib/systemd/*; do
  sed 's#/usr/local/bin/lockstep#/usr/bin/lockstep#g' "$unit" > "$gen/systemd/$(basename "$unit")"
done
if grep -l /usr/local "$gen"/systemd/*; then
  echo "package.sh: the units above still name /usr/local" >&2
  exit 1
fi

mkdir -p "$out"
CARGO_TARGET_DIR=$target cargo deb --no-build --locked "${fast[@]}" --output "$out"
cargo generate-rpm --target-dir "$target" --output "$out"
ls -l "$out"
