#!/usr/bin/env bash
# critest v1.37.0 against the stock runc handler and the hardened handlers in
# the same lab, then the per-spec comparisons:
#   runc vs hardened-audit           the same specs must pass (audit mode refuses nothing)
#   runc vs hardened                 every difference must be an expected refusal listed in
#                                    integration/critest-expected-refusals.tsv, and every
#                                    listed refusal must actually happen
#   runc vs hardened-delegate-audit  the same, for the delegation backend (containerd's
#   runc vs hardened-delegate        runc shim as the delegate): it must match runc and hardened
#   runc vs hardened-gvisor-audit    every difference must be listed, with its reason, in
#                                    integration/critest-gvisor-differences.tsv
#   runc vs hardened-gvisor          both lists
# Exits non-zero on any difference. Needs the lab up (make lab-up).
# CRITEST_HANDLERS (space separated) runs a subset of the handlers and their comparisons.
# Another containerd on the lab (integration/lab/compat.sh): LAB_CRITEST_ENDPOINT and
# LAB_CRITEST_NRI (read by lab.sh critest), CRITEST_SUFFIX names its reports
# (critest-HANDLER$CRITEST_SUFFIX.json), CRITEST_EXTRA_REFUSALS is a differences file added to
# every comparison.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
COMPARE="$REPO/integration/lab/critest-compare"
REFUSALS="$REPO/integration/critest-expected-refusals.tsv"
GVISOR="$REPO/integration/critest-gvisor-differences.tsv"
LAB_DIR=${LAB_DIR:-$REPO/.lab}
REPORTS=$LAB_DIR/reports

HANDLERS=${CRITEST_HANDLERS:-hardened-audit hardened hardened-delegate-audit hardened-delegate hardened-gvisor-audit hardened-gvisor}
SFX=${CRITEST_SUFFIX:-}
EXTRA=()
[[ -n ${CRITEST_EXTRA_REFUSALS:-} ]] && EXTRA=(--refusals "$CRITEST_EXTRA_REFUSALS")
for h in runc $HANDLERS; do
	echo "=== critest -runtime-handler $h"
	# lab.sh critest exits non-zero on any failure but the offline digest spec;
	# the comparisons below decide.
	LAB_CRITEST_REPORT_SUFFIX=$SFX "$LAB" critest "$h" >"$REPORTS/run-critest-$h$SFX.out" 2>&1 || true
	grep -E '^\[critest' "$REPORTS/run-critest-$h$SFX.out" | head -60
	[[ -s $REPORTS/critest-$h$SFX.json ]] || { echo "critest for $h wrote no report (see $REPORTS/run-critest-$h$SFX.out)" >&2; exit 1; }
done

# compare B [--refusals FILE]: runc against handler B. A spec whose outcome
# differs is run again on both handlers, twice at most (focused): a
# difference must reproduce to count. One that does not (a race in
# containerd that either handler can lose) is printed as such.
compare() {
	local b=$1 names focus attempt
	shift
	names=$(mktemp)
	if "$COMPARE" "$@" "${EXTRA[@]}" --names-out "$names" --label-a runc --label-b "$b" "$REPORTS/critest-runc$SFX.json" "$REPORTS/critest-$b$SFX.json"; then
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
			LAB_CRITEST_REPORT_SUFFIX=$SFX-rerun "$LAB" critest "$h" -ginkgo.focus="$focus" >"$REPORTS/run-critest-$h$SFX-rerun.out" 2>&1 || true
		done
		if "$COMPARE" --label-a runc --label-b "$b" "$REPORTS/critest-runc$SFX-rerun.json" "$REPORTS/critest-$b$SFX-rerun.json" >"$REPORTS/compare-$b$SFX-rerun.out"; then
			echo "   did not reproduce: the same outcome on both handlers (a flaky spec, not a difference)"
			rm -f "$names"
			return 0
		fi
		grep -A20 '^== specs whose outcome differs' "$REPORTS/compare-$b$SFX-rerun.out" | sed 's/^/   /'
	done
	rm -f "$names"
	return 1
}

rc=0
for h in $HANDLERS; do
	echo
	case $h in
	hardened-audit | hardened-delegate-audit)
		echo "=== runc vs $h (must be identical)"
		compare "$h" || rc=1 ;;
	hardened | hardened-delegate)
		echo "=== runc vs $h (enforce; differences must be listed refusals)"
		compare "$h" --refusals "$REFUSALS" || rc=1 ;;
	hardened-gvisor-audit)
		echo "=== runc vs $h (differences must be listed gVisor differences)"
		compare "$h" --refusals "$GVISOR" || rc=1 ;;
	hardened-gvisor)
		echo "=== runc vs $h (enforce; differences must be listed refusals or gVisor differences)"
		compare "$h" --refusals "$REFUSALS" --refusals "$GVISOR" || rc=1 ;;
	*) echo "run-critest.sh: no comparison for handler $h" >&2; rc=1 ;;
	esac
done
exit $rc
