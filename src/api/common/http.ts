import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../util/log.ts';
import { errorMessage } from '../../util/errors.ts';
import { S3Error, asS3Error } from './s3_error.ts';
import { xmlEscape } from './xml.ts';

/** A request handler; `continue100` is set when the client waits for `100 Continue`. */
/** Writes an error response in the endpoint's own format (S3 XML, admin JSON, website HTML). */
export type ErrorRenderer = (
  res: ServerResponse,
  err: S3Error,
  at: { resource: string; requestId: string; head: boolean },
) => void;

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: { requestId: string; expectContinue: boolean },
) => Promise<void>;

const DRAIN_LIMIT = 8 * 1024 * 1024;

/** Bounds on what a client may hold of a listener (env GARAGE_HEADERS_TIMEOUT_MS, ..._BODY_IDLE_..., _MAX_CONNECTIONS). */
export interface HttpLimits {
  /** Time for a request's headers to arrive, from its first byte (or from the connection). */
  headersTimeoutMs: number;
  /** A request body that sends nothing for this long has its connection closed (0: never). */
  bodyIdleTimeoutMs: number;
  /** Connections open at once on the listener; more are closed as they arrive. */
  maxConnections: number;
}

/** The bounds used unless configured otherwise. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 60_000,
  bodyIdleTimeoutMs: 60_000,
  maxConnections: 4096,
};

// While a request body is expected, a socket idle for `ms` is closed: the handler's body stream
// then fails and the upload is aborted. Idle, not total: a long steady upload is never cut off.
function watchBodyIdle(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (ms <= 0 || !hasBody || req.complete) return;
  const socket = req.socket;
  socket.setTimeout(ms);
  // Emitted only while the request is incomplete; a listener keeps Node from closing on its own.
  req.on('timeout', () => socket.destroy());
  req.once('end', () => {
    // Once the response is finished, Node has put the keep-alive timeout in place.
    if (!res.writableFinished) socket.setTimeout(0);
  });
}
const continued = new WeakSet<ServerResponse>();

/** Sends `100 Continue` (once the request is authenticated) and remembers it was sent. */
export function sendContinue(res: ServerResponse): void {
  if (continued.has(res)) return;
  continued.add(res);
  res.writeContinue();
}

// Reads and discards the rest of a request body, for at most `timeoutMs`.
function drain(req: IncomingMessage, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(t);
      req.off('end', done).off('error', done).off('close', done);
      resolve();
    }
    req.on('end', done).on('error', done).on('close', done);
    // A handler that stopped reading early leaves the request piped into its (destroyed) body
    // stream, which keeps it paused: without unpiping, the rest never flows and 'end' never comes.
    req.unpipe();
    req.resume();
  });
}

// What Node's setHeader accepts (RFC 9110 token names; values without CR, LF or other controls).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Whether a header can be sent as is (a stored one that cannot is left out rather than failing the response). */
export function sendableHeader(name: string, value: string): boolean {
  return HEADER_NAME.test(name) && HEADER_VALUE.test(value);
}

const NON_ASCII = /[^\x00-\x7f]/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text an x-amz-meta-* header stands for. Node reads header bytes as ISO-8859-1: bytes that
 * form UTF-8 are taken as UTF-8 (what curl or a browser send), others as ISO-8859-1 (what the AWS
 * SDKs send for characters up to U+00FF). RFC 2047 encoded words are ASCII and kept as sent.
 */
export function metadataFromHeader(value: string): string {
  if (!NON_ASCII.test(value)) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** A stored x-amz-meta-* value as a header: non-ASCII text as one RFC 2047 encoded word, as S3 sends it. */
export function metadataToHeader(value: string): string {
  return NON_ASCII.test(value) ? `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=` : value;
}

/** Refuses, with 400 InvalidArgument naming `field`, a header that is to be stored or sent but could not be. */
export function checkHeader(field: string, name: string, value: string): void {
  const what = field.slice(0, 100);
  if (!HEADER_NAME.test(name))
    throw new S3Error('InvalidArgument', `${what}: '${name.slice(0, 100)}' is not a valid header name`, {
      ArgumentName: what,
    });
  if (!HEADER_VALUE.test(value)) {
    throw new S3Error(
      'InvalidArgument',
      `${what}: the value contains CR, LF, another control character or a character above U+00FF, which a header cannot carry`,
      { ArgumentName: what },
    );
  }
}

/**
 * After an early answer to a client still sending its body: reads and discards up to DRAIN_LIMIT more
 * bytes for at most `timeoutMs`, then closes. Closing at once (Connection: close) would reset the
 * connection while the client writes, and the reset can lose the answer before the client reads it.
 */
function lingerAfter(req: IncomingMessage, res: ServerResponse, timeoutMs: number): void {
  res.once('finish', () => {
    if (req.complete) return;
    let n = 0;
    const close = () => {
      clearTimeout(t);
      req.off('data', count).off('end', done);
      req.socket.destroy();
    };
    const count = (c: Buffer) => {
      n += c.length;
      if (n > DRAIN_LIMIT) close();
    };
    const done = () => {
      clearTimeout(t);
      req.off('data', count);
    };
    const t = setTimeout(close, timeoutMs);
    req.on('data', count).once('end', done);
  });
}

/** Parses "[::]:3900", "0.0.0.0:3900", "127.0.0.1:0" or "3900" into host and port. */
export function parseBindAddr(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  if (/^\d+$/.test(addr)) return { host: '::', port: Number(addr) };
  throw new Error(`invalid address '${addr}': expected host:port or [ipv6]:port`);
}

/** The S3 API's error renderer: S3 XML. */
export const s3ErrorRenderer: ErrorRenderer = (res, err, at) =>
  sendS3Error(res, err, at.resource, at.requestId, at.head);

/** The admin API's error renderer: `{ code, message, path }` JSON, as Garage's admin API answers. */
export const jsonErrorRenderer: ErrorRenderer = (res, err, at) => {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ code: err.code, message: err.message, path: at.resource });
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(at.head ? undefined : body);
};

