import { S3Error } from './s3_error.ts';

/*
 * XML for the S3 API, both ways, without a general-purpose XML library: request documents are
 * small and schema-like, and every value in them (keys, prefixes, ETags, CORS and website fields)
 * must reach the handlers exactly as the client wrote it. So the parser keeps text byte for byte
 * (no trimming, no number or boolean coercion), decodes the five predefined entities and character
 * references exactly once, refuses DOCTYPE (no entity expansion of any kind), and enforces limits
 * while it reads, so a hostile body is refused after its first offending bytes instead of after
 * being buffered and parsed whole. The serializer escapes every character an XML 1.0 parser would
 * otherwise drop, normalize or refuse.
 */

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MALFORMED = 'The XML you provided was not well-formed or did not validate against our published schema';

/** An element of a request document: its local name (namespace prefix dropped), child elements and own text. */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  /** The element's character data, entities decoded, excluding its children's (empty when it has children). */
  text: string;
}

/** Limits for one kind of request document. */
export interface XmlLimits {
  /** Largest body, in bytes. */
  maxBytes: number;
  /** Deepest nesting of elements (the root is at depth 1). */
  maxDepth?: number;
  /** Most elements in the document. */
  maxElements?: number;
  /** Most elements with a given local name, and what to tell a client that sends more. */
  maxCount?: Record<string, { max: number; message: string }>;
}

const DEFAULT_DEPTH = 16;
const DEFAULT_ELEMENTS = 10_000;
/** Longest tag, comment, CDATA section or declaration: far above any S3 document's, far below a body. */
const MAX_TOKEN = 64 * 1024;
/** Longest text of one element (an object key is at most 1024 bytes). */
const MAX_TEXT = 64 * 1024;
/** Longest entity or character reference kept back while waiting for its ';' (`&#x0010FFFF;`). */
const MAX_REF = 32;

// Characters XML 1.0 allows in a document (the Char production), and those it does not.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NAME =
  /^[A-Za-z_:\u00C0-\uD7FF\uF900-\uFFFD\u{10000}-\u{EFFFF}][\w.\-:\u00B7\u00C0-\uD7FF\uF900-\uFFFD\u{10000}-\u{EFFFF}]*$/u;
