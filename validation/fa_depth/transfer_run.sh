#!/usr/bin/env bash
# On the GPU machine, after validation/gpu/build_vulkan.sh: the Qwen3.6 hybrids of validation/h200_unseen
# (35B-A3B at 20 layers, 27B at 25, Q8_0) through llama-bench pp512 at depths 0-64K (flash attention on, 3
# repetitions, after an untimed warm-up), then the depth profile of their two attention shapes
# (transfer_cases.txt: vtt bench ops --profile depth's cases) in the same session.
# Writes $OUT/bench.jsonl, ops.sql, ops.err, fingerprint.txt, stderr.log.
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/fa_depth/transfer_run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; B=${LLAMA_BIN_DIR:?}/llama-bench; T=${LLAMA_BIN_DIR}/test-backend-ops
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
export UNSEEN_SET=hybrid
M=/tmp/transfer; mkdir -p $M
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; $B --version 2>&1; } > "$OUT/fingerprint.txt" 2>&1
U="python3 validation/h200_unseen/unseen.py"
$U write $M 0 > /dev/null 2>> "$OUT/stderr.log"
for i in 0 1; do
  F=$M/$($U name $i)
  [ $i -lt 1 ] && { $U write $M $((i + 1)) > /dev/null 2>> "$OUT/stderr.log" & }
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -r 1 > /dev/null 2>&1   # untimed warm-up: clocks and pipelines
  t0=$(date +%s)
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -d 0,4096,8192,16384,32768,65536 -r 3 -o jsonl >> "$OUT/bench.jsonl" 2>> "$OUT/stderr.log"
  echo "done $(basename $F) rc $? in $(( $(date +%s) - t0 )) s"
  wait
  rm -f "$F"
done
t0=$(date +%s)
$T perf -b Vulkan0 --test-file validation/fa_depth/transfer_cases.txt --output sql > "$OUT/ops.sql" 2> "$OUT/ops.err"
echo "ops: $(( $(date +%s) - t0 )) s, $(grep -c INSERT "$OUT/ops.sql") rows"