/** Writes a small HTML status page (the website endpoint's 404s and errors). */
export function sendHtmlPage(res: ServerResponse, status: number, text: string, head: boolean): void {
  const body = `<!DOCTYPE html>\n<html><head><title>${status}</title></head><body><h1>${status}</h1><p>${text.replace(/[<>&"']/g, '')}</p></body></html>\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(head || status === 304 ? undefined : body);
}

/** The website endpoint's error renderer: an HTML page (browsers show it; no S3 XML). */
export const htmlErrorRenderer: ErrorRenderer = (res, err, at) => {
  if (res.headersSent) res.destroy();
  else sendHtmlPage(res, err.status, err.message, at.head);
};

/** Writes an S3 XML error response (when headers were not sent yet). */
export function sendS3Error(
  res: ServerResponse,
  err: S3Error,
  resource: string,
  requestId: string,
  head = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Messages may quote client input (keys, bucket names): characters XML 1.0 cannot carry become U+FFFD.
  const esc = (s: string) => xmlEscape(s, true);
  const extra = Object.entries(err.extra)
    .map(([k, v]) => `<${k}>${esc(v)}</${k}>`)
    .join('');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${esc(err.message)}</Message><Resource>${esc(resource)}</Resource><RequestId>${requestId}</RequestId>${extra}</Error>`;
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/xml');
  res.setHeader('x-amz-request-id', requestId);
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.setHeader('content-length', Buffer.byteLength(body));
  if (err.status === 304 || head) res.end();
  else res.end(body);
}

/**
 * Starts an HTTP server tuned for object storage: no request timeout (long uploads), but bounded
 * time for headers, bounded idle time for bodies and a connection cap (`limits`);
 * `Expect: 100-continue` handed to the handler so it authenticates before reading the body.
 */
export async function startHttpServer(
  bindAddr: string,
  handler: Handler,
  log: Logger,
  name: string,
  limits: Partial<HttpLimits> = {},
  renderError: ErrorRenderer = s3ErrorRenderer,
): Promise<Server> {
  const { host, port } = parseBindAddr(bindAddr);
  const { headersTimeoutMs, bodyIdleTimeoutMs, maxConnections } = { ...DEFAULT_HTTP_LIMITS, ...limits };
  const serve = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    watchBodyIdle(req, res, bodyIdleTimeoutMs);
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const started = Date.now();
    res.on('finish', () =>
      log.debug(
        { method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started, requestId },
        `${name} request`,
      ),
    );
    handler(req, res, { requestId, expectContinue }).catch(async (e: unknown) => {
      const err = asS3Error(e);
      if (err.code === 'ServiceUnavailable')
        log.warn({ err: errorMessage(e), url: req.url }, 'request failed: replicas unavailable');
      else if (!(e instanceof S3Error))
        log.error({ err: errorMessage(e), stack: (e as Error).stack, url: req.url }, 'internal error');
      if ((err.code === 'RequestTimeout' || err.code === 'MaxPostPreDataLengthExceeded') && !res.headersSent) {
        // A client too slow, or sending too much before it can be authenticated, gets no time to drain.
        res.setHeader('connection', 'close');
      } else if (!req.complete && !res.headersSent) {
        // A client still sending a small body gets its error after the body (it may not read
        // before it has written everything); a large or unsolicited body: answer and close.
        const length = Number(req.headers['content-length'] ?? Number.NaN);
        const sending = !expectContinue || continued.has(res);
        if (sending && length <= DRAIN_LIMIT) await drain(req, 10_000);
        else if (sending) lingerAfter(req, res, 10_000);
        else res.setHeader('connection', 'close');
      }
      renderError(res, err, { resource: (req.url ?? '/').split('?')[0]!, requestId, head: req.method === 'HEAD' });
      if (!req.readableEnded) {
        req.unpipe();
        req.resume();
      }
    });
  };
  // No overall request timeout (long uploads); headers within headersTimeoutMs, checked often enough
  // that the bound holds to within a quarter of it.
  const server = createServer(
    {
      requestTimeout: 0,
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(headersTimeoutMs / 4))),
      keepAliveTimeout: 65_000,
      maxHeaderSize: 64 * 1024,
    },
    serve(false),
  );
  server.maxConnections = maxConnections;
  // At most one warning per 10 s: a flood of refused connections must not flood the log too.
  let dropped = 0;
  let warnedAt = 0;
  server.on('drop', () => {
    dropped++;
    if (Date.now() - warnedAt < 10_000) return;
    warnedAt = Date.now();
    log.warn({ dropped, maxConnections }, `${name}: connections refused, too many open (GARAGE_MAX_CONNECTIONS)`);
    dropped = 0;
  });
  server.on('checkContinue', serve(true));
  // Other Expect values are ignored, as S3 does (Node would answer 417 Expectation Failed).
  server.on('checkExpectation', serve(false));
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    log.debug({ err: errorMessage(err) }, `${name}: client error`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '::' || host === '0.0.0.0' ? host : host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