const ATTR = /^\s+([^\s=/>"']+)\s*=\s*("[^"<]*"|'[^'<]*')/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function malformed(detail: string): S3Error {
  return new S3Error('MalformedXML', `${MALFORMED}: ${detail}`);
}

/** "U+0000" for the first character of `c`. */
function codePointName(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Whether a code point is a character XML 1.0 allows. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** Decodes the entity and character references of XML character data (exactly once). */
function decodeReferences(raw: string): string {
  if (!raw.includes('&')) return raw;
  let out = '';
  let i = 0;
  for (;;) {
    const amp = raw.indexOf('&', i);
    if (amp < 0) return out + raw.slice(i);
    out += raw.slice(i, amp);
    const semi = raw.indexOf(';', amp);
    if (semi < 0 || semi - amp > MAX_REF)
      throw malformed('an "&" that does not start an entity or character reference');
    const ref = raw.slice(amp + 1, semi);
    if (ref.startsWith('#')) {
      const m = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
      const cp = m ? (m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10)) : Number.NaN;
      if (!isXmlChar(cp)) throw malformed(`&${ref}; is not a character XML 1.0 allows`);
      out += String.fromCodePoint(cp);
    } else {
      const c = PREDEFINED[ref];
      // Only the predefined entities exist: documents cannot declare others (no DOCTYPE).
      if (c === undefined) throw malformed(`undefined entity &${ref};`);
      out += c;
    }
    i = semi + 1;
  }
}

const WS = /^[ \t\n]*$/;

/**
 * A streaming, strict XML 1.0 parser for S3 request documents: feed it the body chunk by chunk
 * with `write`, then call `end` for the root element. Every violation is an S3Error (MalformedXML,
 * or MaxMessageLengthExceeded for a body over `maxBytes`).
 */
export class XmlParser {
  readonly #limits: Required<Omit<XmlLimits, 'maxCount'>> & Pick<XmlLimits, 'maxCount'>;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  #buf = '';
  #bytes = 0;
  #pendingCR = false;
  #started = false;
  #root: XmlElement | undefined;
  #rootClosed = false;
  readonly #stack: { el: XmlElement; qname: string }[] = [];
  #elements = 0;
  readonly #counts = new Map<string, number>();

  constructor(limits: XmlLimits) {
    this.#limits = { maxDepth: DEFAULT_DEPTH, maxElements: DEFAULT_ELEMENTS, ...limits };
  }

  /** Parses the next chunk of the body. */
  write(chunk: Uint8Array): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limits.maxBytes)
      throw new S3Error(
        'MaxMessageLengthExceeded',
        `Your request was too big: this request's XML body may have at most ${this.#limits.maxBytes} bytes`,
      );
    this.#feed(this.#decode(chunk, false), false);
  }

  /** Ends the body; returns the root element. */
  end(): XmlElement {
    this.#feed(this.#decode(undefined, true), true);
    if (!this.#root) throw malformed('the document has no root element');
    if (this.#stack.length) throw malformed(`<${this.#stack[this.#stack.length - 1]!.qname}> is not closed`);
    return this.#root;
  }

  #decode(chunk: Uint8Array | undefined, final: boolean): string {
    let s: string;
    try {
      s = chunk ? this.#decoder.decode(chunk, { stream: true }) : this.#decoder.decode();
    } catch {
      throw malformed('the body is not valid UTF-8');
    }
    const bad = NOT_XML_CHAR.exec(s);
    if (bad) throw malformed(`the body contains ${codePointName(bad[0])}, which XML 1.0 does not allow`);
    // End-of-line handling (XML 1.0 §2.11): CRLF and lone CR are LF. A CR at the end of a chunk
    // waits for the next one, which may start with its LF.
    if (this.#pendingCR) s = `\r${s}`;
    this.#pendingCR = !final && s.endsWith('\r');
    if (this.#pendingCR) s = s.slice(0, -1);
    return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
  }

  #feed(s: string, final: boolean): void {
    const buf = this.#buf + s;
    let pos = 0;
    while (pos < buf.length) {
      if (buf[pos] !== '<') {
        const lt = buf.indexOf('<', pos);
        let upto = lt < 0 ? buf.length : lt;
        if (lt < 0 && !final) upto = this.#keepBack(buf, pos);
        if (upto > pos) this.#text(buf.slice(pos, upto));
        pos = upto;
        if (lt < 0) break;
        continue;
      }
      const next = this.#markup(buf, pos, final);
      if (next < 0) break;
      pos = next;
    }
    this.#buf = buf.slice(pos);
    if (this.#buf.length > MAX_TOKEN)
      throw malformed(`a tag, comment or declaration longer than ${MAX_TOKEN} characters`);
    if (final && this.#buf.length) throw malformed('the document ends inside a tag, comment or declaration');
  }

  /** Where text that may continue in the next chunk can safely be cut: before a reference or "]]" still open. */
  #keepBack(buf: string, pos: number): number {
    const amp = buf.lastIndexOf('&');
    if (amp >= pos && !buf.includes(';', amp) && buf.length - amp <= MAX_REF) return amp;
    if (buf.endsWith(']]')) return Math.max(pos, buf.length - 2);
    if (buf.endsWith(']')) return Math.max(pos, buf.length - 1);
    return buf.length;
  }

  #text(raw: string): void {
    this.#started = true;
    if (raw.includes(']]>')) throw malformed('"]]>" in character data');
    const top = this.#stack[this.#stack.length - 1];
    if (!top) {
      if (!WS.test(raw)) throw malformed(this.#root ? 'text after the root element' : 'text before the root element');
      return;
    }
    this.#addText(top.el, decodeReferences(raw));
  }

  #addText(el: XmlElement, text: string): void {
    if (el.children.length) {
      // Whitespace between child elements is layout; S3 documents have no mixed content.
      if (!WS.test(text)) throw malformed(`<${el.name}> mixes text and elements`);
      return;
    }
    el.text += text;
    if (el.text.length > MAX_TEXT) throw malformed(`the value of <${el.name}> is longer than ${MAX_TEXT} characters`);
  }

  /** Handles the markup at `pos`; returns the position after it, or -1 when it is not complete yet. */
  #markup(buf: string, pos: number, final: boolean): number {
    const rest = buf.length - pos;
    const starts = (p: string) => buf.startsWith(p, pos);
    // Too short to tell what it is: wait for more (the end of the body decides in #feed).
    const undecided = (p: string) => rest < p.length && p.startsWith(buf.slice(pos));
    if (starts('<?')) return this.#pi(buf, pos);
    if (starts('<!--')) {
      const end = buf.indexOf('-->', pos + 4);
      if (end < 0) return -1;
      if (buf.slice(pos + 4, end).includes('--') || (end > pos + 4 && buf[end - 1] === '-'))
        throw malformed('"--" inside a comment');
      this.#started = true;
      return end + 3;
    }
    if (starts('<![CDATA[')) {
      const top = this.#stack[this.#stack.length - 1];
      if (!top) throw malformed('a CDATA section outside the root element');
      const end = buf.indexOf(']]>', pos + 9);
      if (end < 0) return -1;
      this.#addText(top.el, buf.slice(pos + 9, end));
      return end + 3;
    }
    if (!final && (undecided('<!--') || undecided('<![CDATA['))) return -1;
    if (starts('<!')) throw malformed(starts('<!DOCTYPE') ? 'DOCTYPE declarations are not allowed' : 'unexpected "<!"');
    if (starts('</')) {
      const end = buf.indexOf('>', pos);
      if (end < 0) return -1;
      const m = /^<\/([^\s>]+)\s*>$/.exec(buf.slice(pos, end + 1));
      const top = this.#stack[this.#stack.length - 1];
      if (!m || !top || m[1] !== top.qname)
        throw malformed(`unexpected end tag ${buf.slice(pos, Math.min(end + 1, pos + 100))}`);
      this.#stack.pop();
      if (!this.#stack.length) this.#rootClosed = true;
      return end + 1;
    }
    return this.#startTag(buf, pos);
  }

  #pi(buf: string, pos: number): number {
    const end = buf.indexOf('?>', pos + 2);
    if (end < 0) return -1;
    const body = buf.slice(pos + 2, end);
    const target = /^[^\s?]+/.exec(body)?.[0] ?? '';
    if (!NAME.test(target)) throw malformed('a processing instruction without a valid target');
    if (target.toLowerCase() === 'xml') {
      if (this.#started) throw malformed('the XML declaration must come first');
      const enc = /\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(body);
      const name = (enc?.[1] ?? enc?.[2])?.toLowerCase();
      if (name !== undefined && !['utf-8', 'utf8', 'us-ascii', 'ascii'].includes(name))
        throw malformed(`encoding "${name}" (only UTF-8 is accepted)`);
    }
    this.#started = true;
    return end + 2;
  }

  #startTag(buf: string, pos: number): number {
    // Find the '>' that ends the tag: attribute values may hold '>' but not '<'.
    let quote = '';
    let end = -1;
    for (let i = pos + 1; i < buf.length; i++) {
      const c = buf[i];
      if (quote) {
        if (c === quote) quote = '';
        else if (c === '<') throw malformed('"<" inside an attribute value');
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '<') throw malformed('"<" inside a tag');
      else if (c === '>') {
        end = i;
        break;
      }
    }
    if (end < 0) return -1;
    const tag = buf.slice(pos + 1, end);
    const selfClosing = tag.endsWith('/');
    const inner = selfClosing ? tag.slice(0, -1) : tag;
    const qname = /^[^\s/>]*/.exec(inner)![0];
    if (!NAME.test(qname)) throw malformed(`invalid element name in <${tag.slice(0, 100)}>`);
    let attrs = inner.slice(qname.length);
    const seen = new Set<string>();
    while (!/^\s*$/.test(attrs)) {
      const m = ATTR.exec(attrs);
      if (!m || !NAME.test(m[1]!) || seen.has(m[1]!)) throw malformed(`invalid attributes in <${qname}>`);
      seen.add(m[1]!);
      decodeReferences(m[2]!.slice(1, -1));
      attrs = attrs.slice(m[0].length);
    }
    this.#open(qname, selfClosing);
    return end + 1;
  }

  #open(qname: string, selfClosing: boolean): void {
    this.#started = true;
    if (this.#rootClosed) throw malformed('more than one root element');
    if (this.#stack.length >= this.#limits.maxDepth)
      throw malformed(`elements nested more than ${this.#limits.maxDepth} levels deep`);
    if (++this.#elements > this.#limits.maxElements) throw malformed(`more than ${this.#limits.maxElements} elements`);
    const name = qname.slice(qname.indexOf(':') + 1);
    const limit = this.#limits.maxCount?.[name];
    if (limit) {
      const n = (this.#counts.get(name) ?? 0) + 1;
      if (n > limit.max) throw malformed(limit.message);
      this.#counts.set(name, n);
    }
    const el: XmlElement = { name, children: [], text: '' };
    const parent = this.#stack[this.#stack.length - 1]?.el;
    if (parent) {
      if (!WS.test(parent.text)) throw malformed(`<${parent.name}> mixes text and elements`);
      parent.text = '';
      parent.children.push(el);
    } else this.#root = el;
    if (selfClosing) {
      if (!parent) this.#rootClosed = true;
    } else this.#stack.push({ el, qname });
  }
}

/** Parses a whole request document (see XmlParser). */
export function parseXml(body: Uint8Array | string, limits: XmlLimits = { maxBytes: 1024 * 1024 }): XmlElement {
  const p = new XmlParser(limits);
  p.write(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return p.end();
}

/** The root element, checked to be `name`. */
export function xmlRoot(root: XmlElement, name: string): XmlElement {
  if (root.name !== name) throw malformed(`expected a <${name}> document, got <${root.name}>`);
  return root;
}

/** Every child element named `name`. */
export function xmlChildren(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The child element named `name`, if any; MalformedXML when there are several. */
export function xmlChild(el: XmlElement, name: string): XmlElement | undefined {
  const found = xmlChildren(el, name);
  if (found.length > 1) throw malformed(`<${el.name}> has more than one <${name}>`);
  return found[0];
}

/** The text of a value element exactly as written (entities decoded); MalformedXML if it has elements inside. */
export function xmlText(el: XmlElement): string {
  if (el.children.length) throw malformed(`<${el.name}> must hold a value, not elements`);
  return el.text;
}

/** The text of the child `name` exactly as written, if it is there. */
export function xmlChildText(el: XmlElement, name: string): string | undefined {
  const c = xmlChild(el, name);
  return c === undefined ? undefined : xmlText(c);
}

/**
 * The text of the child `name` with surrounding XML whitespace removed, if it is there: for
 * integers and booleans, whose XML Schema types collapse whitespace (strings keep theirs).
 */
export function xmlChildToken(el: XmlElement, name: string): string | undefined {
  return xmlChildText(el, name)?.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
}

// Characters XML 1.0 cannot carry at all, not even as character references (lone surrogates
// included: with the u flag, a paired surrogate is one code point and does not match).
const FORBIDDEN = /[\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/u;
const FORBIDDEN_ALL = /[\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/gu;
// What to escape: markup, characters an XML parser would normalize (CR, LF, tab) and ones it
// might not show or keep (C1 controls, NEL, line and paragraph separators).
const ESCAPED = /[<>&'"\t\n\r\u007F-\u009F\u2028\u2029]/g;
const NAMED: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };

/** The first character of `s` that XML 1.0 cannot carry (NUL, most C0 controls, U+FFFE, U+FFFF), if any. */
export function xmlForbiddenChar(s: string): string | undefined {
  return FORBIDDEN.exec(s)?.[0];
}

/**
 * Escapes text for an XML element or attribute. Characters XML 1.0 cannot carry are refused
 * (InvalidArgument), or with `lossy` replaced by U+FFFD (for messages meant for people).
 */
export function xmlEscape(s: string, lossy = false): string {
  const bad = xmlForbiddenChar(s);
  let t = s;
  if (bad !== undefined) {
    if (!lossy)
      throw new S3Error(
        'InvalidArgument',
        `The response would contain ${codePointName(bad)}, which XML 1.0 cannot represent; list with encoding-type=url to get such keys`,
      );
    t = s.replace(FORBIDDEN_ALL, '\uFFFD');
  }
  return t.replace(ESCAPED, (c) => NAMED[c] ?? `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
}

/** Serializes a value as elements named `name`: arrays repeat it, objects nest ('@' keys are attributes), null and undefined are left out. */
function serialize(name: string, value: unknown, out: string[]): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) serialize(name, v, out);
    return;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    const attrs = entries
      .filter(([k, v]) => k.startsWith('@') && v !== undefined && v !== null)
      .map(([k, v]) => ` ${k.slice(1)}="${xmlEscape(String(v))}"`)
      .join('');
    out.push(`<${name}${attrs}>`);
    for (const [k, v] of entries) if (!k.startsWith('@')) serialize(k, v, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${xmlEscape(String(value))}</${name}>`);
}

/** Serializes an S3 response document with the XML declaration and the S3 namespace. */
export function toXml(root: string, body: Record<string, unknown>): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  serialize(root, { '@xmlns': S3_NS, ...body }, out);
  return out.join('');
}
