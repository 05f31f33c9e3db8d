#!/usr/bin/env bash
# On the GPU machine: tg128 (5 repetitions, flash attention on, one Vulkan device) of the tiny
# architectures of nodes.py at 24 and 48 layers, and each graph's node count from `llama-bench -v`.
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/graph_nodes/run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; B=${LLAMA_BIN_DIR:?}/llama-bench
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
M=/tmp/nodes; mkdir -p $M
python3 validation/graph_nodes/nodes.py write $M > "$OUT/files.txt" 2>> "$OUT/stderr.log"
echo "{" > "$OUT/nodes.json"; first=1
for F in $(cat "$OUT/files.txt"); do
  $B -m "$F" -ngl 99 -fa 1 -p 0 -n 16 -r 1 > /dev/null 2>&1   # untimed warm-up
  $B -m "$F" -ngl 99 -fa 1 -p 0 -n 128 -r 5 -o jsonl >> "$OUT/bench.jsonl" 2>> "$OUT/stderr.log"
  n=$($B -m "$F" -ngl 99 -fa 1 -p 0 -n 1 -r 1 -v 2>&1 | grep -o 'graph: nodes = [0-9]*' | tail -1 | grep -o '[0-9]*$')
  [ $first = 1 ] || echo "," >> "$OUT/nodes.json"; first=0
  echo "\"$(basename $F)\": ${n:-0}" >> "$OUT/nodes.json"
done
echo "}" >> "$OUT/nodes.json"
cat "$OUT/nodes.json" | tr -d '\n'; echo
