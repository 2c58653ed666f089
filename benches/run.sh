#!/usr/bin/env bash
# Run every benchmark and regenerate docs/benchmarks.md.
#   bash benches/run.sh          full run (minutes; what docs/benchmarks.md holds)
#   bash benches/run.sh --short  CI's short mode (smaller data sets), report to .ci/out/
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
out=docs/benchmarks.md
crit_args=()
if [[ ${1:-} == --short ]]; then
  mode=short
  export SWARMMESH_BENCH_SHORT=1
  out=.ci/out/benchmarks.md
  crit_args=(--quick)
fi
mkdir -p .ci/out
python -m pytest benches/python -p no:cacheprovider -q \
  --benchmark-json=.ci/out/bench-python.json --benchmark-columns=median,min,rounds
for b in dedup breaker routing chain ledger envelope; do
  cargo bench --locked --bench "$b" -- "${crit_args[@]}"
done
python benches/report.py --python .ci/out/bench-python.json --criterion target/criterion --mode "$mode" --out "$out"
echo "wrote $out"
