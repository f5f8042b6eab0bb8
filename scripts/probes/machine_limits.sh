#!/usr/bin/env bash
# The machine's own limits, so every performance table can carry them: DRAM read
# GB/s at 1 and 2 threads and f32 FMA GFLOP/s per core (see machine_limits.c),
# with the CPU model from lscpu.
#
#   scripts/probes/machine_limits.sh            # full run (~10 s on an idle machine)
#   scripts/probes/machine_limits.sh --quick    # smoke test: tiny sizes, figures meaningless
#
# Needs a C compiler (`cc`). The probe is built with -march=native on purpose:
# it must use the widest FMA this CPU has, whatever the project's own build does.
# Run it on an idle machine (check `uptime`), like any timing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${TMPDIR:-/tmp}/smallmind-machine-limits"
cc -O2 -march=native -pthread -o "$out" "$here/machine_limits.c"
args=()
if [[ "${1:-}" == "--quick" ]]; then
    args=(--mib 64 --reps 1 --fma-iters 1000000)
elif [[ $# -gt 0 ]]; then
    args=("$@")
fi
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
limits="$("$out" "${args[@]}")"
printf '{"cpu": "%s", "limits": %s}\n' "$cpu" "$limits"
