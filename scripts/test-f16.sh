#!/usr/bin/env bash
# The shader-f16 kernels' tests (tests/f16) on Mesa's lavapipe, the one Vulkan driver a machine without
# a consumer GPU has whose Dawn adapter offers shader-f16 (SwiftShader does not; Dawn leaves the
# feature off on NVIDIA's Vulkan driver). Dawn needs Mesa 23 or later: on Debian 12 that is
# mesa-vulkan-drivers from bookworm-backports, installed here when missing. Without it the tests
# skip and say why; nothing else changes (the other tests keep SwiftShader, scripts/dawn-env.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+).*/\1/'; }
if [ "$(mesa_major || true)" = "" ] || [ "$(mesa_major)" -lt 23 ]; then
  codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
  target=()
  if [ "$codename" = bookworm ]; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/mohawk-backports.list >/dev/null
    target=(-t bookworm-backports)
  fi
  if ! ( $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${target[@]}" mesa-vulkan-drivers >/dev/null ); then
    echo "test-f16: could not install mesa-vulkan-drivers (Mesa 23+); the shader-f16 tests will skip" >&2
  fi
fi
npm run test:f16
