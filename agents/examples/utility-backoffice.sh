#!/bin/sh
# A stand-in for a utility's back office, for `renkei-agent serve --exec`.
#
# renkei-agent hands each request to this script as one JSON object on stdin
# ({"from","type","msg_id","code","first_contact","payload"}) and the
# message's header in the environment (RENKEI_FROM, RENKEI_TYPE,
# RENKEI_MSG_ID, RENKEI_CODE, RENKEI_FIRST_CONTACT).  Whatever JSON this
# script prints becomes the reply; a non-zero exit sends no reply.
#
#   renkei-agent -k power.key -K hub.pub serve --exec agents/examples/utility-backoffice.sh
#
# A real back office would file the request under its own customer record
# (found by RENKEI_CODE) and answer when the work is scheduled.
set -eu

request=$(cat)
if [ -z "$request" ]; then
    echo "utility-backoffice: no request on stdin" >&2
    exit 1
fi

type=${RENKEI_TYPE:-}
# Procedure types are [a-z0-9._-]; anything else would need JSON escaping.
case $type in
    '' | *[!a-z0-9._-]*)
        echo "utility-backoffice: unexpected procedure type" >&2
        exit 1
        ;;
esac

case $type in
    utility.supply.stop) action="supply will stop on the requested date" ;;
    utility.supply.start) action="supply will start on the requested date" ;;
    *) action="received" ;;
esac

printf '{"result":"done","type":"%s","note":"%s"}\n' "$type" "$action"
