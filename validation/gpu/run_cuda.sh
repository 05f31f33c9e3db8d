#!/usr/bin/env bash
# On the lent NVIDIA machine: the same llama.cpp source built with CUDA (sm_90 only), a subset of
# the matrix (-r 5) for `vtt drift` Vulkan vs CUDA. Results go to $OUT.
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
log() { echo "[$(el)s] $*" | tee -a "$OUT/timeline-cuda.txt"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/toolkit
mkdir -p /tmp/src; tar xzf .vk/llama.cpp-*.tar.gz -C /tmp/src
M=/tmp/models; mkdir -p $M
(python3 validation/gpu/matrix.py write $M 0; python3 validation/gpu/matrix.py write $M 3) >> "$OUT/timeline-cuda.txt" 2>&1 &
log "configure"
cmake -S /tmp/src/llama.cpp -B /tmp/build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_COMMIT=0c1e570 -DLLAMA_BUILD_NUMBER=1 \
  > "$OUT/build-cuda.log" 2>&1 || { tail -30 "$OUT/build-cuda.log"; exit 3; }
log "build"
timeout 400 cmake --build /tmp/build-cuda --target llama-bench -j16 >> "$OUT/build-cuda.log" 2>&1 || { tail -20 "$OUT/build-cuda.log"; log "build failed or too slow"; exit 3; }
B=/tmp/build-cuda/bin/llama-bench; wait
log "built"; $B --version 2>&1 | tail -3 | tee -a "$OUT/timeline-cuda.txt"
for F in $M/*.gguf; do
  [ "$(el)" -gt 540 ] && break
  log "bench $(basename $F)"
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 128 -d 0,4096 -r 5 -o jsonl >> "$OUT/cuda.jsonl" 2>> "$OUT/stderr-cuda.log"
done
gzip -9 "$OUT/stderr-cuda.log"
log "done: $(wc -l < "$OUT/cuda.jsonl") rows"
