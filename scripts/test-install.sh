#!/usr/bin/env bash
# Installs the C library into temporary prefixes with scripts/install.sh and uses it the
# way a C user would: examples/c/monitor.c built with `pkg-config --cflags --libs airisk`
# (shared; runs without LD_LIBRARY_PATH thanks to an rpath, and under valgrind) and with
# `pkg-config --static` against a static-only install. Checks the SONAME, the symlinks,
# that the shipped libraries carry no debug info, and that nothing is written outside the
# staging directory. Run by .ci/run; needs cc, pkg-config, readelf and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

echo "-- install into a prefix (shared and static)"
prefix=$work/prefix
scripts/install.sh --prefix "$prefix"
for f in include/airisk.h include/airisk.hpp lib/libairisk.a lib/pkgconfig/airisk.pc \
         "lib/libairisk.so.$version"; do
  [ -f "$prefix/$f" ] || fail "$prefix/$f was not installed"
done
[ "$(readlink "$prefix/lib/libairisk.so")" = libairisk.so.0 ] || fail "libairisk.so -> libairisk.so.0"
[ "$(readlink "$prefix/lib/libairisk.so.0")" = "libairisk.so.$version" ] ||
  fail "libairisk.so.0 -> libairisk.so.$version"
soname=$(readelf -d "$prefix/lib/libairisk.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libairisk.so.0 ] || fail "SONAME is '$soname', not libairisk.so.0"
if readelf -S "$prefix/lib/libairisk.so.$version" | grep -q '\.debug_info'; then
  fail "libairisk.so ships with debug info"
fi
if readelf -S "$prefix/lib/libairisk.a" 2>/dev/null | grep -q '\.debug_info'; then
  fail "libairisk.a ships with debug info"
fi
printf '  %-28s %10s bytes\n' "libairisk.so.$version" "$(stat -c %s "$prefix/lib/libairisk.so.$version")" \
  libairisk.a "$(stat -c %s "$prefix/lib/libairisk.a")"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion airisk)" = "$version" ] || fail "pkg-config --modversion"
[ "$(pkg-config --variable=prefix airisk)" = "$prefix" ] || fail "the .pc names another prefix"

echo "-- shared: cc monitor.c \$(pkg-config --cflags --libs airisk) -Wl,-rpath,LIBDIR"
libdir=$(pkg-config --variable=libdir airisk)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -pedantic examples/c/monitor.c \
   $(pkg-config --cflags --libs airisk) -Wl,-rpath,"$libdir" -o "$work/monitor-shared"
readelf -d "$work/monitor-shared" | grep -q 'NEEDED.*\[libairisk.so.0\]' ||
  fail "the program does not need libairisk.so.0"
env -u LD_LIBRARY_PATH "$work/monitor-shared" >"$work/shared.out"
grep -q 'triage-bot' "$work/shared.out" || fail "monitor printed no transition of triage-bot"
# Nothing the library allocated outlives the last airisk_engine_free but the emptied slot of
# the shared default policy ("still reachable"): definite and possible leaks fail this run.
env -u LD_LIBRARY_PATH valgrind -q --leak-check=full \
  --error-exitcode=1 "$work/monitor-shared" >"$work/valgrind.out"
cmp -s "$work/shared.out" "$work/valgrind.out" || fail "the run under valgrind printed something else"

echo "-- static: cc monitor.c \$(pkg-config --static --cflags --libs airisk), static-only install"
sprefix=$work/static
scripts/install.sh --prefix "$sprefix" --no-shared --no-build
[ ! -e "$sprefix/lib/libairisk.so" ] || fail "--no-shared installed libairisk.so"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -pedantic examples/c/monitor.c \
   $(PKG_CONFIG_PATH=$sprefix/lib/pkgconfig pkg-config --static --cflags --libs airisk) \
   -o "$work/monitor-static"
if readelf -d "$work/monitor-static" | grep -q 'NEEDED.*libairisk'; then
  fail "the static build needs libairisk.so"
fi
env -u LD_LIBRARY_PATH "$work/monitor-static" >"$work/static.out"
cmp -s "$work/shared.out" "$work/static.out" || fail "static and shared builds printed different things"

echo "-- DESTDIR staging writes only under DESTDIR, and the .pc names the final prefix"
stage=$work/stage
DESTDIR=$stage scripts/install.sh --prefix /opt/airisk-test --no-build
[ ! -e /opt/airisk-test ] || fail "DESTDIR install wrote to /opt/airisk-test"
grep -qx 'prefix=/opt/airisk-test' "$stage/opt/airisk-test/lib/pkgconfig/airisk.pc" ||
  fail "the staged .pc does not name /opt/airisk-test"

echo "test-install: 3 passed, 0 failed"
