#!/usr/bin/env bash
# usage: tools/unchanged.sh PATH... -- COMMAND...
# Runs COMMAND and fails if it changed any file under the PATHs (works in a dirty tree too).
set -euo pipefail
paths=(); while [[ $# -gt 0 && $1 != -- ]]; do paths+=("$1"); shift; done; shift
snap() { find "${paths[@]}" -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha256sum; }
before=$(snap); "$@" >/dev/null; after=$(snap)
if [[ "$before" != "$after" ]]; then diff <(echo "$before") <(echo "$after") | grep '^[<>]' | awk '{print "  changed: " $3}' | sort -u; exit 1; fi
