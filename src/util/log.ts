import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Reads the level from GARAGE_LOG or RUST_LOG, accepting Rust-style filters
 * such as `garage=debug,netapp=info`: the `garage` directive (or a bare level) wins.
 */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv): LevelWithSilent {
  // The daemon logs at info by default; CLI commands print results on stdout and stay quiet.
  const spec = env.GARAGE_LOG ?? env.RUST_LOG ?? (argv.slice(2).includes('server') ? 'info' : 'warn');
  const levels: LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  let chosen: LevelWithSilent = 'info';
  for (const part of spec.split(',')) {
    const [target, lvl] = part.includes('=') ? part.split('=', 2) : ['', part];
    const l = (lvl ?? '').trim().toLowerCase();
    const norm = (l === 'warning' ? 'warn' : l === 'off' ? 'silent' : l) as LevelWithSilent;
    if (!levels.includes(norm)) continue;
    if (target === '' || target.startsWith('garage')) chosen = norm;
  }
  return chosen;
}

let root: Logger | undefined;

/** The process-wide logger (JSON to stderr; pretty when stderr is a TTY). */
export function rootLogger(): Logger {
  if (!root) {
    const level = levelFromEnv();
    root = process.stderr.isTTY
      ? pino({ level, transport: { target: 'pino-pretty', options: { destination: 2 } } })
      : pino({ level }, pino.destination(2));
  }
  return root;
}

/** A child logger for one module. */
export function logger(module: string): Logger {
  return rootLogger().child({ module });
}
