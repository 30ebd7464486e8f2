// The browser tests (tests/browser) drive Debian's Chromium: `npm test` installs
// it where it is missing (Linux, apt, root), else stops with the command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';
export const INSTALL_COMMAND = 'apt-get install -y chromium';

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Makes sure Chromium is at CHROMIUM, installing Debian's package where it can;
 * returns an error message (naming the command) where it cannot, else null.
 */
export function ensureChromium(log) {
  if (existsSync(CHROMIUM)) return null;
  if (process.platform !== 'linux' || !has('apt-get') || !isRoot()) {
    return `the browser tests need Chromium at ${CHROMIUM}: install it (as root on Debian or Ubuntu: \`apt-get update && ${INSTALL_COMMAND}\`) and run the tests again`;
  }
  log(`chromium: not at ${CHROMIUM}; installing Debian's (apt-get update && ${INSTALL_COMMAND})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
  } catch (error) {
    return `installing Chromium failed (${error.message}): run \`apt-get update && ${INSTALL_COMMAND}\` as root`;
  }
  return existsSync(CHROMIUM)
    ? null
    : `apt-get installed chromium but ${CHROMIUM} is still missing: install it there and run the tests again`;
}
