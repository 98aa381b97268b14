#!/usr/bin/env bash
# test_install: `cmake --install` into a scratch prefix, then the installed
# Renkei used as someone who never saw the source tree would use it:
#   (1) every user program, the agent library (shared with its soname, and
#       static), its headers, renkei-agent.pc, the man pages, the sample
#       configuration and the systemd units are where GNUInstallDirs says,
#       and no test or benchmark program is;
#   (2) the installed renkei-keygen, renkei-ctl, renkei-hub and renkei-agent
#       carry the move through (test_it_move with RENKEI_BIN_DIR on them),
#       and each answers --version;
#   (3) the installed renkei-hub accepts the sample renkei-hub.conf;
#   (4) a program built with `pkg-config --cflags --libs renkei-agent` alone
#       (shared, then static) compiles with -Werror -pedantic, links and
#       works; the installed headers include nothing but standard headers
#       and each other.
#
# usage: install_check.sh BUILD_DIR LIBDIR TEST_IT_MOVE CLIENT_SOURCE CC [CFLAGS...]
set -euo pipefail

build="$1" libdir="$2" move_test="$3" client_src="$4" cc="$5"
shift 5
extra_cflags=("$@")

fail() {
    printf 'test_install: %s\n' "$*" >&2
    exit 1
}

scratch="$(mktemp -d "${TMPDIR:-/tmp}/renkei-install-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
root="$scratch/root"

# ---- (1) what is installed, and where
cmake --install "$build" --prefix "$root" >"$scratch/install.log" 2>&1 ||
    { cat "$scratch/install.log" >&2; fail "cmake --install $build --prefix ... failed"; }

for prog in renkei-hub renkei-ctl renkei-agent renkei-keygen renkei-audit renkei-witness; do
    [[ -x "$root/bin/$prog" ]] || fail "bin/$prog is not installed"
    out="$("$root/bin/$prog" --version)" || fail "installed $prog --version exited $?"
    [[ "$out" =~ ^$prog\ [0-9]+\.[0-9]+\.[0-9]+\ \(Renkei\ protocol\ [0-9]+\)$ ]] ||
        fail "installed $prog --version printed '$out'"
done
for prog in renkei-bench renkei-hub-faults it_load test_it_move; do
    [[ ! -e "$root/bin/$prog" ]] || fail "bin/$prog is installed: it is a test or benchmark program"
done

lib="$root/$libdir"
[[ -L "$lib/librenkei-agent.so" && -L "$lib/librenkei-agent.so.0" ]] ||
    fail "$libdir/librenkei-agent.so and .so.0 are not symlinks"
real="$(readlink "$lib/librenkei-agent.so.0")"
[[ "$real" =~ ^librenkei-agent\.so\.0\.[0-9]+\.[0-9]+$ && -f "$lib/$real" ]] ||
    fail "librenkei-agent.so.0 points to '$real', not librenkei-agent.so.0.MINOR.PATCH"
soname="$(readelf -d "$lib/$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[[ "$soname" == librenkei-agent.so.0 ]] || fail "the library's soname is '$soname', not librenkei-agent.so.0"
[[ -f "$lib/librenkei-agent.a" ]] || fail "$libdir/librenkei-agent.a is not installed"
[[ -f "$lib/pkgconfig/renkei-agent.pc" ]] || fail "$libdir/pkgconfig/renkei-agent.pc is not installed"

for h in agent.h protocol.h version.h; do
    [[ -f "$root/include/renkei/$h" ]] || fail "include/renkei/$h is not installed"
done
bad="$(grep -h '^[[:space:]]*#[[:space:]]*include' "$root"/include/renkei/*.h |
    grep -v -E '#[[:space:]]*include <(stdbool|stddef|stdint)\.h>|#[[:space:]]*include <renkei/[a-z]+\.h>' || true)"
[[ -z "$bad" ]] || fail "an installed header includes a header that is not installed: $bad"

