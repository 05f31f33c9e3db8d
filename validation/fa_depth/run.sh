#!/usr/bin/env bash
# On the GPU machine, after validation/gpu/build_vulkan.sh: FLASH_ATTN_EXT alone at the sweep's shapes,
# with the default kernel (coopmat2 on NVIDIA) and with coopmat2 disabled (the coopmat1 shader RADV runs);
# test-backend-ops perf's SQL rows to $OUT/<mode>.sql.
#   LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/fa_depth/run.sh
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; T=${LLAMA_BIN_DIR:?}/test-backend-ops
export PYTHONPATH=${PYTHONPATH:-/tmp/site:$PWD/toolkit}
python3 validation/fa_depth/sweep.py cases /tmp/fa_cases.txt
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv; } > "$OUT/fingerprint.txt" 2>&1
t0=$(date +%s)
$T perf -b Vulkan0 --test-file /tmp/fa_cases.txt --output sql > "$OUT/coopmat2.sql" 2> "$OUT/coopmat2.err"
echo "coopmat2: $(( $(date +%s) - t0 )) s, $(grep -c INSERT "$OUT/coopmat2.sql") rows"
t0=$(date +%s)
GGML_VK_DISABLE_COOPMAT2=1 $T perf -b Vulkan0 --test-file /tmp/fa_cases.txt --output sql > "$OUT/coopmat1.sql" 2> "$OUT/coopmat1.err"
echo "coopmat1: $(( $(date +%s) - t0 )) s, $(grep -c INSERT "$OUT/coopmat1.sql") rows"
grep -h "matrix cores" "$OUT"/*.err | sort -u
