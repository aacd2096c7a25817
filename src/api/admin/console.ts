import { readFileSync, readdirSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const DIR = join(import.meta.dirname, 'console');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

// Every file of the console directory, by the path it is served at (read once, at start).
function consoleFiles(): [path: string, file: string, type: string][] {
  const out: [string, string, string][] = [
    ['/', 'index.html', TYPES['.html']!],
    ['/ui/', 'index.html', TYPES['.html']!],
  ];
  for (const f of readdirSync(DIR, { recursive: true, encoding: 'utf8' })) {
    const type = TYPES[extname(f)];
    if (type) out.push([`/ui/${f.split(sep).join('/')}`, f, type]);
  }
  return out;
}

/**
 * The web console's static files (no build step: plain HTML, CSS and ES modules, read once).
 * Pages are locked down: scripts and connections to this origin only, no framing.
 */
export class ConsoleAssets {
  readonly #files = new Map<string, [Buffer, string]>();
  readonly #config: Buffer;

  /** `s3Region`: the region the console signs S3 requests for; `getOps`: the operations called with GET. */
  constructor(s3Region: string, getOps: Iterable<string>) {
    for (const [path, file, type] of consoleFiles()) this.#files.set(path, [readFileSync(join(DIR, file)), type]);
    this.#config = Buffer.from(JSON.stringify({ s3Region, s3Prefix: '/s3', getOps: [...getOps] }));
  }

  /** Serves a console file; false when `path` is not one. */
  serve(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    const f = path === '/ui/config.json' ? ([this.#config, 'application/json'] as const) : this.#files.get(path);
    if (!f) return false;
    res.statusCode = 200;
    res.setHeader('content-type', f[1]);
    res.setHeader('content-length', f[0].length);
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader(
      'content-security-policy',
      [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' blob: data:",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
    );
    res.end(req.method === 'HEAD' ? undefined : f[0]);
    return true;
  }
}
