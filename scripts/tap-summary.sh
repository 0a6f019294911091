#!/usr/bin/env bash
# Prints "N passed, N failed, N skipped" from a tap run's log, for .ci/run's last line.
#
#   scripts/tap-summary.sh LOG [EXIT_CODE]
#
# tap ends with a line like `# { total: 7, pass: 1, fail: 2, todo: 1, skip: 3 }` (keys absent when
# zero). The last such line counts; ANSI colours are ignored. "skipped" is skip + todo (neither
# passed nor failed). With no summary line (the build before tap failed, tap crashed or was killed)
# and a non-zero EXIT_CODE the run counts as "0 passed, 1 failed, 0 skipped", never as a pass.
set -euo pipefail

log="${1:?usage: tap-summary.sh LOG [EXIT_CODE]}"
rc="${2:-0}"

line="$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log" | grep -E '^# \{ total: [0-9]+' | tail -n1 || true)"
if [ -z "$line" ]; then
  if [ "$rc" -ne 0 ]; then echo "0 passed, 1 failed, 0 skipped"; else echo "0 passed, 0 failed, 0 skipped"; fi
  exit 0
fi
count() { # the number after "KEY: " in $line, 0 when absent
  local n
  n="$(printf '%s\n' "$line" | grep -oE "[{ ,]$1: [0-9]+" | grep -oE '[0-9]+$' || true)"
  echo "${n:-0}"
}
pass="$(count pass)"
fail="$(count fail)"
skipped=$(( $(count skip) + $(count todo) ))
# The counts are tap's own. Should tap exit non-zero with 0 failed (a coverage threshold, say),
# the exit code still tells; .ci/run says so on the line above.
echo "$pass passed, $fail failed, $skipped skipped"
