#!/usr/bin/env bash
# Training and inference throughput on one CUDA GPU (issue 14), float32 and bfloat16, at the
# original's benchmark settings (N=64, gridsize 1, batch 16, 2,048 groups) and at batch 64.
# For a lent GPU machine (the device tool runs it in the repository root and returns $OUT); never
# needed for CI. The machine's python3 holds PyTorch; TensorFlow is measured when importable.
#
#   bash benchmarks/device_speed.sh               # -> $OUT/speed.txt and one JSON per run
#
# Budget: about 4 minutes on an H100/H200.
set -euo pipefail
OUT="${OUT:-/tmp/ptychopinn_device_speed}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/speed.txt"
for precision in float32 bfloat16; do
    for batch in 16 64; do
        timeout 240 python3 benchmarks/bench_torch.py --accelerator cuda --threads 4 \
            --gridsizes 1,2 --train-groups 2048 --batch-size "$batch" --repeats 2 \
            --infer-patterns 4096 --precision "$precision" \
            --json "$OUT/torch_${precision}_b${batch}.json" 2>&1 | grep -v "^\[" | tee -a "$OUT/speed.txt"
    done
    if python3 -c "import tensorflow" 2>/dev/null; then
        timeout 240 python3 benchmarks/bench_tf.py --threads 4 --gridsizes 1 \
            --train-groups 2048 --repeats 2 --infer-patterns 4096 --precision "$precision" \
            --json "$OUT/tf_${precision}.json" 2>&1 | tee -a "$OUT/speed.txt"
    fi
done
