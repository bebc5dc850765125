#!/usr/bin/env bash
# Builds and runs the bus record fuzzer (bus_record_fuzz.cpp) with clang-14,
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer. The shmbus
# libraries are built with the same flags in their own build directory;
# CAF (built by g++, Debian's) links as it is.
#
#   tests/fuzz/bus_record_fuzz.sh build          build only
#   tests/fuzz/bus_record_fuzz.sh run [SECONDS]  fuzz for SECONDS (default 60)
#                                                on a copy of the seed corpus
#   tests/fuzz/bus_record_fuzz.sh runs N         fuzz for N executions
#   tests/fuzz/bus_record_fuzz.sh seeds          rewrite the seed corpus
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${FUZZ_BUILD_DIR:-build-fuzz-bus}
seeds=tests/fuzz/corpus/bus_record
flags="-O1 -g1 -fno-omit-frame-pointer"

build() {
  CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="$flags" \
    -DSHMBUS_SANITIZE="address,undefined,fuzzer-no-link" >/dev/null
  cmake --build "$build" -j2 --target shmbus_bus
  clang++-14 -std=c++17 $flags -fsanitize=fuzzer,address,undefined \
    -Ibus/include -Itransport/include \
    tests/fuzz/bus_record_fuzz.cpp \
    "$build/bus/libshmbus_bus.a" "$build/transport/libshmbus_transport.a" \
    -lcaf_io -lcaf_core -lpthread -o "$build/bus_record_fuzz"
}

fuzz() {
  local corpus="$build/corpus-bus-record"
  mkdir -p "$corpus"
  cp -n "$seeds"/* "$corpus"/
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/.ci/ubsan.supp" \
    "$build/bus_record_fuzz" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 "$@" "$corpus"
}

case "${1:-run}" in
  build) build ;;
  run) build; fuzz -max_total_time="${2:-60}" ;;
  runs) build; fuzz -runs="${2:?number of executions}" ;;
  seeds)
    build
    rm -rf "$seeds"; mkdir -p "$seeds"
    SHMBUS_FUZZ_WRITE_SEEDS="$PWD/$seeds" "$build/bus_record_fuzz" ;;
  *) echo "usage: $0 build | run [SECONDS] | runs N | seeds" >&2; exit 2 ;;
esac
