#!/usr/bin/env bash
# The one command that runs lockstep's whole test suite (README, .ci/run).
# It installs what the tests need and is missing: restic (the interoperability tests read
# lockstep repositories with it) from Debian's packages. The systemd units in contrib/systemd are
# checked with systemd-analyze when it is installed (the test says SKIPPED otherwise; systemd is
# too large a package to install just for that).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v restic >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing restic (Debian package) for the interoperability tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null
  else
    echo "test.sh: restic is not installed and cannot be installed here; its tests will be skipped" >&2
  fi
fi

# A single-node Garage S3 server for the S3 tests (tests/s3.rs), started when Garage is
# installed. LOCKSTEP_BUILD_GARAGE=1 lets scripts/garage.sh install it first (cargo install
# --locked garage --version 2.5.0: a long build). Without Garage the S3 tests say SKIPPED;
# LOCKSTEP_REQUIRE_S3=1 turns that into a failure. LOCKSTEP_NO_GARAGE=1 never starts it.
if [ -z "${LOCKSTEP_NO_GARAGE:-}" ] && [ -z "${LOCKSTEP_TEST_S3_ENDPOINT:-}" ] \
  && { command -v garage >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/garage" ] || [ -n "${LOCKSTEP_BUILD_GARAGE:-}" ]; }; then
  garage_dir=$(mktemp -d)
  trap './scripts/garage.sh stop "$garage_dir"; rm -rf "$garage_dir"' EXIT
  if garage_env=$(timeout 1800 ./scripts/garage.sh start "$garage_dir"); then
    set -a
    eval "$garage_env"
    set +a
  else
    echo "test.sh: Garage did not start; the S3 tests will be skipped" >&2
  fi
else
  echo "test.sh: Garage is not installed; the S3 tests will be skipped (LOCKSTEP_BUILD_GARAGE=1 builds it)" >&2
fi

# The whole workspace: lockstep and the vendored rustic_cdc patch (vendor/rustic_cdc/PATCH.md).
if [ $# -eq 0 ]; then
  cargo test --locked --workspace
else
  cargo test --locked "$@"
fi
