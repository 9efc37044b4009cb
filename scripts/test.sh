#!/usr/bin/env bash
# Runs the test suite with Node's built-in runner on the TypeScript sources (via tsx).
# Usage: scripts/test.sh            -> the default tier (everything but test/oracle)
#        scripts/test.sh oracle     -> the RELION-oracle tier (needs Debian's relion)
#        scripts/test.sh all        -> both
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-default}"
case "$tier" in
  default) files=$(find test -name '*.test.ts' -not -path 'test/oracle/*' -not -path 'test/browser/*' | sort) ;;
  oracle)  files=$(find test/oracle -name '*.test.ts' | sort) ;;
  browser) files=$(find test/browser -name '*.test.ts' 2>/dev/null | sort) ;;
  all)     files=$(find test -name '*.test.ts' | sort) ;;
  *) echo "unknown tier: $tier" >&2; exit 2 ;;
esac
if [ -z "$files" ]; then echo "no test files for tier $tier" >&2; exit 1; fi
# shellcheck disable=SC2086
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec $files
