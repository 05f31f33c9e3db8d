#!/usr/bin/env bash
# On the lent two-GPU machine (nvidia-h200-x2): one Vulkan ggml-rpc-server per GPU on 127.0.0.1
# (GGML_VK_VISIBLE_DEVICES), llama-bench --rpc through both (-dev RPC0/RPC1: the main process keeps no
# GPU of its own), and the same tests on one local GPU as the link's baseline. Models are written
# with random weights (validation/gpu/matrix.py). Results under $OUT (7-10 files), < 6 minutes a model
# pair. RPC_MODELS=run1|run2|run3 picks the models (rpc_matrix.py), RPC_IDX='0 1' some of them,
# REPS the repetitions (run 3: 5).
#   LLAMA_BIN_DIR=/path/to/vulkan/build/bin OUT=/tmp/out bash validation/rpc/run_gpu.sh
# Needs python3 with pydantic, gguf, numpy (or the carried .whl/ of validation/gpu/run.sh).
set -u
RPC_MODELS=${RPC_MODELS:-run1}; export RPC_MODELS
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; LIMIT=${LIMIT:-300}
BIN=${LLAMA_BIN_DIR:?set LLAMA_BIN_DIR to the Vulkan build bin dir (llama-bench, ggml-rpc-server)}
B=$BIN/llama-bench; S=$BIN/ggml-rpc-server; [ -x "$S" ] || S=$BIN/rpc-server
log() { echo "[$(el)s] $*" | tee -a "$OUT/timeline.txt"; }
if [ -z "${NO_WHL:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then  # NO_WHL=1: use this python as it is (a dry run here)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD/toolkit
else
  export PYTHONPATH=$PWD/toolkit:${PYTHONPATH:-}
fi
export LD_LIBRARY_PATH=$BIN:${LD_LIBRARY_PATH:-}
{
  echo "## date"; date -u +%FT%TZ; echo "## uname"; uname -a
  echo "## nvidia-smi"; nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv
  echo "## llama-bench --version"; $B --version 2>&1; echo "## list-devices"; $B --list-devices 2>&1
  echo "## loopback round trip (python, 1000 x 64 B)"
  python3 - <<'PY'
import socket, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1); port = srv.getsockname()[1]
def echo():
    c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (d := c.recv(65536)): c.sendall(d)
threading.Thread(target=echo, daemon=True).start()
s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t = time.perf_counter()
for _ in range(1000): s.sendall(b"x" * 64); s.recv(64)
print(f"rtt_us {1e6 * (time.perf_counter() - t) / 1000:.1f}")
PY
} > "$OUT/fingerprint.txt" 2>&1
tail -8 "$OUT/fingerprint.txt"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
# GPU clocks and load every 200 ms (run 3): a GPU that idled while weights crossed the loopback
# link starts its first timed test at a lower clock; the samples show whether a slow test was that.
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,index,clocks.sm,clocks.mem,utilization.gpu,power.draw --format=csv,noheader -lms 200 \
    > "$OUT/clocks.csv" 2>/dev/null &
  pids+=($!)
fi
trap cleanup EXIT
# ONE_GPU=1: a one-GPU machine: only the rpc-server on GPU 0, only the local and rpc1 tests
# SAME_GPU=1 (run 5): both rpc-servers on GPU 0, so the GPU is never idle between the two devices'
# graphs: the chain's network terms without the duty-cycle clocks of two half-idle GPUs
GPUS="0 1"; [ "${ONE_GPU:-0}" = 1 ] && GPUS=0
for g in $GPUS; do
  GGML_VK_VISIBLE_DEVICES=$([ "${SAME_GPU:-0}" = 1 ] && echo 0 || echo $g) "$S" -H 127.0.0.1 -p $((50052 + g)) >> "$OUT/rpc-servers.log" 2>&1 &
  pids+=($!)
done
for g in $GPUS; do
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$((50052 + g))) 2>/dev/null && break; sleep 0.1; done
done
log "rpc-servers up: ${pids[*]}"
RPC=127.0.0.1:50052,127.0.0.1:50053; DEVS=RPC0/RPC1
[ "${ONE_GPU:-0}" = 1 ] && { RPC=127.0.0.1:50052; DEVS=RPC0; }
M=/tmp/rpcmodels; mkdir -p $M
N=$(python3 validation/rpc/rpc_matrix.py list | wc -l)
D=$(python3 validation/rpc/rpc_matrix.py config-tests)  # run 3: 4096,0 (no timed test right after a load)
R=${REPS:-3}
for i in ${RPC_IDX:-$(seq 0 $((N - 1)))}; do
  [ "$(el)" -gt "$LIMIT" ] && { log "time limit: skipping model $i"; continue; }
  F=$(python3 validation/rpc/rpc_matrix.py write $M $i 2>>"$OUT/timeline.txt" | tail -1)
  [ -f "$F" ] || { log "model $i not written"; continue; }
  if [ "${WARM:-1}" = 1 ]; then  # untimed: GPU clocks up and pipelines built before the first timed test
    GGML_VK_VISIBLE_DEVICES=0 $B -m "$F" -ngl 99 -fa 1 -p 512 -n 16 -r 1 > /dev/null 2>&1
    GGML_VK_VISIBLE_DEVICES=0 $B -m "$F" --rpc $RPC -dev $DEVS -ngl 99 -fa 1 -p 512 -n 16 -r 1 > /dev/null 2>&1
    log "warmed $(basename $F)"
  fi
  log "local $(basename $F)"
  GGML_VK_VISIBLE_DEVICES=0 $B -m "$F" -ngl 99 -fa 1 -p 512 -n 128 -d $D -r $R -o jsonl >> "$OUT/local.jsonl" 2>> "$OUT/local-stderr.log"
  if [ "$D" = 4096,0 ] && [ "${SAME_GPU:-0}" != 1 ]; then  # run 3: every layer on one rpc-server (GPU 0)
    log "rpc1 $(basename $F)"
    GGML_VK_VISIBLE_DEVICES=0 $B -m "$F" --rpc ${RPC%%,*} -dev RPC0 -ngl 99 -fa 1 -p 512 -n 128 -d $D -r $R -o jsonl -v >> "$OUT/rpc1.jsonl" 2>> "$OUT/rpc1-stderr.log"
  fi
  [ "${ONE_GPU:-0}" = 1 ] && { log "end $(basename $F)"; rm -f "$F"; continue; }
  # runs 1-3: -ts 1/1 then 3/1 (runs 1-2: 3/1 at depth 0 only); run 4 adds 1/3 (rpc_matrix.py splits)
  for TS in $(python3 validation/rpc/rpc_matrix.py splits); do
    log "rpc $TS $(basename $F)"
    DS=$([ "$D" = 4096,0 ] || [ "$TS" = 1/1 ] && echo $D || echo 0)
    GGML_VK_VISIBLE_DEVICES=0 $B -m "$F" --rpc $RPC -dev RPC0/RPC1 -ts $TS -ngl 99 -fa 1 -p 512 -n 128 -d $DS -r $R -o jsonl -v >> "$OUT/rpc.jsonl" 2>> "$OUT/rpc-stderr.log"
    log "rpc $TS $(basename $F) done (rc $?)"
  done
  log "end $(basename $F)"
  rm -f "$F"
done
cleanup; trap - EXIT
gzip -9f "$OUT/rpc-stderr.log" "$OUT/local-stderr.log" "$OUT/rpc-servers.log" "$OUT"/rpc1-stderr.log 2>/dev/null
log "done: $(wc -l < "$OUT/rpc.jsonl") rpc rows, $(wc -l < "$OUT/local.jsonl") local rows"
