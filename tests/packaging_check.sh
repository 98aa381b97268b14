#!/usr/bin/env bash
# test_packaging: the Debian packages, built as a distribution would, and
# checked by lintian.
#   (1) a build directory of its own (SCRATCH, kept between runs so a rerun
#       only rebuilds what changed), configured with prefix /usr, builds,
#       and CPack makes renkei, librenkei-agent0 and librenkei-agent-dev;
#   (2) each holds what it should (the programs; the shared library under
#       its soname; headers, static library and pkg-config file), and the
#       -dev package depends on the library's exact version;
#   (3) lintian finds no error (E:) in any of them.  Its warnings are
#       printed, not failed on.
#
# usage: packaging_check.sh SOURCE_DIR SCRATCH_DIR
set -euo pipefail

src="$1" scratch="$2"

fail() {
    printf 'test_packaging: %s\n' "$*" >&2
    exit 1
}
for tool in cpack dpkg-deb dpkg-shlibdeps lintian; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: ./run installs what the tests need)"
done

# ---- (1) build and package
mkdir -p "$scratch"
cmake -S "$src" -B "$scratch" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRENKEI_TESTS=OFF \
    >"$scratch/configure.log" 2>&1 || { cat "$scratch/configure.log" >&2; fail "cmake could not configure $scratch"; }
cmake --build "$scratch" -j2 >"$scratch/build.log" 2>&1 || { tail -n 50 "$scratch/build.log" >&2; fail "the build failed"; }
rm -rf "$scratch/packages"
(cd "$scratch" && cpack -G DEB) >"$scratch/cpack.log" 2>&1 || { cat "$scratch/cpack.log" >&2; fail "cpack -G DEB failed"; }

shopt -s nullglob
debs=("$scratch"/packages/*.deb)
[[ ${#debs[@]} -eq 3 ]] || fail "expected 3 packages, got: ${debs[*]##*/}"
deb_of() {
    local d
    for d in "${debs[@]}"; do
        [[ "$(dpkg-deb -f "$d" Package)" == "$1" ]] && { echo "$d"; return 0; }
    done
    fail "no package $1 among: ${debs[*]##*/}"
}
main="$(deb_of renkei)" lib="$(deb_of librenkei-agent0)" dev="$(deb_of librenkei-agent-dev)"

# ---- (2) contents and dependencies
# (Listings are read whole first: grep -q leaving a pipe early would kill dpkg-deb.)
has() { grep -qx "./$2" <<<"$(dpkg-deb -c "$1" | awk '{print $6}')" || fail "${1##*/} lacks /$2"; }
for prog in renkei-hub renkei-ctl renkei-agent renkei-keygen renkei-audit; do
    has "$main" "usr/bin/$prog"
done
has "$main" usr/share/man/man8/renkei-hub.8.gz
has "$main" etc/renkei/renkei-hub.conf
has "$main" lib/systemd/system/renkei-hub.service
has "$main" lib/systemd/system/renkei-agent@.service
version="$(dpkg-deb -f "$lib" Version)"
lib_files="$(dpkg-deb -c "$lib")" dev_files="$(dpkg-deb -c "$dev")"
grep -q 'usr/lib/[^ ]*/librenkei-agent\.so\.0 -> librenkei-agent\.so\.0\.' <<<"$lib_files" ||
    fail "librenkei-agent0 lacks the librenkei-agent.so.0 symlink"
for f in usr/include/renkei/agent.h usr/include/renkei/protocol.h; do has "$dev" "$f"; done
grep -q 'librenkei-agent\.a$' <<<"$dev_files" || fail "librenkei-agent-dev lacks librenkei-agent.a"
grep -q 'pkgconfig/renkei-agent\.pc$' <<<"$dev_files" || fail "librenkei-agent-dev lacks renkei-agent.pc"
dpkg-deb -f "$dev" Depends | grep -qF "librenkei-agent0 (= $version)" ||
    fail "librenkei-agent-dev does not depend on librenkei-agent0 (= $version): $(dpkg-deb -f "$dev" Depends)"
dpkg-deb -f "$main" Depends | grep -q 'libzmq5' || fail "renkei's dependencies were not computed: $(dpkg-deb -f "$main" Depends)"

# ---- (3) lintian
status=0
lintian --fail-on error --tag-display-limit 0 "${debs[@]}" >"$scratch/lintian.log" 2>&1 || status=$?
grep -E '^[EW]: ' "$scratch/lintian.log" || true
if grep -q '^E: ' "$scratch/lintian.log"; then
    fail "lintian reports errors (above; the whole output is in $scratch/lintian.log)"
fi
if [[ $status -ne 0 ]]; then
    cat "$scratch/lintian.log" >&2
    fail "lintian exited $status"
fi
echo "test_packaging: ${debs[*]##*/}: no lintian error"
