#!/usr/bin/env bash
# Run the whole suite; pytest's exit code 5 ("no tests collected") is a failure here too,
# since a suite that runs nothing proves nothing.
set -uo pipefail
py="${1:-python}"
mkdir -p artifacts
# The db tests run on PostgreSQL too. This machine kind starts a server on 127.0.0.1:5432
# before a session; start it here if it has stopped. In CI a missing server fails the
# PostgreSQL tests instead of skipping them.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
if [ "${CI:-}" = "true" ]; then export BRANDMOOD_REQUIRE_POSTGRES=1; fi
"$py" -m pytest -p no:cacheprovider --timeout=900 "${@:2}"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
