#!/usr/bin/env bash
# On the lent NVIDIA machine: build every llama.cpp tool vtt drives (llama-bench, llama-server,
# ggml-rpc-server, test-backend-ops, llama-fit-params) with Vulkan from the pinned source, once per
# machine; later scripts find them in $LLAMA_BIN_DIR. Idempotent: a second call reuses the build.
# Needs in the working tree (git-ignored, carried): .gl/ (Debian GL/Vulkan loader .debs), .vk/ (the
# llama.cpp source tarball + Debian 13 glslc/shaderc/vulkan headers, whose glslc has the
# cooperative-matrix extensions Debian 12's lacks), .whl/ (pydantic, gguf, duckdb for vtt there).
# validation/gpu/fetch_inputs.sh fetches all three here.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
B=/tmp/build-vk; export LLAMA_BIN_DIR=$B/bin
if [ ! -x "$LLAMA_BIN_DIR/llama-bench" ] || [ ! -x "$LLAMA_BIN_DIR/llama-server" ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  P=/tmp/vkpfx; mkdir -p $P /tmp/src; for f in .vk/*.deb; do dpkg -x "$f" $P; done
  tar xzf .vk/llama.cpp-*.tar.gz -C /tmp/src
  export LD_LIBRARY_PATH=$P/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  t0=$(date +%s)
  cmake -S /tmp/src/llama.cpp -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_VULKAN=ON -DGGML_RPC=ON \
    -DVulkan_INCLUDE_DIR=$P/usr/include -DVulkan_LIBRARY=$P/usr/lib/x86_64-linux-gnu/libvulkan.so.1 \
    -DVulkan_GLSLC_EXECUTABLE=$P/usr/bin/glslc -DCMAKE_PREFIX_PATH=$P/usr -DGGML_NATIVE=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_COMMIT=0c1e570 -DLLAMA_BUILD_NUMBER=1 > "$OUT/vk-build.log" 2>&1 || { tail -30 "$OUT/vk-build.log"; exit 3; }
  cmake --build $B --target llama-bench llama-server ggml-rpc-server test-backend-ops llama-fit-params \
    -j"$(nproc)" >> "$OUT/vk-build.log" 2>&1 || { tail -30 "$OUT/vk-build.log"; exit 3; }
  echo "vulkan build: $(( $(date +%s) - t0 )) s"
  grep -E "supported by glslc" "$OUT/vk-build.log"
fi
if [ -d .whl ] && [ ! -d /tmp/site/pydantic ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
fi
export PYTHONPATH=/tmp/site:$PWD/toolkit
"$LLAMA_BIN_DIR/llama-bench" --list-devices 2>&1 | tail -3
