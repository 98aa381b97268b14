#!/usr/bin/env bash
# Renkei move demo: resident A moves from X city (city.x) to Y town (town.y).
#
#   demo/move-demo.sh BIN_DIR        (BIN_DIR holds renkei-hub, renkei-ctl,
#                                     renkei-agent and renkei-keygen)
#
# Everything runs on this machine, in a temporary folder that is removed at
# exit.  The demo plays the flows of the core specification: X city's portal
# asks the electricity, gas and water companies to stop supply (their back
# offices reached three ways: a command per request, a webhook, a spool
# folder), sends the
# move-out notice to Y town; at Y town's counter A presents the number and
# Y town asks the same companies to start supply.  It then checks that every
# organization saw only its own link code for A and that A's number never
# left the two municipalities.  An auditor then reads what the hub did: X
# city shows the resident every routing-log entry about A, keeps a receipt
# for one of its messages, and (when renkei-audit is built) the auditor
# verifies the whole log.  Exit status 0 only if every check passed.
set -euo pipefail

if [[ $# -ne 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    echo "usage: $0 BIN_DIR   (the folder holding renkei-hub, renkei-ctl, renkei-agent, renkei-keygen)" >&2
    exit 2
fi
BIN="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for p in renkei-hub renkei-ctl renkei-agent renkei-keygen; do
    if [[ ! -x "$BIN/$p" ]]; then
        echo "move-demo: $BIN/$p is missing: build Renkei first (./run build)" >&2
        exit 1
    fi
done
command -v python3 >/dev/null || { echo "move-demo: python3 is needed to read JSON" >&2; exit 1; }

BACKOFFICE="$HERE/../agents/examples/utility-backoffice.sh"
WEBHOOK_BO="$HERE/../agents/examples/utility-webhook.py"
SPOOL_BO="$HERE/../agents/examples/utility-spool.py"

NUMBER="DEMO-0000-0000-0001"          # resident A's number: a made-up demo value
NUMBER_B="DEMO-0000-0000-0002"        # resident B, who stays in X city
# The demo's numbers are made-up strings, not My Numbers: the agents take
# them as they are (renkei-agent's default, --number-rule mynumber, would
# refuse them; a real deployment keeps that default).
export RENKEI_NUMBER_RULE=any
UTILS=(power gas water)
WAIT=15                                # seconds any wait may take

T="$(mktemp -d "${TMPDIR:-/tmp}/renkei-demo.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
STEP=0
step() { STEP=$((STEP + 1)); printf '\n%2d. %s\n' "$STEP" "$*"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '    FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
die() {
    printf '\nmove-demo: %s\n' "$*" >&2
    [[ -f "$T/hub/hub.log" ]] && { echo "--- hub log:" >&2; tail -n 20 "$T/hub/hub.log" >&2; }
    exit 1
}
short() { printf '%s' "${1:0:12}"; }   # codes are shown shortened to 12 of 32 hex digits
jget() {  # jget FIELD [SUBFIELD] < one JSON line
    python3 -c '
import json, sys
v = json.loads(sys.stdin.readline())
for k in sys.argv[1:]:
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$@"
}

# wait_for FILE TEXT: until FILE contains TEXT (or WAIT seconds pass)
wait_for() {
    local i
    for ((i = 0; i < WAIT * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Each party has its own folder: T/ORG/data is its agent's database, the
# rest is what it printed or was handed.  The resident's number never goes
# on a command line (every local user could read it there): renkei-agent
# reads it from stdin (<<<"$NUMBER") or from --person-file, here a pipe
# from the shell's own printf (--person-file <(printf ...)).
N=0
agent() {  # agent ORG ARGS... ; stdout/stderr kept in T/ORG/N.out|err
    local org=$1
    shift
    N=$((N + 1))
    LAST_OUT="$T/$org/$N.out"
    LAST_ERR="$T/$org/$N.err"
    timeout $((WAIT * 2)) "$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/$org.key" \
        -d "$T/$org/data" -t 10 "$@" >"$LAST_OUT" 2>"$LAST_ERR"
}

printf 'Renkei move demo: resident A moves from X city (city.x) to Y town (town.y)\n'
printf 'Working folder %s (removed at the end). Link codes are shown shortened.\n' "$T"

# ---------------------------------------------------------------- set up
step "Keys: each party makes its own key pair; the hub operator makes the master key"
mkdir -p "$T/keys" "$T/hub"
for org in hub op.demo city.x town.y "${UTILS[@]}" audit; do
    "$BIN/renkei-keygen" -o "$T/keys" "$org" >/dev/null || die "renkei-keygen $org failed"
    [[ $org == hub || $org == op.demo ]] || mkdir -p "$T/$org"
done
"$BIN/renkei-keygen" --master-key "$T/master.key" >/dev/null || die "renkei-keygen --master-key failed"
info "hub, the operator op.demo, city.x town.y power gas water audit: NAME.key (secret) + NAME.pub; master.key kept outside the hub's data"

step "The hub's operator registers itself; every change it makes is signed on the routing log"
"$BIN/renkei-ctl" -d "$T/hub/data" operator add op.demo --pub "$T/keys/op.demo.pub" \
    --operator-key "$T/keys/op.demo.key" >/dev/null 2>"$T/hub/ctl.err" ||
    die "renkei-ctl operator add failed: $(cat "$T/hub/ctl.err")"
export RENKEI_OPERATOR_KEY="$T/keys/op.demo.key"
info "op.demo (renkei-ctl operator add); its key signs the changes below"

step "Registration at the hub (renkei-ctl register)"
reg() {
    "$BIN/renkei-ctl" -d "$T/hub/data" register "$1" --kind "$2" --pub "$T/keys/$1.pub" >/dev/null \
        2>"$T/hub/ctl.err" || die "renkei-ctl register $1 failed: $(cat "$T/hub/ctl.err")"
    printf '    %-8s %s\n' "$1" "$2"
}
reg city.x municipality
reg town.y municipality
for u in "${UTILS[@]}"; do reg "$u" utility; done
reg audit auditor

step "The procedure catalogue: which procedures go to whom (renkei-ctl catalogue load)"
"$BIN/renkei-ctl" -d "$T/hub/data" catalogue load "$HERE/../hub/catalogue.default" >"$T/hub/ctl.out" \
    2>"$T/hub/ctl.err" || die "renkei-ctl catalogue load failed: $(cat "$T/hub/ctl.err")"
info "hub/catalogue.default: $(head -n 1 "$T/hub/ctl.out")"
"$BIN/renkei-ctl" -d "$T/hub/data" catalogue list | awk 'NR > 1 && $2 == "hub" { printf "    %-30s %s -> %s\n", $1, $3, $4 }'

start_hub() {  # start_hub LOGFILE
    rm -f "$T/hub/ready"
    "$BIN/renkei-hub" --data "$T/hub/data" --key "$T/keys/hub.key" --master-key "$T/master.key" \
        --bind 'tcp://127.0.0.1:*' --ready-file "$T/hub/ready" 2>>"$1" &
    PIDS+=($!)
    wait_for "$T/hub/ready" "tcp://" || die "the hub did not become ready within $WAIT s"
    EP="$(head -n 1 "$T/hub/ready")"
}

step "The hub starts"
start_hub "$T/hub/hub.log"
info "listening on $EP"

step "Each utility's agent hands requests to its back office, each in its own way; so does X city's portal"
# power: a command per request (serve --exec), gas: an HTTP service
# (serve --webhook), water: a batch job reading and writing files (spool).
# Each back office keeps a copy of what it was handed (T/u/deliveries.jsonl)
# and the code it saw (T/u/seen).
start_utility() {  # start_utility ORG
    local u=$1 port
    case $u in
        power)
            exec_cmd="printf '%s %s %s\n' \"\$RENKEI_TYPE\" \"\$RENKEI_CODE\" \"\$RENKEI_FIRST_CONTACT\" >> '$T/$u/seen' && { tee -a '$T/$u/deliveries.jsonl' && echo >> '$T/$u/deliveries.jsonl'; } | sh '$BACKOFFICE'"
            "$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/$u.key" -d "$T/$u/data" \
                serve --exec "$exec_cmd" >"$T/$u/serve.out" 2>"$T/$u/serve.err" &
            PIDS+=($!)
            wait_for "$T/$u/serve.err" "serving as $u" || die "$u's agent did not start serving: $(cat "$T/$u/serve.err")"
            printf '    %-8s serve --exec %s (a command per request)\n' "$u" "$(basename "$BACKOFFICE")"
            ;;
        gas)
            python3 "$WEBHOOK_BO" --port-file "$T/$u/port" --seen "$T/$u/seen" --log "$T/$u/deliveries.jsonl" \
                2>"$T/$u/backoffice.err" &
            PIDS+=($!)
            wait_for "$T/$u/port" "" || die "$u's back office did not start: $(cat "$T/$u/backoffice.err")"
            port="$(head -n 1 "$T/$u/port")"
            "$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/$u.key" -d "$T/$u/data" \
                serve --webhook "http://127.0.0.1:$port/renkei" >"$T/$u/serve.out" 2>"$T/$u/serve.err" &
            PIDS+=($!)
            wait_for "$T/$u/serve.err" "serving as $u" || die "$u's agent did not start serving: $(cat "$T/$u/serve.err")"
            printf '    %-8s serve --webhook http://127.0.0.1:%s/renkei (%s, an HTTP service)\n' "$u" "$port" \
                "$(basename "$WEBHOOK_BO")"
            ;;
        water)
            mkdir -p "$T/$u/spool"
            "$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/$u.key" -d "$T/$u/data" \
                spool --spool-dir "$T/$u/spool" >"$T/$u/serve.out" 2>"$T/$u/serve.err" &
            PIDS+=($!)
            wait_for "$T/$u/serve.err" "watching the spool folder" ||
                die "$u's agent did not start its spool: $(cat "$T/$u/serve.err")"
            python3 "$SPOOL_BO" "$T/$u/spool" --seen "$T/$u/seen" --log "$T/$u/deliveries.jsonl" \
                2>"$T/$u/backoffice.err" &
            PIDS+=($!)
            printf '    %-8s spool --spool-dir %s (%s, a batch job: files in in/, answers in out/)\n' "$u" \
                "$u/spool" "$(basename "$SPOOL_BO")"
            ;;
    esac
}
for u in "${UTILS[@]}"; do start_utility "$u"; done

# X city's portal runs its agent too: it takes in what the hub holds for
# city.x (here: notices that its messages were delivered).
"$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/city.x.key" -d "$T/city.x/data" \
    serve >"$T/city.x/serve.out" 2>"$T/city.x/serve.err" &
PIDS+=($!)
wait_for "$T/city.x/serve.err" "serving as city.x" || die "city.x's agent did not start serving: $(cat "$T/city.x/serve.err")"
printf '    %-8s serving (X city portal)\n' city.x

# ---------------------------------------------------------------- move-out
step "Move-out at X city's portal: A gives the number; city.x looks up (enrolls) its own code"
agent city.x enroll <<<"$NUMBER" || die "city.x enroll failed: $(cat "$LAST_ERR")"
CODE_X="$(head -n 1 "$LAST_OUT")"
info "A's number stays inside city.x; city.x's code for A: $(short "$CODE_X")"

declare -A SEEN_STOP FC_STOP SEEN_START FC_START STOP_MSG
row_head() {
    printf '    %-7s %-7s %-21s %-14s %-14s %-7s %s\n' FROM TO TYPE "WHO sent" "WHO received" "first" "reply (WHO as the sender knows it)"
}
route() {  # route FROM TO TYPE PAYLOAD  (prints one routed step and its reply)
    local from=$1 to=$2 type=$3 payload=$4 line code_back result seen
    agent "$from" send --to "$to" --type "$type" --person-file <(printf '%s\n' "$NUMBER") <<<"$payload" \
        || die "$from -> $to $type failed: $(cat "$LAST_ERR")"
    ROUTED_MSG="$(sed -n 's/.*accepted: seq [0-9]* msg \([0-9a-f]*\).*/\1/p' "$LAST_ERR" | head -n 1)"
    line="$(tail -n 1 "$LAST_OUT")"
    code_back="$(jget code <<<"$line")"
    result="$(jget payload result <<<"$line")"
    seen="$(tail -n 1 "$T/$to/seen")"
    read -r _ ROUTED_CODE ROUTED_FC <<<"$seen"
    printf '    %-7s %-7s %-21s %-14s %-14s %-7s %s from %s, WHO %s\n' "$from" "$to" "$type" \
        "$(short "$SENDER_CODE")" "$(short "$ROUTED_CODE")" "$([[ $ROUTED_FC == 1 ]] && echo yes || echo no)" \
        "\"$result\"" "$to" "$(short "$code_back")"
    [[ "$code_back" == "$SENDER_CODE" ]] || fail "the reply from $to reached $from under a code that is not $from's own"
    [[ "$(jget from <<<"$line")" == "$to" ]] || fail "the reply did not come from $to"
}

step "city.x asks the utilities to stop supply (hub translates WHO for each recipient)"
row_head
SENDER_CODE="$CODE_X"
for u in "${UTILS[@]}"; do
    route city.x "$u" utility.supply.stop '{"request":"stop supply","date":"2025-03-31","address":"1-1 Demo-ku, X city"}'
    SEEN_STOP[$u]="$ROUTED_CODE"
    FC_STOP[$u]="$ROUTED_FC"
    STOP_MSG[$u]="$ROUTED_MSG"
    [[ "$ROUTED_FC" == 1 ]] || fail "$u should meet A for the first time here"
done

step "city.x sends the move-out notice to town.y (town.y has never heard of A, and its system is off)"
agent city.x send --to town.y --type move.out.notice --person-file <(printf '%s\n' "$NUMBER") --no-reply \
    <<<'{"notice":"move-out","moving_on":"2025-04-01","to":"town.y"}' \
    || die "city.x could not send the notice: $(cat "$LAST_ERR")"
NOTICE_ID="$(jget msg_id <"$LAST_OUT")"
info "the hub accepted it and keeps it for town.y (14 days at most); city.x's status for A's move:"
agent city.x status --person <<<"$NUMBER" || die "city.x status failed: $(cat "$LAST_ERR")"
sed 's/^/      /' "$LAST_OUT"
grep -q "^${NOTICE_ID:0:12}.*ACCEPTED" "$LAST_OUT" || fail "the notice should show ACCEPTED while town.y is off"
info "town.y's system starts:"
"$BIN/renkei-agent" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/town.y.key" -d "$T/town.y/data" \
    serve --count 1 >"$T/town.y/notice.out" 2>"$T/town.y/notice.err" &
TOWN_PID=$!
PIDS+=($TOWN_PID)
wait_for "$T/town.y/notice.out" '"code"' || die "town.y received no notice within $WAIT s"
NOTICE="$(tail -n 1 "$T/town.y/notice.out")"
CODE_Y="$(jget code <<<"$NOTICE")"
NOTICE_FC="$(jget first_contact <<<"$NOTICE")"
row_head
printf '    %-7s %-7s %-21s %-14s %-14s %-7s %s\n' city.x town.y move.out.notice "$(short "$CODE_X")" \
    "$(short "$CODE_Y")" "$([[ $NOTICE_FC == true ]] && echo yes || echo no)" "(a notice: no reply)"
info "town.y received: $NOTICE"
[[ "$NOTICE_FC" == true ]] || fail "the notice should be town.y's first contact with A"
[[ "$NOTICE" != *"$NUMBER"* ]] || fail "the notice carried A's number"

# ---------------------------------------------------------------- move-in
step "Move-in at Y town's counter: A presents the number; town.y binds it to the code from the notice"
agent town.y bind "$CODE_Y" <<<"$NUMBER" || die "town.y bind failed: $(cat "$LAST_ERR")"
agent town.y lookup <<<"$NUMBER" || die "town.y lookup failed: $(cat "$LAST_ERR")"
[[ "$(head -n 1 "$LAST_OUT")" == "$CODE_Y" ]] || fail "town.y's lookup does not give the bound code"
info "town.y's code for A: $(short "$CODE_Y")"

step "town.y answers city.x's move-out notice with its move-in notice (a follow-up: --reply-to the notice)"
agent town.y send --to city.x --type move.in.notice --person-file <(printf '%s\n' "$NUMBER") \
    --reply-to "$NOTICE_ID" --no-reply <<<'{"notice":"move-in","moved_in_on":"2025-04-01"}' \
    || die "town.y could not send the move-in notice: $(cat "$LAST_ERR")"
wait_for "$T/city.x/serve.out" '"move.in.notice"' || fail "city.x received no move-in notice within $WAIT s"
MOVE_IN="$(grep -F '"move.in.notice"' "$T/city.x/serve.out" | tail -n 1)"
row_head
printf '    %-7s %-7s %-21s %-14s %-14s %-7s %s\n' town.y city.x move.in.notice "$(short "$CODE_Y")" \
    "$(short "$(jget code <<<"$MOVE_IN")")" no "(answers the move-out notice: no reply)"
[[ "$(jget code <<<"$MOVE_IN")" == "$CODE_X" ]] || fail "the move-in notice reached city.x under a code that is not its own"
info "the hub accepts a move-in notice only as the answer to the recipient's own move-out notice about the same"
info "resident: on its own, or about anyone else, it would ask \"does city.x know this person?\""

step "town.y asks the utilities to start supply"
row_head
SENDER_CODE="$CODE_Y"
for u in "${UTILS[@]}"; do
    route town.y "$u" utility.supply.start '{"request":"start supply","date":"2025-04-01","address":"2-2 Demo-cho, Y town"}'
    SEEN_START[$u]="$ROUTED_CODE"
    FC_START[$u]="$ROUTED_FC"
done

step "The move's progress, as each town's agent records it (renkei-agent status --person)"
for town in city.x town.y; do
    for ((i = 0; i < WAIT * 10; i++)); do
        agent "$town" status --person <<<"$NUMBER" || die "$town status failed: $(cat "$LAST_ERR")"
        grep -qE 'PENDING|ACCEPTED' "$LAST_OUT" || break   # every reply (or delivery) is in
        sleep 0.1
    done
    info "$town:"
    sed 's/^/      /' "$LAST_OUT"
    ! grep -qE 'PENDING|ACCEPTED|REFUSED|EXPIRED' "$LAST_OUT" || fail "$town still has open or failed messages about A"
done

step "Each utility knows A by one code: the same for the stop (from city.x) and the start (from town.y)"
printf '    %-8s %-14s %-14s %s\n' utility "stop WHO" "start WHO" check
for u in "${UTILS[@]}"; do
    ok=OK
    [[ -n "${SEEN_STOP[$u]}" && "${SEEN_STOP[$u]}" == "${SEEN_START[$u]}" && "${FC_START[$u]}" == 0 ]] \
        || { ok=FAIL; FAILS=$((FAILS + 1)); }
    printf '    %-8s %-14s %-14s %s\n' "$u" "$(short "${SEEN_STOP[$u]}")" "$(short "${SEEN_START[$u]}")" "$ok"
done
codes=("$CODE_X" "$CODE_Y")
for u in "${UTILS[@]}"; do codes+=("${SEEN_STOP[$u]}"); done
distinct="$(printf '%s\n' "${codes[@]}" | sort -u | wc -l)"
if [[ "$distinct" == 5 ]]; then
    info "five organizations, five different codes for A: OK"
else
    fail "the five organizations' codes for A are not all different"
fi

# ---------------------------------------------------------------- routing log
step "What the hub did about A (renkei-agent disclose): Y town, A's municipality now, sees the whole record"
if agent town.y disclose <<<"$NUMBER"; then
    sed 's/^/      /' "$LAST_OUT"
    grep -qE '^[0-9]+ .* city\.x +power ' "$LAST_OUT" || fail "town.y's disclosure misses city.x's stop request to power"
    grep -qE '^[0-9]+ .* town\.y +power ' "$LAST_OUT" || fail "town.y's disclosure misses its own start request to power"
    ! grep -qE 'first-contact|code-found' "$LAST_OUT" || fail "a disclosure tells whether a message was a first contact"
    ! grep -qF -- "$NUMBER" "$LAST_OUT" || fail "the disclosure shows A's number"
    ! grep -qiF -- "$CODE_Y" "$LAST_OUT" || fail "the disclosure shows town.y's code for A"
    info "every exchange about A, from every organization; not whether anyone met A for the first time"
else
    fail "town.y's disclosure failed: $(cat "$LAST_ERR")"
fi
info "X city, A's former municipality, sees only its own exchanges about A:"
if agent city.x disclose <<<"$NUMBER"; then
    sed 's/^/      /' "$LAST_OUT"
    ! grep -qE '^[0-9]+ .* town\.y +(power|gas|water) ' "$LAST_OUT" || fail "city.x's disclosure shows town.y's exchanges"
    ! grep -qE '^[0-9]+ .* (power|gas|water) +town\.y ' "$LAST_OUT" || fail "city.x's disclosure shows the utilities' replies to town.y"
    grep -qE '^[0-9]+ .* city\.x +power ' "$LAST_OUT" || fail "city.x's disclosure misses its own stop request"
else
    fail "city.x's disclosure failed: $(cat "$LAST_ERR")"
fi

step "city.x plays the adversary: does town.y know A (who moved there) or B (who did not)?"
agent city.x enroll <<<"$NUMBER_B" || die "city.x enroll B failed: $(cat "$LAST_ERR")"
probe() {  # probe PERSON [--reply-to ID]: city.x sends town.y a move-in notice about PERSON
    local who=$1
    shift
    agent city.x send --to town.y --type move.in.notice --person-file <(printf '%s\n' "$who") --no-reply "$@" \
        <<<'{"probe":true}'
    printf '%s' "$(grep -o 'refused: .*' "$LAST_ERR" || echo "exit $?: accepted")"
}
declare -A PROBE
PROBE[alone_a]="$(probe "$NUMBER")"
PROBE[alone_b]="$(probe "$NUMBER_B")"
PROBE[none_a]="$(probe "$NUMBER" --reply-to 0123456789abcdef0123456789abcdef)"
PROBE[none_b]="$(probe "$NUMBER_B" --reply-to 0123456789abcdef0123456789abcdef)"
same() { [[ "${PROBE[$1_a]}" == "${PROBE[$1_b]}" ]] && echo "yes, word for word" || echo NO; }
printf '    %-34s %-34s %-34s %s\n' "probe" "about A (town.y knows A)" "about B (town.y does not)" "same answer"
printf '    %-34s %-34s %-34s %s\n' "move.in.notice on its own" "$(cut -d: -f1-2 <<<"${PROBE[alone_a]}")" \
    "$(cut -d: -f1-2 <<<"${PROBE[alone_b]}")" "$(same alone)"
printf '    %-34s %-34s %-34s %s\n' "move.in.notice answering nothing" "$(cut -d: -f1-2 <<<"${PROBE[none_a]}")" \
    "$(cut -d: -f1-2 <<<"${PROBE[none_b]}")" "$(same none)"
if [[ "${PROBE[alone_a]}" == "${PROBE[alone_b]}" && "${PROBE[none_a]}" == "${PROBE[none_b]}" &&
      "${PROBE[alone_a]}" == refused:* && "${PROBE[none_a]}" == refused:* ]]; then
    ANSWERS_DEPEND=none
else
    ANSWERS_DEPEND=some
    fail "the hub's answers to city.x depend on whether town.y knows the resident"
fi
info "the same words either way: the hub's answers depend only on what city.x already knows"

step "X city keeps a receipt for its stop request to power (renkei-agent receipt)"
if [[ -z "${STOP_MSG[power]:-}" ]]; then
    fail "the stop request's message id was not printed"
elif agent city.x receipt "${STOP_MSG[power]}" --out "$T/city.x/stop-power.receipt"; then
    sed 's/^/      /' "$LAST_OUT"
    info "the hub signed a checkpoint whose tree holds that entry: it cannot drop or rewrite it unnoticed"
else
    sed 's/^/      /' "$LAST_OUT"
    fail "the receipt did not verify: $(cat "$LAST_ERR")"
fi

# ---------------------------------------------------------------- privacy
kill "${PIDS[@]}" 2>/dev/null || true      # stop hub and agents so everything is on disk
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

# has_code DIR HEX: the code in hex (either case) or as raw bytes anywhere under DIR
has_code() {
    grep -rqiF -- "$2" "$1" 2>/dev/null && return 0
    python3 - "$1" "$2" <<'EOF'
import os, sys
needle = bytes.fromhex(sys.argv[2])
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            with open(os.path.join(root, f), "rb") as fh:
                if needle in fh.read():
                    sys.exit(0)
        except OSError:
            pass
sys.exit(1)
EOF
}

step "Privacy summary: which codes and whether A's number appear in what each party printed, received or stored"
declare -A OWN=([city.x]="$CODE_X" [town.y]="$CODE_Y")
for u in "${UTILS[@]}"; do OWN[$u]="${SEEN_STOP[$u]}"; done
printf '    %-8s %-24s %-13s %-12s %-13s %s\n' party "codes it holds (whose)" "only its own" "A's number" "may hold it" check
for party in city.x town.y "${UTILS[@]}" hub; do
    found=() only=yes ok=OK
    for owner in city.x town.y "${UTILS[@]}"; do
        if has_code "$T/$party" "${OWN[$owner]}"; then
            found+=("$owner")
            [[ "$owner" == "$party" ]] || only=no
        fi
    done
    if [[ $party == hub ]]; then
        # the hub keeps codes only encrypted/hashed: no code may be readable
        [[ ${#found[@]} -eq 0 ]] || only=no
    elif [[ ${#found[@]} -eq 0 ]]; then
        only="none?"
    fi
    if grep -rqF -- "$NUMBER" "$T/$party" 2>/dev/null; then number=present; else number=absent; fi
    case $party in
        city.x | town.y) expect_number=allowed ;;
        *) expect_number=absent ;;
    esac
    [[ $only == yes && ( $expect_number == allowed || $number == absent ) ]] || { ok=FAIL; FAILS=$((FAILS + 1)); }
    list="${found[*]:-(none)}"
    printf '    %-8s %-24s %-13s %-12s %-13s %s\n' "$party" "$list" "$only" "$number" \
        "$([[ $expect_number == allowed ]] && echo yes || echo no)" "$ok"
done
printf '    %-8s %-24s %-13s %-12s %-13s %s\n' answers "that depend on another" "organization:" "$ANSWERS_DEPEND" "" \
    "$([[ $ANSWERS_DEPEND == none ]] && echo OK || echo FAIL)"
info "hub = its log, its LMDB files and its ready file; each agent = its LMDB, its output and what its back office was handed"

# ---------------------------------------------------------------- audit
step "An auditor verifies the routing log (renkei-audit verify)"
if [[ -x "$BIN/renkei-audit" ]]; then
    mkdir -p "$T/audit"
    start_hub "$T/hub/hub-after.log"
    info "the hub is up again on $EP (same data); the auditor connects with its own key:"
    if timeout $((WAIT * 4)) "$BIN/renkei-audit" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/audit.key" \
        --state "$T/audit/audit.state" verify >"$T/audit/verify.out" 2>"$T/audit/verify.err"; then
        sed 's/^/      /' "$T/audit/verify.out"
    else
        sed 's/^/      /' "$T/audit/verify.out" "$T/audit/verify.err"
        fail "renkei-audit verify did not find the log consistent"
    fi
    info "and checks it again without trusting the hub: the verifier key it pins (renkei-audit vkey),"
    info "the signed checkpoint and every entry's raw bytes, checked offline (renkei-audit check):"
    AUD=("$BIN/renkei-audit" -H "$EP" -K "$T/keys/hub.pub" -k "$T/keys/audit.key")
    if "${AUD[@]}" vkey >"$T/audit/hub.vkey" 2>/dev/null &&
        timeout $((WAIT * 4)) "${AUD[@]}" checkpoint >"$T/audit/checkpoint.note" 2>"$T/audit/check.err" &&
        timeout $((WAIT * 4)) "${AUD[@]}" export --format leaves >"$T/audit/log.leaves" 2>>"$T/audit/check.err" &&
        "$BIN/renkei-audit" check --vkey "$T/audit/hub.vkey" --checkpoint "$T/audit/checkpoint.note" \
            --leaves "$T/audit/log.leaves" >"$T/audit/check.out" 2>>"$T/audit/check.err"; then
        sed 's/^/      /' "$T/audit/hub.vkey" "$T/audit/check.out"
    else
        sed 's/^/      /' "$T/audit/check.err"
        fail "renkei-audit check did not verify the exported log against the pinned key"
    fi
else
    info "skipped: $BIN/renkei-audit is not built (the auditors' tool; build it to see this step)"
fi

echo
if [[ $FAILS -eq 0 ]]; then
    echo "All checks passed: no identifier two organizations share crossed the hub."
    exit 0
fi
echo "$FAILS check(s) FAILED."
exit 1
