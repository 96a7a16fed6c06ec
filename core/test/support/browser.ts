import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

// Headless Debian Chromium for the console tests (`npm test` installs it when it can).

export const chromiumPath = '/usr/bin/chromium';
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: the console tests need Debian's Chromium. Install it with "sudo apt-get install -y chromium" (npm test does it when run as root)`);
  }
  return chromium.launch({ executablePath: chromiumPath, args: flags });
}

/** Screenshots kept as test artifacts (gitignored). */
export const artifactsDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'console', 'test-artifacts');

export function artifact(name: string): string {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, name);
}

/** Signs in through the console's login page, as a person would, and waits for the console. */
export async function signInThroughPage(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user-menu').waitFor();
}
