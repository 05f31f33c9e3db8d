#!/usr/bin/env bash
# On the GPU machine: llama-bench pp512 / tg128 at depths 0, 4096, 16384 (flash attention on, 3
# repetitions; UNSEEN_SET=dsv4: depths 0, 16384, 65536) for the models of unseen.py (UNSEEN_SET=hybrid:
# the second run's, dsv4: the third's), one Vulkan device. Writes $OUT/bench.jsonl, stderr.log,
# fingerprint.txt. The next model is written while one is benchmarked.
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/h200_unseen/run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; B=${LLAMA_BIN_DIR:?}/llama-bench
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
M=/tmp/unseen; mkdir -p $M
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; $B --version 2>&1; } > "$OUT/fingerprint.txt" 2>&1
U="python3 validation/h200_unseen/unseen.py"
$U write $M 0 > /dev/null 2>> "$OUT/stderr.log"
N=$(python3 -c "import sys; sys.path.insert(0, 'validation/h200_unseen'); import unseen; print(len(unseen.MODELS))")
for i in $(seq 0 $((N - 1))); do
  F=$M/$($U name $i)
  [ $i -lt $((N - 1)) ] && { $U write $M $((i + 1)) > /dev/null 2>> "$OUT/stderr.log" & }
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 16 -r 1 > /dev/null 2>&1   # untimed warm-up: clocks and pipelines
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 128 -d $($U depths) -r 3 -o jsonl >> "$OUT/bench.jsonl" 2>> "$OUT/stderr.log"
  echo "done $(basename $F) rc $?"
  if [ "${UNSEEN_SET:-}" = dsv4 ]; then  # the KV caches llama.cpp projects for this file on this device
    for C in 65536 1048576; do
      ${LLAMA_BIN_DIR}/llama-fit-params -m "$F" -ngl 99 -c $C -fa on --fit-print on -v > "$OUT/fit_c$C.log" 2>&1
    done
  fi
  wait
  rm -f "$F"
done
