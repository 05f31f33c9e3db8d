#!/usr/bin/env bash
# Here (Debian 12, with network), before the first GPU run of a checkout: fetch what build_vulkan.sh needs
# on the lent machine, which has no network, into the git-ignored folders that `run` carries
# (carry: [".gl", ".vk", ".whl"], about 45 MB):
#   .gl/  Debian's GL/Vulkan loader .debs: without all seven the NVIDIA ICD finds no device
#         (shared/reference/llama_cpp_builds.md section 8)
#   .vk/  Debian 13 glslc, shaderc, Vulkan and SPIR-V headers (bookworm's glslc compiles no
#         cooperative-matrix shaders) and the pinned llama.cpp source as llama.cpp-0c1e570.tar.gz
#   .whl/ pydantic, pydantic-core, gguf and their small dependencies for the device's Python 3.12
# Adds a trixie apt source for the download only and removes it again. Idempotent.
set -eu
cd "$(git rev-parse --show-toplevel)"
grep -qx '.gl/' .git/info/exclude 2>/dev/null || printf '.gl/\n.vk/\n.whl/\n' >> .git/info/exclude
mkdir -p .gl .vk .whl
src=/etc/apt/sources.list.d/vtt-trixie-tmp.list
echo "deb http://deb.debian.org/debian trixie main" > $src
trap 'rm -f $src; apt-get update -qq || true' EXIT
apt-get update -qq
(cd .gl && apt-get download -t trixie libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
(cd .vk && apt-get download -t trixie glslc libshaderc1 libvulkan-dev libvulkan1 spirv-headers)
src_dir=${HOME}/.cache/vtt/llama.cpp/llama_cpp_python-0.3.36/vendor
[ -d "$src_dir/llama.cpp" ] || .venv/bin/vtt bench install >/dev/null  # unpacks the pinned sdist
tar czf .vk/llama.cpp-0c1e570.tar.gz -C "$src_dir" --exclude=.git llama.cpp
pins=$(grep -iE '^(pydantic|pydantic_core|pydantic-core|gguf|annotated-types|typing_extensions|typing-extensions|typing-inspection)==' constraints.txt)
.venv/bin/pip download -q --python-version 3.12 --only-binary=:all: --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --no-deps -d .whl $pins tqdm
ls .gl .vk .whl
