#!/bin/sh
# Fallback back office for the move demo, used only when the agent's example
# (agents/examples/utility-backoffice.sh) is not in this checkout.  Reads the
# delivered request (one JSON object) on stdin and answers with JSON.
set -eu
request=$(cat)
[ -n "$request" ] || { echo "utility-backoffice: no request on stdin" >&2; exit 1; }
case ${RENKEI_TYPE:-} in
    utility.supply.stop) printf '{"result":"done","note":"supply will stop on the requested date"}\n' ;;
    utility.supply.start) printf '{"result":"done","note":"supply will start on the requested date"}\n' ;;
    *) printf '{"result":"received"}\n' ;;
esac