for page in man8/renkei-hub.8 man1/renkei-ctl.1 man1/renkei-agent.1 man1/renkei-keygen.1 man1/renkei-audit.1 man8/renkei-witness.8; do
    [[ -f "$root/share/man/$page.gz" ]] || fail "share/man/$page.gz is not installed"
    zcat "$root/share/man/$page.gz" | grep -q '^\.TH ' || fail "share/man/$page.gz is not a man page"
    zcat "$root/share/man/$page.gz" | grep -q '@VERSION@' && fail "share/man/$page.gz still says @VERSION@"
done
for f in etc/renkei/renkei-hub.conf etc/renkei/renkei-agent.env lib/systemd/system/renkei-hub.service \
    lib/systemd/system/renkei-agent@.service share/doc/renkei/copyright share/doc/renkei/README.md; do
    [[ -f "$root/$f" ]] || fail "$f is not installed"
done

# ---- (2) the move, through the installed programs
RENKEI_BIN_DIR="$root/bin" "$move_test" >"$scratch/move.log" 2>&1 ||
    { cat "$scratch/move.log" >&2; fail "the move through the installed programs failed"; }

# ---- (3) the sample configuration, read by the installed hub
mkdir -m 0700 "$scratch/keys"
"$root/bin/renkei-keygen" -o "$scratch/keys" hub >/dev/null
"$root/bin/renkei-keygen" --master-key "$scratch/keys/master.key" >/dev/null
out="$("$root/bin/renkei-hub" --config "$root/etc/renkei/renkei-hub.conf" --data "$scratch/hub" \
    --key "$scratch/keys/hub.key" --master-key "$scratch/keys/master.key" --check-config 2>&1)" ||
    fail "renkei-hub --config renkei-hub.conf --check-config: $out"
[[ "$out" == *"configuration OK"* ]] || fail "renkei-hub --check-config with the sample did not say 'configuration OK': $out"

# ---- (4) a program of one's own, with pkg-config only
export PKG_CONFIG_PATH="$lib/pkgconfig"
cflags="$(pkg-config --cflags renkei-agent)" || fail "pkg-config --cflags renkei-agent failed"
libs="$(pkg-config --libs renkei-agent)" || fail "pkg-config --libs renkei-agent failed"
static_libs="$(pkg-config --static --libs renkei-agent)" || fail "pkg-config --static --libs renkei-agent failed"
std=(-std=c11 -Wall -Wextra -Werror -pedantic "${extra_cflags[@]}")

# shellcheck disable=SC2086 # pkg-config's output is words
"$cc" "${std[@]}" -o "$scratch/client" "$client_src" $cflags $libs 2>"$scratch/cc.log" ||
    { cat "$scratch/cc.log" >&2; fail "the client does not build against the shared library"; }
readelf -d "$scratch/client" | grep -q 'NEEDED.*\[librenkei-agent\.so\.0\]' ||
    fail "the client built with pkg-config --libs does not use librenkei-agent.so.0"
LD_LIBRARY_PATH="$lib" "$scratch/client" "$scratch/data-shared" || fail "the client (shared) failed"

# Static: librenkei-agent.a, the other libraries as pkg-config --static says.
# shellcheck disable=SC2086
"$cc" "${std[@]}" -o "$scratch/client-static" "$client_src" $cflags \
    ${static_libs/-lrenkei-agent/-Wl,-Bstatic -lrenkei-agent -Wl,-Bdynamic} 2>"$scratch/cc.log" ||
    { cat "$scratch/cc.log" >&2; fail "the client does not build against the static library"; }
if readelf -d "$scratch/client-static" | grep -q 'librenkei-agent'; then
    fail "the static client still needs librenkei-agent.so"
fi
"$scratch/client-static" "$scratch/data-static" || fail "the client (static) failed"

echo "test_install: installed programs, library, headers, pkg-config file, man pages and samples OK"
