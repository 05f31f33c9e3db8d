#!/usr/bin/env bash
# Serve validation on the lent NVIDIA machine with the Vulkan build: the seed's mode workloads,
# memory per context, context stress and a short soak against a real llama-server, each compared
# with validation/serve/predictions.jsonl (committed before any run). At most 7.5 minutes (each step has a timeout); results in $OUT.
#
# Needs: LLAMA_BIN_DIR = the Vulkan build's bin/ (llama-server and llama-fit-params, pinned 0c1e570);
# python3 with vtt's dependencies (duckdb typer rich scipy numpy pydantic pyyaml gguf; httpx optional:
# without it vtt uses urllib). vtt itself runs from this tree (PYTHONPATH=toolkit).
# Run:  LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/serve/run_gpu.sh
# Dry run on a CPU box: SERVE_MODELS=chat-tiny WORKLOAD=smoke CONTEXTS=1024,4096 STRESS_MAX=16384 \
#   STRESS_STEP=4096 SOAK_MIN=0.2 LLAMA_BIN_DIR=~/.cache/vtt/llama.cpp/build-cpu/bin bash validation/serve/run_gpu.sh
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
log() { echo "[$(el)s] $*" | tee -a "$OUT/timeline.txt"; }
[ -x "${LLAMA_BIN_DIR:-}/llama-server" ] || { echo "set LLAMA_BIN_DIR to the Vulkan build's bin/"; exit 3; }
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi  # the GL/Vulkan loader, as validation/gpu/run.sh
export PYTHONPATH=$PWD/toolkit:${PYTHONPATH:-}
export VTT_LLAMA_SERVER=$LLAMA_BIN_DIR/llama-server
VTT="python3 -m vtt.cli"
DB=$OUT/serve.duckdb
M=/tmp/serve-models; mkdir -p $M
NGL=(--server-arg=-ngl --server-arg=999)
PRED=(--hardware h200-141 --backend vulkan-nvidia)
{
  echo "## date"; date -u +%FT%TZ; echo "## nvidia-smi"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  echo "## llama-server --version"; $LLAMA_BIN_DIR/llama-server --version 2>&1
  echo "## devices"; $LLAMA_BIN_DIR/llama-server --list-devices 2>&1
  python3 -c "import httpx; print('httpx', httpx.__version__)" 2>&1 | tail -1
} > "$OUT/fingerprint.txt"
log "write models"
for name in $(python3 validation/serve/models.py list); do
  F=$(python3 validation/serve/models.py write $M $name | tail -1)
  log "model $F ($(stat -c %s "$F") bytes, sha256 $(sha256sum "$F" | cut -c1-16))"

  log "modes workload"
  timeout 140 $VTT bench serve -m "$F" --workload ${WORKLOAD:-modes} "${NGL[@]}" "${PRED[@]}" --label "modes-$name" --db $DB \
    --json > "$OUT/modes-$name.jsonl" 2>> "$OUT/stderr.log"; log "modes rc $?"
  $VTT drift --baseline "modes-$name" --candidate "modes-$name" --db $DB --against-prediction --json \
    > "$OUT/against-prediction-$name.json" 2>> "$OUT/stderr.log"

  log "memory per context"
  timeout 70 $VTT bench serve-memory -m "$F" --contexts ${CONTEXTS:-4096,16384,32768,65536} "${NGL[@]}" "${PRED[@]}" \
    --label "memory-$name" --db $DB --json > "$OUT/memory-$name.jsonl" 2>> "$OUT/stderr.log"; log "memory rc $?"

  log "context stress"
  timeout 110 $VTT bench serve-stress -m "$F" --min-ctx 8192 --max-ctx ${STRESS_MAX:-131072} --step ${STRESS_STEP:-8192} --request-timeout 45 \
    --start-timeout 60 "${NGL[@]}" "${PRED[@]}" --label "stress-$name" --db $DB --json \
    > "$OUT/stress-$name.jsonl" 2>> "$OUT/stderr.log"; log "stress rc $?"

  log "soak"
  timeout 100 $VTT bench serve-soak -m "$F" --workload ${WORKLOAD:-modes} --minutes ${SOAK_MIN:-1.5} "${NGL[@]}" --label "soak-$name" \
    --db $DB --json > "$OUT/soak-$name.jsonl" 2>> "$OUT/stderr.log"; log "soak rc $? (1 = leak)"
  rm -f "$F"
done
$VTT runs --db $DB --json > "$OUT/runs.json" 2>> "$OUT/stderr.log"
python3 validation/serve/analyze.py validation/serve/predictions.jsonl "$OUT" > "$OUT/compare.md" 2>> "$OUT/stderr.log"
cat "$OUT/compare.md"
pgrep -a -f llama-server && log "WARNING: a llama-server survived" || log "no llama-server left"
log "done"
