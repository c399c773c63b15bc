// Headless Debian Chromium with WebGPU on SwiftShader (a CPU Vulkan driver), so the test needs no GPU.
import { chromium } from 'playwright-core';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A browser without WebGPU, to check what the page does on one. */
export const NO_WEBGPU_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Launches Chromium. Playwright's launch() gives the browser a new temporary profile of its own
 * (and refuses a --user-data-dir in args), so no state leaks between runs; `profilePath` reports
 * the one in use so the caller can check that.
 */
export async function launchChromium(args = CHROMIUM_ARGS) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60_000 });
}

/** The profile directory the running browser uses, read from chrome://version. */
export async function profilePath(browser) {
  const page = await browser.newPage();
  try {
    await page.goto('chrome://version', { timeout: 15_000 });
    const text = await page.locator('#profile_path').innerText({ timeout: 5_000 });
    return text.trim();
  } finally {
    await page.close();
  }
}

/** True when `path` is a fresh temporary profile (under the system temp folder, made by Playwright). */
export function isFreshProfile(path) {
  return path.startsWith(tmpdir()) && /playwright_chromiumdev_profile-/.test(path);
}
