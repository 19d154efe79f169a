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

# compare B [--refusals FILE]: runc against handler B. A spec whose outcome
# differs is run again on both handlers, twice at most (focused): a
# difference must reproduce to count. One that does not (a race in
# containerd that either handler can lose) is printed as such.
compare() {
	local b=$1 names focus attempt
	shift
	names=$(mktemp)
	if "$COMPARE" "$@" --names-out "$names" --label-a runc --label-b "$b" "$REPORTS/critest-runc.json" "$REPORTS/critest-$b.json"; then
		rm -f "$names"
		return 0
	fi
	if [[ ! -s $names ]]; then
		rm -f "$names"
		return 1 # listed refusals that did not happen: nothing to re-run
	fi
	# ginkgo focus: the specs' texts as literal regular expressions
	focus=$(sed -e 's/^\[k8s.io\] //' -e 's/[][(){}.*+?^$|\\]/\\&/g' "$names" | paste -sd'|')
	for attempt in 1 2; do
		echo "=== re-run $attempt of the $(wc -l <"$names") differing spec(s) on runc and $b: a difference must reproduce"
		sed 's/^/   /' "$names"
		for h in runc "$b"; do
			LAB_CRITEST_REPORT_SUFFIX=-rerun "$LAB" critest "$h" -ginkgo.focus="$focus" >"$REPORTS/run-critest-$h-rerun.out" 2>&1 || true
		done
		if "$COMPARE" --label-a runc --label-b "$b" "$REPORTS/critest-runc-rerun.json" "$REPORTS/critest-$b-rerun.json" >"$REPORTS/compare-$b-rerun.out"; then
			echo "   did not reproduce: the same outcome on both handlers (a flaky spec, not a difference)"
			rm -f "$names"
			return 0
		fi
		grep -A20 '^== specs whose outcome differs' "$REPORTS/compare-$b-rerun.out" | sed 's/^/   /'
	done
	rm -f "$names"
	return 1
}

rc=0
echo
echo "=== runc vs hardened-audit (must be identical)"
compare hardened-audit || rc=1
echo
echo "=== runc vs hardened (enforce; differences must be listed refusals)"
compare hardened --refusals "$REFUSALS" || rc=1
exit $rc
