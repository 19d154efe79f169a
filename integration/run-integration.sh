#!/usr/bin/env bash
# Runs the integration tests (build tag "integration") against the running lab.
# The test binary is built in the host network namespace (the Go module proxy
# is reachable there) and run inside the lab's network namespace, where the
# lab registry listens on loopback.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB="$REPO/integration/lab/lab.sh"
ENV_FILE=$("$LAB" env-file)
if [[ ! -f $ENV_FILE ]]; then
	echo "integration: the lab is not up ($ENV_FILE missing): run 'make lab-up'" >&2
	exit 1
fi
# shellcheck disable=SC1090
. "$ENV_FILE"
cd "$REPO"
export LAB_ENV=$ENV_FILE
exec go test -tags integration -count=1 -timeout 30m -v \
	-skip '^(TestCompatLiveUpgrade|TestCompatContainerdKilled)$' -exec "nsenter --net=$LAB_NETNS_PATH --" ./integration/ "$@"
