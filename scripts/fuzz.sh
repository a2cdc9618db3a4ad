#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of outside data with AFL++ and SharpFuzz (the short seeded run is part of
# the test suite: tests/MimoSharp.Tests/Fuzz). Installs afl++ (Debian) and the sharpfuzz instrumenter (NuGet tool)
# if missing, publishes fuzz/MimoSharp.Fuzz, instruments MimoSharp.dll and MimoSharp.Server.dll, then runs afl-fuzz
# on each target for the given time and prints AFL's own figures. Crashes and hangs land in
# .cache/fuzz/TARGET/default/{crashes,hangs}; replay them with
#   dotnet .cache/fuzz/bin-plain/mimo-fuzz.dll replay TARGET .cache/fuzz/TARGET/default/crashes
# and keep each as a regression in fuzz/regressions/TARGET/ once fixed.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]        (default: 300 s each; all targets: mimo-fuzz list)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=300
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
out="$root/.cache/fuzz"
bin="$out/bin"
tools="$root/.cache/tools"
mkdir -p "$out" "$tools"

command -v afl-fuzz >/dev/null || { echo "fuzz.sh: installing afl++" >&2; apt-get install -y afl++ >/dev/null; }
[[ -x "$tools/sharpfuzz" ]] || dotnet tool install SharpFuzz.CommandLine --tool-path "$tools" >/dev/null

rm -rf "$bin" "$bin-plain"
dotnet publish "$root/fuzz/MimoSharp.Fuzz" -c Release -o "$bin-plain" -v quiet -nologo >/dev/null
cp -r "$bin-plain" "$bin"
# Instrument the assemblies whose branches AFL should see (the readers live in these two). Instrumented code only
# runs under afl-fuzz, so the seeds and replays use the plain copy.
for dll in MimoSharp.dll MimoSharp.Server.dll; do "$tools/sharpfuzz" "$bin/$dll" >/dev/null; done

if [[ ${#targets[@]} -eq 0 ]]; then
  list="$(dotnet "$bin-plain/mimo-fuzz.dll" list)"   # fails the script if the fuzzer cannot start
  mapfile -t targets <<< "$list"
fi
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
printf '| target | seconds | executions | exec/s | corpus | bitmap coverage | crashes | hangs |\n|---|---|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
  rm -rf "$out/$t"
  dotnet "$bin-plain/mimo-fuzz.dll" seeds "$t" "$out/$t/seeds" >/dev/null
  # -t: a .NET input that takes seconds is a hang; -m none: the runtime reserves far more address space than it uses.
  afl-fuzz -i "$out/$t/seeds" -o "$out/$t" -V "$seconds" -t 5000 -m none -- dotnet "$bin/mimo-fuzz.dll" afl "$t" > "$out/$t/afl.log" 2>&1 || {
    echo "fuzz.sh: afl-fuzz failed on $t; see $out/$t/afl.log" >&2; tail -20 "$out/$t/afl.log" >&2; exit 1; }
  stats="$out/$t/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(get run_time)" "$(get execs_done)" "$(get execs_per_sec)" \
    "$(get corpus_count)" "$(get bitmap_cvg)" "$(get saved_crashes)" "$(get saved_hangs)"
done
