#!/usr/bin/env bash
# The CUDA path (`train.device: cuda`), checked on a machine with an NVIDIA GPU. Run it from a checkout
# with its venv (`make setup`, then a CUDA build of torch in .venv: the pinned torch is the CPU wheel):
#
#   scripts/gpu-check.sh             # about 10 minutes: the tiny config on cuda, then best.yaml for 2 epochs
#
# 1. config/tiny.yaml with `--config train='{device: cuda}'`: training, evaluation and sampling on the
#    GPU (the whole pipeline when abc2midi, abcm2ps and fluidsynth are installed);
# 2. config/best.yaml (LSTM-512 over ABC tokens) for 2 epochs / 3 minutes on cuda, up to test_loss.tsv.
# Both run in a scratch folder (GPU_CHECK_DIR, default a new folder under /tmp), never in results/. It
# prints nvidia-smi, each test_loss.tsv's rows with their training speed (chars/s) beside the CPU
# numbers of the README, and writes the same into the results file it names at the end
# (GPU_CHECK_OUT, default results/gpu-check/gpu-check-DATE.txt). It stops with one line, before any
# job, when there is no CUDA device. Put the result into the README's "Clusters (Slurm) and GPUs".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NVIDIA_SMI=${ABCRNN_GPU_CHECK_NVIDIA_SMI:-nvidia-smi}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${GPU_CHECK_OUT:-$ROOT/results/gpu-check/gpu-check-$STAMP.txt}
EPOCHS=${GPU_CHECK_EPOCHS:-2}
MINUTES=${GPU_CHECK_MINUTES:-3}

die() { echo "gpu-check: $*" >&2; exit 1; }

if [ -x "$ROOT/.venv/bin/python" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi
command -v python >/dev/null || die "no python on PATH and no $ROOT/.venv (run make setup first)"
command -v snakemake >/dev/null || die "no snakemake on PATH (run make setup first)"

# --- a CUDA device, or one line saying why not ---------------------------------------------------
command -v "$NVIDIA_SMI" >/dev/null 2>&1 \
  || die "no CUDA device: $NVIDIA_SMI not found (no NVIDIA driver on this machine); run this on a GPU machine"
"$NVIDIA_SMI" -L >/dev/null 2>&1 || die "no CUDA device: $NVIDIA_SMI -L lists no GPU"
PYTHONPATH="$ROOT/src" python - <<'EOF' || exit 1
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"gpu-check: no CUDA device for torch {torch.__version__} (built for CUDA: {torch.version.cuda}); "
             "the pinned torch is the CPU wheel: install a CUDA build of the same version into .venv")
EOF

mkdir -p "$(dirname "$OUT")"
: >"$OUT"
say() { echo "$*" | tee -a "$OUT"; }
SCRATCH=${GPU_CHECK_DIR:-$(mktemp -d /tmp/abcrnn-gpu-check.XXXXXX)}

say "# abcrnn gpu-check $STAMP on $(hostname) (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
say "## nvidia-smi"
"$NVIDIA_SMI" | tee -a "$OUT"
say "$(PYTHONPATH="$ROOT/src" python -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")')"

# run NAME TARGET CONFIG OVERRIDES: snakemake in SCRATCH/NAME (its own config.yaml, the tiny corpus copied in)
run() {
  local name=$1 target=$2 configfile=$3 overrides=$4 dir=$SCRATCH/$1 start
  mkdir -p "$dir/tests/data"
  cp "$ROOT/config.yaml" "$dir/config.yaml"
  cp -r "$ROOT/tests/data/tiny" "$dir/tests/data/"
  start=$(date +%s)
  say "## $name: snakemake $target --configfile $configfile --config train='$overrides' (in $dir)"
  if ! snakemake -s "$ROOT/Snakefile" -d "$dir" --cores "$(nproc)" $target \
      --configfile "$ROOT/$configfile" --config "train=$overrides" >"$dir/snakemake.log" 2>&1; then
    tail -n 30 "$dir/snakemake.log" >&2
    die "$name: snakemake failed (whole log: $dir/snakemake.log)"
  fi
  say "$name: finished in $(( $(date +%s) - start )) s"
  PYTHONPATH="$ROOT/src" python - "$dir/results/tables/test_loss.tsv" <<'EOF' | tee -a "$OUT"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline=""), delimiter="\t"))
columns = ["run", "unit", "params", "epochs_trained", "best_epoch", "val_loss_char", "test_loss_char",
           "train_seconds", "chars_per_s"]
print("\t".join(columns))
for r in rows:
    print("\t".join(r.get(c, "") for c in columns))
for r in rows:
    speed = f"{float(r['chars_per_s']):,.0f}" if r.get("chars_per_s") else "unknown"
    print(f"{r['run']}: {speed} chars/s training on cuda")
EOF
  for log in "$dir"/results/logs/train/*.log; do  # each run's first line names its device: "..., cuda, 2 threads"
    head -n 1 "$log" | tee -a "$OUT"
  done
}

# The stages that run a model (training, evaluation, sampling); everything when the renderers are there.
tiny_targets="results/tables/test_loss.tsv results/samples/1.0/samples.tsv results/samples/argmax/samples.tsv"
if command -v abc2midi >/dev/null && command -v abcm2ps >/dev/null && command -v fluidsynth >/dev/null; then
  tiny_targets=""
fi
run tiny "$tiny_targets" config/tiny.yaml "{device: cuda}"
run best results/tables/test_loss.tsv config/best.yaml "{epochs: $EPOCHS, time_limit_min: $MINUTES, device: cuda}"

say "## on the CPU, for comparison (README; AMD EPYC, AVX2, 2 cores)"
say "best.yaml (lstm-h512-l1-c200-lr0.004-b32-d0.5-token): 1.139 nats/char after 16 epochs, 22 min of training;"
say "LSTMs trained at 25-50k chars/s in the README's grid runs; LSTM-150 batched (make bench): 96-137k chars/s"
say "results: $OUT (scratch runs in $SCRATCH)"
