#!/usr/bin/env bash
# Builds the airisk C library and installs it like any C library (`make install` style):
#
#   PREFIX/include/airisk.h, airisk.hpp         the C header and the C++17 wrapper
#   PREFIX/lib/libairisk.so.0.1.0               the shared library, SONAME libairisk.so.0
#   PREFIX/lib/libairisk.so.0, libairisk.so     symlinks
#   PREFIX/lib/libairisk.a                      the static library
#   PREFIX/lib/pkgconfig/airisk.pc              for pkg-config, with this PREFIX
#
# Usage: scripts/install.sh [--prefix DIR] [--libdir DIR] [--destdir DIR] [--no-shared]
#                           [--no-static] [--no-build | --build-only]
#   --prefix DIR   where the files will live (default /usr/local; also $PREFIX)
#   --libdir DIR   libraries and pkgconfig/ (default PREFIX/lib)
#   --destdir DIR  stage the files under DIR instead of / (also $DESTDIR); the .pc still
#                  says PREFIX, as for a package build
#   --no-shared    install only the static library (then `pkg-config --static` links it)
#   --no-static    install only the shared library
#   --no-build     install what the last run built (target/install/release)
#   --build-only   build, install nothing (then `sudo scripts/install.sh --no-build`, so
#                  that cargo does not run as root)
#
# The libraries are built with `cargo rustc --release` into target/install (so they do not
# disturb target/release); the release profile ships them without debug info. Run
# `ldconfig` after installing into a system directory such as /usr/local/lib, or link with
# -Wl,-rpath,"$(pkg-config --variable=libdir airisk)" to run without LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
libdir=
destdir=${DESTDIR:-}
shared=1
static=1
build=1
install=1
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --libdir) libdir=${2:?--libdir needs a directory}; shift 2 ;;
    --libdir=*) libdir=${1#*=}; shift ;;
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --no-shared) shared=0; shift ;;
    --no-static) static=0; shift ;;
    --no-build) build=0; shift ;;
    --build-only) install=0; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $prefix in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path, not $prefix" >&2; exit 2 ;;
esac
libdir=${libdir:-$prefix/lib}
if [ "$shared" = 0 ] && [ "$static" = 0 ]; then
  echo "install.sh: --no-shared and --no-static leave nothing to install" >&2
  exit 2
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
major=${version%%.*}
soname=libairisk.so.$major
target_dir=target/install
out=$target_dir/release

if [ "$build" = 1 ]; then
  # One rustc run for both library kinds: the SONAME goes to the shared library's link,
  # and rustc prints the system libraries a program linking the archive needs.
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! cargo rustc --release --lib --target-dir "$target_dir" \
      --crate-type cdylib --crate-type staticlib -- \
      -C "link-arg=-Wl,-soname,$soname" --print native-static-libs >"$log" 2>&1; then
    cat "$log" >&2
    echo "install.sh: the build failed" >&2
    exit 1
  fi
  native=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -1)
  if [ -n "$native" ]; then
    printf '%s\n' "$native" >"$out/airisk-native-static-libs"
  fi
fi
if [ "$install" = 0 ]; then
  [ "$build" = 1 ] || { echo "install.sh: --build-only and --no-build leave nothing to do" >&2; exit 2; }
  echo "built $out/libairisk.so and $out/libairisk.a; install with: scripts/install.sh --no-build"
  exit 0
fi
for f in libairisk.so libairisk.a; do
  [ -f "$out/$f" ] || { echo "install.sh: $out/$f is missing (run without --no-build)" >&2; exit 1; }
done
# What a program linking libairisk.a needs besides it (measured by rustc; glibc default).
# (airisk.pc.in carries the list measured on Linux with glibc.)
libs_private=$(cat "$out/airisk-native-static-libs" 2>/dev/null ||
  sed -n 's/^Libs.private: *//p' airisk.pc.in)

inc=$destdir$prefix/include
lib=$destdir$libdir
install -d "$inc" "$lib" "$lib/pkgconfig"
install -m 644 include/airisk.h include/airisk.hpp "$inc/"
if [ "$shared" = 1 ]; then
  install -m 755 "$out/libairisk.so" "$lib/libairisk.so.$version"
  ln -sfn "libairisk.so.$version" "$lib/$soname"
  ln -sfn "$soname" "$lib/libairisk.so"
fi
if [ "$static" = 1 ]; then
  install -m 644 "$out/libairisk.a" "$lib/libairisk.a"
  # The archive carries the standard library's debug info and LLVM bitcode (for Rust's own
  # LTO); a C program linking it needs neither (the release profile strips the shared
  # library's debug info the same way).
  strip --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd "$lib/libairisk.a"
fi
# libdir stays relative to the prefix unless --libdir moved it.
pc_libdir='${exec_prefix}/lib'
[ "$libdir" = "$prefix/lib" ] || pc_libdir=$libdir
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" -e "s|^libdir=.*|libdir=$pc_libdir|" \
    -e "s|^Libs.private:.*|Libs.private: $libs_private|" \
    -e '/^# /d' airisk.pc.in >"$lib/pkgconfig/airisk.pc"
chmod 644 "$lib/pkgconfig/airisk.pc"

echo "installed airisk $version into $destdir$prefix:"
(cd "$destdir$prefix" && find include/airisk.h include/airisk.hpp "${libdir#"$prefix"/}" \
   -maxdepth 2 \( -name 'libairisk*' -o -name airisk.pc -o -name 'airisk.h*' \) -print 2>/dev/null | sed 's/^/  /') ||
  true
[ "${libdir#"$prefix"/}" != "$libdir" ] || echo "  (libraries in $destdir$libdir)"
