#!/usr/bin/env bash
# Which CPU- and vendor-specific kernels the deterministic mode (train.deterministic) actually runs:
# `abcrnn train`, `evaluate` and `sample` of each model kind on a small made-up corpus, each under
# `perf record`, and the share of profile samples per kernel family. In the mode the families that
# differ by CPU must be absent: MKL's vector math (mkl_vml_kernel_*: torch.tanh/exp/log ..., and
# nn.LSTM/RNN/GRU without oneDNN), MKL's per-vendor matrix products (mkl_blas_*zen*, *_avx512_*),
# oneDNN (dnnl::impl::cpu, jit_, brgemm, its JIT code as [unknown]/anon) and torch's kernels of other instruction-set levels
# (AVX512::, DEFAULT::); present are MKL's reproducible branch (mkl_blas_cnr_*, the COMPATIBLE code
# path) and torch's AVX2:: kernels.
#
#   scripts/det-audit.sh [MODE] [MODELS] [EPOCHS]    # MODE det (default) or fast; MODELS lstm,rnn,gru,transformer
#
# Needs perf (linux-perf) and permission to profile (kernel.perf_event_paranoid <= 2 for own processes).
# Sampling at 4 kHz can miss a kernel that runs for less than a millisecond in all; the README's
# "Deterministic mode" gives the audit of this checkout. fast mode shows what the audit catches.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-det}
MODELS=${2:-lstm,rnn,gru,transformer}
EPOCHS=${3:-2}
[ -x "$ROOT/.venv/bin/python" ] && export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ROOT/src:$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"
command -v perf >/dev/null || { echo "det-audit: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
case $MODE in det) FLAG=--deterministic ;; fast) FLAG=--no-deterministic ;; *) echo "det-audit: MODE is det or fast" >&2; exit 2 ;; esac

WORK=$(mktemp -d /tmp/det-audit.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
python - "$WORK/data" <<'EOF'
import sys
from pathlib import Path
from conftest import write_tiny_data
from abcrnn.notation.tunes import join_tagged
write_tiny_data(Path(sys.argv[1]), tunes=48)
headers = ["X:1\nT:Short\nM:6/8\nL:1/8\nK:G\n", "X:2\nT:A longer title\nR:jig\nM:6/8\nL:1/8\nK:D\n"]
(Path(sys.argv[1]) / "test.txt").write_text(join_tagged([h + "GAB c2d|e2f g2e|" for h in headers]))
EOF
D=$WORK/data
FAMILIES=(
  "mkl_vml_kernel"                              # MKL vector math: differs by CPU vendor and ISA
  "mkl_blas_.*(zen|avx512|avx2_|_avx_|mc3_)"    # MKL matrix products of a CPU-specific path
  "dnnl::impl::cpu|jit_|brgemm|ideep|\\[unknown\\]|//anon"  # oneDNN (its JIT code: unknown/anon); not its graph set-up at load
  "AVX512::|DEFAULT::|Sleef_.*(avx512|sse)"     # torch kernels of another instruction-set level
  "mkl_blas_cnr|LM_LOOP"                        # MKL's COMPATIBLE branch (expected in det mode)
  "AVX2::"                                      # torch's AVX2 kernels (expected)
)

audit() {  # audit NAME COMMAND...
  local name=$1; shift
  perf record -q -F 4000 -g -o "$WORK/perf.data" -- "$@" >"$WORK/out.log" 2>&1 || { cat "$WORK/out.log" >&2; exit 1; }
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | awk '{pct=$1; $1=""; print pct "\t" $0}' \
    | { grep -vE '\] (std::|ideep::utils::lru_cache)' || true; } > "$WORK/report.txt"  # containers: set-up at load
  printf '%-22s' "$name"
  for fam in "${FAMILIES[@]}"; do
    local n; n=$({ grep -E "$fam" "$WORK/report.txt" || true; } | awk -F'\t' '{s+=$1} END {printf "%.2f%%", s}')
    printf ' %9s' "$n"
  done
  echo
  for fam in "${FAMILIES[@]:0:4}"; do  # name what a forbidden family ran
    { grep -E "$fam" "$WORK/report.txt" || true; } | head -3 | cut -f2 | sed 's/^ */    ! /' | cut -c1-110
  done
}

echo "det-audit: mode $MODE, torch $(python -c 'import torch; print(torch.__version__)'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-22s %9s %9s %9s %9s %9s %9s\n' "stage" "vml" "mkl-cpu" "onednn" "other-isa" "mkl-cnr" "aten-avx2"
IFS=, read -ra KINDS <<<"$MODELS"
for m in "${KINDS[@]}"; do
  extra=(); [ "$m" = transformer ] && extra=(--context 64 --heads 2 --lr 0.003)
  run=$WORK/$m
  audit "$m train" python -m abcrnn train --train "$D/train.pt" --val "$D/val.pt" --vocab "$D/vocab.json" \
    --out-dir "$run" --model "$m" --hidden 128 --chunk 50 --batch-size 8 --epochs "$EPOCHS" --patience 0 \
    --threads 1 --device cpu "$FLAG" "${extra[@]}"
  audit "$m evaluate" python -m abcrnn evaluate --checkpoint "$run/best.pt" --data "$D/test.pt" \
    --vocab "$D/vocab.json" --out "$run/test.tsv" --threads 1 --device cpu
  audit "$m sample" python -m abcrnn sample --checkpoint "$run/best.pt" --prime test-header --test "$D/test.txt" \
    --num 16 --max-chars 600 --temperature 1.0 --threads 1 --device cpu --out-dir "$run/samples"
done
