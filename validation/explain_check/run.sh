#!/usr/bin/env bash
# On the GPU machine: for each model of check.py, llama-bench -p 512 -n 0 at each depth with
# GGML_VK_PERF_LOGGER=1 (llama.cpp's per-op GPU times on stderr), one repetition after an untimed
# warm-up; each run's stderr to $OUT/<file>.d<depth>.log (its last timings block is the prompt).
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/explain_check/run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; B=${LLAMA_BIN_DIR:?}/llama-bench
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
M=/tmp/explain; mkdir -p $M
C="python3 validation/explain_check/check.py"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; $B --version 2>&1; } > "$OUT/fingerprint.txt" 2>&1
N=$($C n)
$C write $M 0 > /dev/null 2>> "$OUT/stderr.log"
for i in $(seq 0 $((N - 1))); do
  F=$M/$($C name $i)
  [ $i -lt $((N - 1)) ] && { $C write $M $((i + 1)) > /dev/null 2>> "$OUT/stderr.log" & }
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -r 1 > /dev/null 2>&1   # untimed warm-up: clocks and pipelines
  for D in $($C depths); do
    GGML_VK_PERF_LOGGER=1 $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -d $D -r 1 -o jsonl \
      > "$OUT/$(basename $F).d$D.jsonl" 2> "$OUT/$(basename $F).d$D.full"
    # keep the last timings block (the timed prompt) and the run's tail, not every depth-fill ubatch's
    awk '/Vulkan Timings:/{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$OUT/$(basename $F).d$D.full" \
      | sed -n '/Vulkan Timings:/,$p' > "$OUT/$(basename $F).d$D.log"
    grep -c "Vulkan Timings:" "$OUT/$(basename $F).d$D.full" >> "$OUT/blocks.txt"
    rm -f "$OUT/$(basename $F).d$D.full"
    echo "done $(basename $F) d$D"
  done
  wait
  rm -f "$F"
done
