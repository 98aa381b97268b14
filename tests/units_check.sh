#!/usr/bin/env bash
# The systemd units in systemd/ as systemd itself reads them: every unit
# passes `systemd-analyze verify` with no warning at all (an unknown or
# misspelled setting is only a warning there), its hardening scores at most
# 2.0 in `systemd-analyze security --offline`, and the sysusers.d file is
# accepted by systemd-sysusers.  verify insists that the programs of
# ExecStart= exist: the units are checked as copies naming the programs of
# this build (RENKEI_BIN_DIR) instead of /usr/bin.  Needs no running systemd.
set -euo pipefail

: "${RENKEI_BIN_DIR:?}" "${RENKEI_SOURCE_DIR:?}"
units="$RENKEI_SOURCE_DIR/systemd"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0

for unit in "$units"/*.service; do
    name="$(basename "$unit")"
    # a template is checked as one of its instances
    [[ $name == *@.service ]] && name="${name%@.service}@city.x.service"
    sed "s#/usr/bin/renkei-#$RENKEI_BIN_DIR/renkei-#g" "$unit" >"$tmp/$name"
    if ! out="$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "./$name" 2>&1)" ||
        [[ -n $out ]]; then
        printf 'units_check: %s: systemd-analyze verify:\n%s\n' "$name" "$out" >&2
        fail=1
    fi
    if ! out="$(cd "$tmp" && systemd-analyze security --offline=true --threshold=20 "./$name" 2>&1)"; then
        printf 'units_check: %s: exposure above 2.0:\n%s\n' "$name" "$(grep -E '✗|Overall' <<<"$out")" >&2
        fail=1
    fi
    # what the README promises of each unit
    for want in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
        MemoryDenyWriteExecute=yes SystemCallFilter=@system-service User=renkei; do
        grep -qx "$want" "$unit" || { echo "units_check: $name lacks $want" >&2; fail=1; }
    done
done

hub="$units/renkei-hub.service"
for want in Type=notify 'WatchdogSec=30s' 'StateDirectory=renkei' \
    'LoadCredential=master.key:/etc/renkei/master.key' 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$want" "$hub" || { echo "units_check: renkei-hub.service lacks $want" >&2; fail=1; }
done
grep -qxF 'StateDirectory=renkei-agent/%i' "$units/renkei-agent@.service" ||
    { echo "units_check: renkei-agent@.service lacks StateDirectory=renkei-agent/%i" >&2; fail=1; }

# the renkei user, as systemd-sysusers would create it (into a scratch root)
mkdir -p "$tmp/root/etc"
if ! out="$(systemd-sysusers --root="$tmp/root" "$units/renkei.conf" 2>&1)" ||
    ! grep -q '^renkei:' "$tmp/root/etc/passwd"; then
    printf 'units_check: systemd-sysusers %s:\n%s\n' "$units/renkei.conf" "$out" >&2
    fail=1
fi
exit "$fail"
