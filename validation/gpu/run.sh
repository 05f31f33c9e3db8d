#!/usr/bin/env bash
# On the lent NVIDIA machine (see validation/gpu/README.md): build llama-bench with Vulkan from the
# pinned llama.cpp source, write the matrix's models with random weights, run llama-bench on each
# (JSONL + -v buffer sizes), sample GPU memory, record the machine. Results go to $OUT.
# Needs in the working tree (git-ignored, carried): .gl/ (Debian GL/Vulkan loader .debs),
# .vk/ (llama.cpp source tarball + Debian 13 glslc/shaderc/vulkan headers .debs), .whl/ (pydantic, gguf).
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; LIMIT=${LIMIT:-540}
TAG=${TAG:-vulkan}   # output name: $TAG.jsonl; WARM=1 runs an untimed pp512 first so the GPU clocks are up
WARM=${WARM:-0}  # DEPTHS_FA / DEPTHS_NOFA reorder -d so the first timed test comes after a depth prefill
log() { echo "[$(el)s] $*" | tee -a "$OUT/timeline.txt"; }
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/toolkit
P=/tmp/vkpfx; mkdir -p $P /tmp/src; for f in .vk/*.deb; do dpkg -x "$f" $P; done
export LD_LIBRARY_PATH=$P/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
tar xzf .vk/llama.cpp-*.tar.gz -C /tmp/src
log "configure"
cmake -S /tmp/src/llama.cpp -B /tmp/build-vk -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_VULKAN=ON \
  -DVulkan_INCLUDE_DIR=$P/usr/include -DVulkan_LIBRARY=$P/usr/lib/x86_64-linux-gnu/libvulkan.so.1 \
  -DVulkan_GLSLC_EXECUTABLE=$P/usr/bin/glslc -DCMAKE_PREFIX_PATH=$P/usr -DGGML_NATIVE=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_COMMIT=0c1e570 -DLLAMA_BUILD_NUMBER=1 > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 3; }
grep -E "supported by glslc" "$OUT/build.log"
M=/tmp/models; mkdir -p $M
python3 validation/gpu/matrix.py write $M 0 >> "$OUT/timeline.txt" 2>&1 &   # first model while building
log "build"
cmake --build /tmp/build-vk --target llama-bench -j16 >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 3; }
B=/tmp/build-vk/bin/llama-bench; wait
log "built"
{
  echo "## date"; date -u +%FT%TZ; echo "## uname"; uname -a; echo "## lscpu"; lscpu | head -20
  echo "## meminfo"; head -3 /proc/meminfo; echo "## nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
  echo "## llama-bench --version"; $B --version 2>&1; echo "## llama-bench --list-devices"; $B --list-devices 2>&1
  echo "## device copy bandwidth (PyTorch, read + write counted)"
  python3 -c "import torch,time; x=torch.empty(2**30,dtype=torch.uint8,device='cuda'); y=torch.empty_like(x); [y.copy_(x) for _ in range(3)]; torch.cuda.synchronize(); t=time.time(); n=50; [y.copy_(x) for _ in range(n)]; torch.cuda.synchronize(); print(round(2*n*2**30/(time.time()-t)/1e9,1),'GB/s')" 2>&1
} > "$OUT/fingerprint.txt"
cat "$OUT/fingerprint.txt" | tail -12
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 250 > "$OUT/nvsmi.csv" 2>/dev/null &
SMI=$!
N=$(python3 validation/gpu/matrix.py list | wc -l)
for i in $(seq 0 $((N-1))); do
  [ "$(el)" -gt "$LIMIT" ] && { log "time limit: skipping models $i.."; break; }
  F=$(python3 validation/gpu/matrix.py write $M $i 2>>"$OUT/timeline.txt" | tail -1)
  [ -f "$F" ] || { log "model $i not written"; continue; }
  if [ "$WARM" = 1 ]; then $B -m "$F" -ngl 99 -fa 1 -p 512 -n 0 -r 5 -o jsonl > /dev/null 2>&1; log "warmed $(basename $F)"; fi
  log "bench $(basename $F) fa1 start"
  $B -m "$F" -ngl 99 -fa 1 -p 512 -n 128 -d ${DEPTHS_FA:-0,4096,16384,32768} -r 3 -o jsonl -v >> "$OUT/$TAG.jsonl" 2>> "$OUT/stderr.log"
  log "bench $(basename $F) fa0 start (rc of fa1 $?)"
  $B -m "$F" -ngl 99 -fa 0 -p 512 -n 128 -d ${DEPTHS_NOFA:-0,4096} -r 3 -o jsonl -v >> "$OUT/$TAG.jsonl" 2>> "$OUT/stderr.log"
  log "bench $(basename $F) end (rc $?)"
  rm -f "$F"
done
kill $SMI 2>/dev/null
gzip -9 "$OUT/stderr.log"
log "done: $(wc -l < "$OUT/$TAG.jsonl") rows"
