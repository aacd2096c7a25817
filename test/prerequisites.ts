// Run first by `npm test`: the integration tests drive Debian's aws, rclone, s3cmd and restic,
// the console test Debian's chromium, and the deployment test systemd-analyze.
// Missing ones are installed as .ci/run does when we are root with apt; otherwise the run
// stops at once with the command to type. A test is never skipped for want of a tool.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const TOOLS: [bin: string, pkg: string][] = [
  ['aws', 'awscli'],
  ['rclone', 'rclone'],
  ['s3cmd', 's3cmd'],
  ['restic', 'restic'],
  ['chromium', 'chromium'],
  ['systemd-analyze', 'systemd'],
];
const missing = TOOLS.filter(([bin]) => !existsSync(`/usr/bin/${bin}`)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  const root = process.getuid?.() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) {
    process.stderr.write(
      `npm test needs the Debian packages ${missing.join(', ')}. Install them first:\n  sudo ${cmd}\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`installing ${missing.join(', ')} for the integration tests …\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
}
