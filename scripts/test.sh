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

# A single-node Garage S3 server for the S3 tests (tests/s3.rs). scripts/garage.sh installs
# Garage when it is absent (cargo install, a long build the first time). LOCKSTEP_NO_GARAGE=1
# skips it; the S3 tests then say SKIPPED (and fail under CI=true, where Garage is required).
if [ -z "${LOCKSTEP_NO_GARAGE:-}" ] && [ -z "${LOCKSTEP_TEST_S3_ENDPOINT:-}" ]; then
  garage_dir=$(mktemp -d)
  trap './scripts/garage.sh stop "$garage_dir"; rm -rf "$garage_dir"' EXIT
  set -a
  # shellcheck disable=SC1091
  . <(./scripts/garage.sh start "$garage_dir")
  set +a
fi

cargo test --locked "$@"
