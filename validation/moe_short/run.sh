#!/usr/bin/env bash
# On the GPU machine: llama-bench pp at 1-512 tokens and tg32 for the models of short_prompt.py, one
# Vulkan device, flash attention on, 5 repetitions. Writes $OUT/bench.jsonl and $OUT/stderr.log.
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/moe_short/run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; B=${LLAMA_BIN_DIR:?}/llama-bench
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
M=/tmp/moe-short; mkdir -p $M
for i in 0 1 2; do
  F=$(python3 validation/moe_short/short_prompt.py write $M $i | tail -1)
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 16 -r 1 > /dev/null 2>&1   # untimed warm-up: clocks and pipelines
  $B -m "$F" -ngl 99 -fa 1 -p 1,2,4,8,16,32,64,128,512 -n 32 -r 5 -o jsonl >> "$OUT/bench.jsonl" 2>> "$OUT/stderr.log"
  echo "done $(basename $F) rc $?"
  rm -f "$F"
done
