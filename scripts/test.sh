#!/usr/bin/env bash
# The one command that runs lockstep's whole test suite (README, .ci/run).
# It installs what the tests need and is missing: restic (the interoperability tests read
# lockstep repositories with it) from Debian's packages, and the package test's tools (below).
# The systemd units in contrib/systemd are
# checked with systemd-analyze when it is installed (the test says SKIPPED otherwise; systemd is
# too large a package to install just for that).
set -euo pipefail
cd "$(dirname "$0")/.."

# Formatting and lints first (the [workspace.lints] table in Cargo.toml: unsafe only in
# src/util/, pedantic clippy with its listed allows); either failing stops the run before the
# tests start.
if ! cargo fmt --all --check; then
  echo "test.sh: FAILED: cargo fmt --all --check (the diff is above; run cargo fmt --all)" >&2
  exit 1
fi
if ! cargo clippy --locked --workspace --all-targets -- -D warnings; then
  echo "test.sh: FAILED: cargo clippy --locked --workspace --all-targets -- -D warnings (the lints are above)" >&2
  exit 1
fi

if ! command -v restic >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing restic (Debian package) for the interoperability tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null
  else
    echo "test.sh: restic is not installed and cannot be installed here; its tests will be skipped" >&2
  fi
fi

# The package test (tests/it/package.rs) builds the .deb and .rpm of the binary under test with
# scripts/package.sh, installs the .deb into this machine, uses it and purges it. It needs
# cargo-deb and cargo-generate-rpm (cargo install --locked: about 3.5 CPU-minutes, once per
# machine), Debian's rpm (to read the .rpm) and man-db (`man lockstep` as installed).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v rpm >/dev/null 2>&1 || missing+=(rpm)
  command -v man >/dev/null 2>&1 || missing+=(man-db)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing ${missing[*]} (Debian packages) for the package test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
for tool in deb generate-rpm; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-$tool (cargo install --locked) for the package test"
    cargo install --locked "cargo-$tool" -q
  fi
done

# A single-node Garage S3 server on 127.0.0.1 for the S3 tests (tests/it/s3.rs; the cluster tests,
# tests/it/cluster.rs, start three-node clusters of their own with the same script and run
# whenever this server runs). scripts/garage.sh
# installs Garage 2.5.0 first when it is missing (cargo install --locked: about 17 CPU-minutes,
# once per machine), starts it, and the tests then must run against it (LOCKSTEP_REQUIRE_S3):
# a Garage that cannot be built or started fails the run instead of skipping tests.
# LOCKSTEP_NO_GARAGE=1 leaves Garage out; the S3 tests then say SKIPPED.
if [ -z "${LOCKSTEP_NO_GARAGE:-}" ] && [ -z "${LOCKSTEP_TEST_S3_ENDPOINT:-}" ]; then
  garage_dir=$(mktemp -d)
  trap './scripts/garage.sh stop "$garage_dir"; rm -rf "$garage_dir"' EXIT
  if ! garage_env=$(timeout 3600 ./scripts/garage.sh start "$garage_dir"); then
    echo "test.sh: Garage could not be installed or started (see above and $garage_dir/garage.log); LOCKSTEP_NO_GARAGE=1 runs the suite without the S3 tests" >&2
    exit 1
  fi
  set -a
  eval "$garage_env"
  set +a
  export LOCKSTEP_REQUIRE_S3=1
elif [ -n "${LOCKSTEP_NO_GARAGE:-}" ]; then
  echo "test.sh: LOCKSTEP_NO_GARAGE is set; the S3 tests will be skipped" >&2
fi

# The whole workspace: lockstep and the vendored rustic_cdc patch (vendor/rustic_cdc/PATCH.md).
if [ $# -eq 0 ]; then
  cargo test --locked --workspace
else
  cargo test --locked "$@"
fi
