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

exec cargo test --locked "$@"
