// URI canonicalisation for SigV4 (S3 flavour: the path is not double-encoded).
//
// Clients sign the canonical form of what they send, and AWS SDKs produce it
// by percent-encoding every byte outside the RFC 3986 unreserved set. We
// rebuild that form from the raw request target byte by byte: a valid %XX
// escape stands for its byte, every other character for its UTF-8 bytes, and
// each byte is re-emitted either literally (unreserved) or as %XX uppercase.
// Working on bytes keeps this injective (two targets that decode differently
// never share a canonical form) and tolerant of malformed or non-UTF-8 input.

const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~]/.test(ch)) UNRESERVED[c] = 1;
}
const PCT: string[] = [];
for (let b = 0; b < 256; b++) PCT.push(`%${b.toString(16).toUpperCase().padStart(2, '0')}`);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function encodeByte(b: number): string {
  return b < 128 && UNRESERVED[b] === 1 ? String.fromCharCode(b) : PCT[b]!;
}

const FAST_PATH = /^[A-Za-z0-9\-._~/]*$/;
const FAST_QUERY = /^[A-Za-z0-9\-._~]*$/;

/**
 * Canonical form of one URI component. In a path '/' separates segments and
 * stays literal while an escaped %2F stays escaped (some clients encode '/'
 * inside keys and sign it that way); in a query '+' means a space, as in
 * URLSearchParams, so the signature covers what the handlers will read.
 */
function canonicalComponent(s: string, inPath: boolean): string {
  if ((inPath ? FAST_PATH : FAST_QUERY).test(s)) return s;
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const h = i + 2 < n ? hexValue(s.charCodeAt(i + 1)) : -1;
      const l = h >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (l >= 0) {
        out += encodeByte(h * 16 + l);
        i += 2;
      } else {
        out += '%25';
      }
    } else if (c === 0x2f /* / */) {
      out += inPath ? '/' : '%2F';
    } else if (c === 0x2b /* + */) {
      out += inPath ? '%2B' : '%20';
    } else if (c < 0x80) {
      out += encodeByte(c);
    } else {
      // Non-ASCII only reaches us from callers that pass decoded strings; Node's
      // HTTP parser rejects raw non-ASCII request targets.
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += PCT[b]!;
    }
  }
  return out;
}

/** Canonical URI of a raw request path for S3 SigV4 (not double-encoded). */
export function canonicalPath(rawPath: string): string {
  return canonicalComponent(rawPath === '' ? '/' : rawPath, true);
}

/** One raw query parameter: name and value exactly as they appear in the URL. */
export interface RawParam {
  rawName: string;
  rawValue: string;
}

/** Splits a raw query string into parameters without decoding them (empty parts are skipped, like URLSearchParams). */
export function splitQuery(rawQuery: string): RawParam[] {
  const out: RawParam[] = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? { rawName: part, rawValue: '' } : { rawName: part.slice(0, eq), rawValue: part.slice(eq + 1) });
  }
  return out;
}

/** Decodes a query component the way URLSearchParams does ('+' is a space, malformed escapes stay literal). */
export function decodeQueryComponent(raw: string): string {
  const s = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Same result as URLSearchParams for the odd malformed escape.
    return new URLSearchParams(`x=${raw}`).get('x') ?? s;
  }
}

/** Canonical query string: every name and value re-encoded, sorted by name then value. */
export function canonicalQuery(params: readonly RawParam[]): string {
  const items: [string, string][] = params.map((p) => [
    canonicalComponent(p.rawName, false),
    canonicalComponent(p.rawValue, false),
  ]);
  // Sort on the encoded forms (all ASCII), by name first: sorting "name=value"
  // strings would misplace a name that is a prefix of another.
  items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  let out = '';
  for (let i = 0; i < items.length; i++) out += `${i ? '&' : ''}${items[i]![0]}=${items[i]![1]}`;
  return out;
}
