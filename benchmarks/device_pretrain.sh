#!/usr/bin/env bash
# Pretraining at GPU budget (issue 10): the shipped recipe with 3x the steps and 4x the batch on
# one CUDA device, held-out quality logged every 10,000 steps and written into the manifest.
# For a lent GPU machine (the device tool runs it in the repository root and returns $OUT); never
# needed for CI. The machine's python3 holds PyTorch; this repository is used from the checkout.
#
#   bash benchmarks/device_pretrain.sh            # -> $OUT/wts.h5.zip, $OUT/log.txt
#
# Budget: about 8 minutes on an H100 (measure with STEPS=2000 first if unsure).
set -euo pipefail
OUT="${OUT:-/tmp/ptychopinn_device_pretrain}"
STEPS="${STEPS:-50000}"
BATCH="${BATCH:-64}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/log.txt"
PYTHONPATH="$PWD" timeout "${TIMEOUT_S:-540}" python3 -m ptycho_torch.pretrain \
    --output_dir "$OUT" --device cuda --threads 8 \
    --steps "$STEPS" --batch_size "$BATCH" --eval_every 10000 2>&1 | tee -a "$OUT/log.txt"
