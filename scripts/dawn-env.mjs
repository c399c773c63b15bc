// The environment Dawn for Node needs on a machine without a GPU: Debian's Chromium ships the
// Vulkan loader and SwiftShader in /usr/lib/chromium, and the loader must be on the library path
// before the process starts (ld.so reads it once). A real GPU's driver, when present, still wins
// unless the caller already picked an ICD.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const CHROMIUM_LIB = '/usr/lib/chromium';
const SWIFTSHADER_ICD = `${CHROMIUM_LIB}/vk_swiftshader_icd.json`;

function systemHasVulkanLoader() {
  try {
    return execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).includes('libvulkan.so.1');
  } catch {
    return false;
  }
}

/** Mesa's lavapipe ICD, the one Vulkan driver here whose Dawn adapter offers shader-f16 (Mesa 23+). */
export function lavapipeIcd() {
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']) {
    for (const name of ['lvp_icd.json', 'lvp_icd.x86_64.json', 'lvp_icd.aarch64.json']) {
      if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
    }
  }
  return null;
}

export function dawnEnv(base = process.env) {
  const env = { ...base };
  // F16=1 (npm run test:f16): the shader-f16 kernels need an adapter that offers the feature, and
  // neither SwiftShader nor Dawn on NVIDIA's driver does; lavapipe (apt: mesa-vulkan-drivers) does.
  if (env.F16 === '1' && !env.VK_ICD_FILENAMES) {
    const icd = lavapipeIcd();
    if (icd) env.VK_ICD_FILENAMES = icd;
    else console.warn('F16=1: no lavapipe ICD found (apt-get install mesa-vulkan-drivers, Mesa 23 or later); the shader-f16 tests will skip');
  }
  if (!systemHasVulkanLoader() && existsSync(`${CHROMIUM_LIB}/libvulkan.so.1`)) {
    env.LD_LIBRARY_PATH = [CHROMIUM_LIB, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  const hasNvidia = existsSync('/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json') || existsSync('/usr/share/vulkan/icd.d/nvidia_icd.json');
  if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && !hasNvidia && existsSync(SWIFTSHADER_ICD)) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  return env;
}
