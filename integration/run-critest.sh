#!/usr/bin/env bash
# critest v1.37.0 against the stock runc handler and the hardened handlers in
# the same lab, then the per-spec comparisons:
#   runc vs hardened-audit  the same specs must pass (audit mode refuses nothing)
#   runc vs hardened        every difference must be an expected refusal listed in
#                           integration/critest-expected-refusals.tsv, and every
#                           listed refusal must actually happen
# Exits non-zero on any difference. Needs the lab up (make lab-up).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
COMPARE="$REPO/integration/lab/critest-compare"
REFUSALS="$REPO/integration/critest-expected-refusals.tsv"
LAB_DIR=${LAB_DIR:-$REPO/.lab}
REPORTS=$LAB_DIR/reports

for h in runc hardened-audit hardened; do
	echo "=== critest -runtime-handler $h"
	# lab.sh critest exits non-zero on any failure but the offline digest spec;
	# the comparisons below decide.
	"$LAB" critest "$h" >"$REPORTS/run-critest-$h.out" 2>&1 || true
	grep -E '^\[critest' "$REPORTS/run-critest-$h.out" | head -60
	[[ -s $REPORTS/critest-$h.json ]] || { echo "critest for $h wrote no report (see $REPORTS/run-critest-$h.out)" >&2; exit 1; }
done

rc=0
echo
echo "=== runc vs hardened-audit (must be identical)"
"$COMPARE" --label-a runc --label-b hardened-audit "$REPORTS/critest-runc.json" "$REPORTS/critest-hardened-audit.json" || rc=1
echo
echo "=== runc vs hardened (enforce; differences must be listed refusals)"
"$COMPARE" --refusals "$REFUSALS" --label-a runc --label-b hardened "$REPORTS/critest-runc.json" "$REPORTS/critest-hardened.json" || rc=1
exit $rc
