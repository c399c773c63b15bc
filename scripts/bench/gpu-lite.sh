#!/usr/bin/env bash
# Makes .gpu-lite/ from .gpu/ (../shared/gpu/prepare.sh): the same node, libraries and webgpu package,
# the package xz-compressed (about 29 MiB instead of 45), so that the tree the GPU machine receives
# (tracked files + carried paths, 64 MiB at most) has room for a build or two. On the GPU machine,
# `source .gpu-lite/env.sh` (the scripts here take GPU_ENV=.gpu-lite/env.sh) unpacks it once.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d .gpu/node_modules/webgpu ] || { echo "no .gpu/: run bash ../shared/gpu/prepare.sh first" >&2; exit 1; }
rm -rf .gpu-lite && mkdir -p .gpu-lite
cp -r .gpu/debs .gpu/node.xz .gpu-lite/
tar -C .gpu/node_modules -cf - webgpu/index.js webgpu/package.json webgpu/dist | xz -9 -T2 > .gpu-lite/webgpu.tar.xz
cat > .gpu-lite/env.sh <<'ENV'
# source .gpu-lite/env.sh: .gpu/env.sh with the webgpu package xz-compressed (the carried tree's 64 MiB).
for f in .gpu-lite/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
[ -x .gpu-lite/node ] || { xz -dkf .gpu-lite/node.xz && chmod +x .gpu-lite/node; }
[ -d .gpu-lite/node_modules/webgpu ] || { mkdir -p .gpu-lite/node_modules && xz -dc .gpu-lite/webgpu.tar.xz | tar -C .gpu-lite/node_modules -xf -; }
mkdir -p node_modules && for p in .gpu-lite/node_modules/*; do [ -e "node_modules/${p##*/}" ] || ln -s "$PWD/$p" node_modules/; done
export PATH="$PWD/.gpu-lite:$PATH"
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
ENV
grep -qx '/.gpu-lite/' .git/info/exclude 2>/dev/null || echo '/.gpu-lite/' >> .git/info/exclude
du -sh .gpu-lite
