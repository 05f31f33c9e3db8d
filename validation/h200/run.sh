#!/usr/bin/env bash
# On the lent H200 (vtt has never measured one): the quick calibration, then the GPU matrix.
#   1. operators (vtt bench ops --profile quick on Vulkan0) while the three quick models are written;
#   2. the quick llama-bench rows (vtt.calibrate.quick.QUICK_RUNS), each model warmed first;
#   3. the quick fit around validation/h200/prior_from_h100.yaml -> $OUT/calibration_quick.yaml and
#      $OUT/predictions_quick.jsonl (the rest of the matrix), written BEFORE step 4 starts;
#   4. the rest of validation/gpu's matrix (pp512/tg128, FA depths 0/4K/16K/32K, no-FA 0/4K), the
#      next model written in the background while one is benchmarked.
# Needs a Vulkan build of the pinned llama.cpp with test-backend-ops in $LLAMA_BIN_DIR (made by
# validation/gpu/build_vulkan.sh) and vtt's Python deps on PYTHONPATH (the same script installs them).
# Writes 8 files under $OUT; stops starting llama-bench runs after $LIMIT s (default 420).
# MATRIX="5" (matrix.MODELS indices) runs only those models' matrix rows after the quick fit.
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; LIMIT=${LIMIT:-420}
export LLAMA_BIN_DIR=${LLAMA_BIN_DIR:-/tmp/build-vk/bin}
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
export VTT_H200_DB=/tmp/h200.duckdb XDG_DATA_HOME=/tmp/h200-xdg
B=$LLAMA_BIN_DIR/llama-bench; D="python3 validation/h200/device.py"; M=/tmp/h200-models
log() { echo "[$(el)s] $*" | tee -a "$OUT/timeline.txt"; }
[ -x "$B" ] && [ -x "$LLAMA_BIN_DIR/test-backend-ops" ] || { echo "no llama-bench/test-backend-ops in $LLAMA_BIN_DIR"; exit 3; }
rm -rf $M "$VTT_H200_DB"; mkdir -p $M
name() { $D name $1; }
{
  echo "## date"; date -u +%FT%TZ; echo "## uname"; uname -a; echo "## lscpu"; lscpu | head -20
  echo "## nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
  echo "## llama-bench --version"; $B --version 2>&1; echo "## llama-bench --list-devices"; $B --list-devices 2>&1
  echo "## device copy bandwidth (PyTorch, read + write counted)"
  python3 -c "import torch,time; x=torch.empty(2**30,dtype=torch.uint8,device='cuda'); y=torch.empty_like(x); [y.copy_(x) for _ in range(3)]; torch.cuda.synchronize(); t=time.time(); n=50; [y.copy_(x) for _ in range(n)]; torch.cuda.synchronize(); print(round(2*n*2**30/(time.time()-t)/1e9,1),'GB/s')" 2>&1
} > "$OUT/fingerprint.txt" 2>&1
tail -6 "$OUT/fingerprint.txt"
PLAN=$($D plan); QIDX=$(echo "$PLAN" | awk '$1=="Q"{print $2}' | sort -u | tr '\n' ' ')
log "quick models: $QIDX"
for i in $QIDX; do $D write $M $i >> "$OUT/timeline.txt" 2>> "$OUT/stderr.log" & done
log "operators start"
timeout 200 $D ops "$OUT" >> "$OUT/timeline.txt" 2>> "$OUT/stderr.log"; log "operators end (rc $?)"
wait; log "quick models written"
bench() {  # bench TAG IDX FA DEPTHS
  local F=$M/$(name $2)
  [ "$(el)" -gt "$LIMIT" ] && { log "time limit: skip $1 $F fa$3 d$4"; return; }
  for _ in $(seq 600); do [ -f "$F.done" ] && break; sleep 0.5; done
  [ -f "$F.done" ] || { log "model $F not written"; return; }
  if [ ! -f "$F.warm" ]; then timeout 60 $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -r 3 -o jsonl > /dev/null 2>&1; touch "$F.warm"; fi
  log "$1 $(basename $F) fa$3 d$4"
  timeout 150 $B -m "$F" -ngl 99 -fa $3 -p 512 -n 128 -d $4 -r 3 -o jsonl >> "$OUT/$1.jsonl" 2>> "$OUT/stderr.log"
  log "$1 $(basename $F) fa$3 end (rc $?)"
}
echo "$PLAN" | awk '$1=="Q"' | while read -r _ i fa d; do bench quick $i $fa $d; done
log "quick fit"
$D fit "$OUT" 2>> "$OUT/stderr.log" | tee -a "$OUT/timeline.txt"
[ -s "$OUT/predictions_quick.jsonl" ] || log "no quick predictions"
log "matrix"
# MATRIX="5": only these matrix models after the quick fit (a trimmed run; default: all of them)
[ -n "${MATRIX:-}" ] && PLAN=$(echo "$PLAN" | awk -v keep=" $MATRIX " '$1=="Q" || index(keep, " " $2 " ")')
REST=$(echo "$PLAN" | awk '$1=="M"{print $2}' | awk '!s[$0]++' | tr '\n' ' ')
NEW=$(for i in $REST; do case " $QIDX " in *" $i "*) ;; *) echo -n "$i ";; esac; done)
# quick models the matrix does not run again (the MLA cell's; all of them with MATRIX=) leave the disk
for i in $QIDX; do case " $REST " in *" $i "*) ;; *) rm -f $M/$(name $i);; esac; done
( for i in $NEW; do  # one at a time, at most 3 models on disk (64 GB)
    while [ "$(ls $M/*.gguf 2>/dev/null | wc -l)" -gt 2 ]; do sleep 1; done
    $D write $M $i >> "$OUT/timeline.txt" 2>> "$OUT/stderr.log"; done ) &
WRITER=$!
LAST=""
echo "$PLAN" | awk '$1=="M"' | while read -r _ i fa d; do
  [ -n "$LAST" ] && [ "$LAST" != "$i" ] && rm -f $M/$(name $LAST)
  bench matrix $i $fa $d; LAST=$i
done
kill $WRITER 2>/dev/null; wait
rm -rf $M
gzip -9 "$OUT/stderr.log"
log "done: quick $(cat "$OUT/quick.jsonl" 2>/dev/null | wc -l) rows, matrix $(cat "$OUT/matrix.jsonl" 2>/dev/null | wc -l) rows"
