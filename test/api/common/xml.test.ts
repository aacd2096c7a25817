/** The S3 XML parser and serializer (src/api/common/xml.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../src/api/common/s3_error.ts';
import {
  XmlParser,
  parseXml,
  toXml,
  xmlChild,
  xmlChildText,
  xmlChildToken,
  xmlChildren,
  xmlEscape,
  xmlForbiddenChar,
  xmlText,
  type XmlElement,
  type XmlLimits,
} from '../../../src/api/common/xml.ts';

const LIMITS: XmlLimits = { maxBytes: 1024 * 1024 };

/** Fails unless `fn` throws an S3Error with this code (and a message matching `message`). */
function assertS3Error(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof S3Error, `an S3Error, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** The texts of every <Key> of a <Delete> document. */
function keys(doc: XmlElement): string[] {
  return xmlChildren(doc, 'Object').map((o) => xmlChildText(o, 'Key') ?? '<none>');
}

/** Parses `text` fed in pieces of `size` bytes. */
function parseInPieces(text: string | Buffer, size: number, limits = LIMITS): XmlElement {
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const p = new XmlParser(limits);
  for (let i = 0; i < buf.length; i += size) p.write(buf.subarray(i, i + size));
  return p.end();
}

describe('XML request parser', () => {
  it('keeps values byte for byte: no trimming, no number or boolean coercion', () => {
    const doc = parseXml(
      '<Delete>\n  <Object><Key> a </Key></Object>\n  <Object><Key>\tb\t</Key></Object>\n' +
        '<Object><Key>0012</Key></Object><Object><Key>1e3</Key></Object><Object><Key>true</Key></Object><Object><Key></Key></Object></Delete>',
    );
    assert.equal(doc.name, 'Delete');
    assert.deepEqual(keys(doc), [' a ', '\tb\t', '0012', '1e3', 'true', '']);
    assert.equal(doc.text, '', 'whitespace between elements is layout');
  });

  it('decodes entities and character references exactly once', () => {
    const doc = parseXml('<K>&amp;amp; &lt;&gt;&quot;&apos; &#x20;&#32;&#10;&#13;&#9; &#x1F680; &#128640; a&amp;b</K>');
    assert.equal(xmlText(doc), '&amp; <>"\'   \n\r\t 🚀 🚀 a&b');
  });

  it('normalizes literal line ends (CRLF and CR are LF), not character references', () => {
    assert.equal(xmlText(parseXml('<K>a\r\nb\rc\nd&#13;&#10;e</K>')), 'a\nb\nc\nd\r\ne');
  });

  it('keeps CDATA sections as they are and joins them with the text around them', () => {
    assert.equal(xmlText(parseXml('<K>x<![CDATA[<a> &amp; ]]]>y</K>')), 'x<a> &amp; ]y');
  });

  it('accepts the XML declaration, comments, processing instructions, namespaces and attributes', () => {
    const doc = parseXml(
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><?pi x?>' +
        '<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" a=\'1 > 0\'><s3:Object><s3:Key>k<!-- inside -->ey</s3:Key></s3:Object></s3:Delete>\n<!-- after -->\n',
    );
    assert.deepEqual(keys(doc), ['key']);
    assert.deepEqual(keys(parseXml('<Delete><Object><Key/></Object></Delete>')), ['']);
  });

  it('gives the same tree whatever the chunking (multi-byte characters, CRLF, references and "]]>" split)', () => {
    const text =
      '<?xml version="1.0"?><Delete><Object><Key>ünï 日本 🚀 a\r\nb &amp;amp; &#x1F680; <![CDATA[]]]]><![CDATA[>]]></Key></Object>' +
      '<Object><Key>]] ]</Key></Object></Delete>';
    const whole = parseXml(text);
    assert.deepEqual(keys(whole), ['ünï 日本 🚀 a\nb &amp; 🚀 ]]>', ']] ]']);
    for (const size of [1, 2, 3, 5, 7]) assert.deepEqual(parseInPieces(text, size), whole, `pieces of ${size}`);
  });

  it('round-trips any string of XML characters through xmlEscape', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pool = [
      'a',
      ' ',
      '\t',
      '\n',
      '\r',
      '&',
      '<',
      '>',
      '"',
      "'",
      ']',
      ']]>',
      '\u007f',
      '\u0085',
      '\u009f',
      '\u2028',
      'é',
      '日',
      '🚀',
      '\uFFFD',
      '0',
      'e',
    ];
    for (let i = 0; i < 500; i++) {
      let s = '';
      const n = Math.floor(rand() * 20);
      for (let j = 0; j < n; j++) s += pool[Math.floor(rand() * pool.length)];
      const xml = `<K>${xmlEscape(s)}</K>`;
      assert.equal(xmlText(parseXml(xml)), s, JSON.stringify(s));
      assert.equal(xmlText(parseInPieces(xml, 3)), s, JSON.stringify(s));
    }
  });

  const malformed: [string, string | Buffer][] = [
    ['empty', ''],
    ['only whitespace', '  \n'],
    ['only a comment', '<!-- x -->'],
    ['not XML', 'hello'],
    ['unclosed root', '<Delete><Object>'],
    ['mismatched end tag', '<a><b></a></b>'],
    ['end tag without start', '</a>'],
    ['two roots', '<a/><b/>'],
    ['text after the root', '<a/>x'],
    ['text before the root', 'x<a/>'],
    ['entity outside the root', '<a/>&amp;'],
    ['DOCTYPE', '<!DOCTYPE a><a/>'],
    ['external entity', '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'],
    ['unknown entity', '<a>&nbsp;</a>'],
    ['bare ampersand', '<a>a & b</a>'],
    ['unterminated reference', '<a>&amp</a>'],
    ['reference to NUL', '<a>&#0;</a>'],
    ['reference to U+0001', '<a>&#x1;</a>'],
    ['reference to a surrogate', '<a>&#xD800;</a>'],
    ['reference to U+FFFE', '<a>&#xFFFE;</a>'],
    ['reference past U+10FFFF', '<a>&#x110000;</a>'],
    ['empty reference', '<a>&#;</a>'],
    ['literal NUL', '<a>\u0000</a>'],
    ['literal U+000B', '<a>\u000b</a>'],
    ['literal U+FFFF', '<a>\uffff</a>'],
    ['invalid UTF-8', Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e])],
    ['truncated UTF-8', Buffer.from([0x3c, 0x61, 0x3e, 0xc3])],
    ['encoded surrogate', Buffer.concat([Buffer.from('<a>'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('</a>')])],
    ['"<" in text', '<a>a<b</a>'],
    ['"]]>" in text', '<a>]]></a>'],
    ['mixed content', '<a>x<b/></a>'],
    ['text after children', '<a><b/>x</a>'],
    ['declaration not first', ' <?xml version="1.0"?><a/>'],
    ['second declaration', '<?xml version="1.0"?><?xml version="1.0"?><a/>'],
    ['UTF-16 declared', '<?xml version="1.0" encoding="UTF-16"?><a/>'],
    ['ISO-8859-1 declared', "<?xml version='1.0' encoding='ISO-8859-1'?><a/>"],
    ['"--" in a comment', '<a><!-- a -- b --></a>'],
    ['comment ending in "-"', '<a><!-- a ---></a>'],
    ['CDATA outside the root', '<![CDATA[x]]><a/>'],
    ['unterminated CDATA', '<a><![CDATA[x</a>'],
    ['unterminated comment', '<a/><!-- x'],
    ['unterminated tag', '<a'],
    ['invalid name', '<1a/>'],
    ['duplicate attribute', '<a x="1" x="2"/>'],
    ['attribute without quotes', '<a x=1/>'],
    ['"<" in an attribute', '<a x="<"/>'],
    ['unknown entity in an attribute', '<a x="&e;"/>'],
    ['attributes without space', '<a x="1"y="2"/>'],
  ];
  for (const [what, text] of malformed) {
    it(`refuses ${what} (MalformedXML), whole and byte by byte`, () => {
      assertS3Error(() => parseXml(text), 'MalformedXML');
      assertS3Error(() => parseInPieces(text, 1), 'MalformedXML');
    });
  }

  it('refuses nesting deeper than the limit as soon as it opens', () => {
    const p = new XmlParser({ maxBytes: 10_000_000, maxDepth: 16 });
    p.write(Buffer.from('<a>'.repeat(16)));
    assertS3Error(() => p.write(Buffer.from('<a>')), 'MalformedXML', /16 levels/);
    assertS3Error(
      () => parseXml(`${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}`, { maxBytes: 10_000_000 }),
      'MalformedXML',
      /levels deep/,
    );
  });

  it('refuses the element past a count limit as soon as it opens', () => {
    const limits: XmlLimits = { maxBytes: 10_000_000, maxCount: { Object: { max: 3, message: 'at most 3 objects' } } };
    const p = new XmlParser(limits);
    p.write(Buffer.from('<Delete><Object/><Object/><Object/>'));
    assertS3Error(() => p.write(Buffer.from('<Object>')), 'MalformedXML', /at most 3 objects/);
    assertS3Error(
      () => parseXml(`<a>${'<b/>'.repeat(101)}</a>`, { maxBytes: 10_000, maxElements: 100 }),
      'MalformedXML',
      /100 elements/,
    );
  });

  it('refuses a body over maxBytes (MaxMessageLengthExceeded) as soon as it is over', () => {
    const p = new XmlParser({ maxBytes: 100 });
    p.write(Buffer.from(`<a>${' '.repeat(90)}`));
    assertS3Error(() => p.write(Buffer.from('          ')), 'MaxMessageLengthExceeded');
  });

  it('refuses an overlong tag, comment or value without waiting for its end', () => {
    for (const start of ['<', '<a x="', '<!--', '<?pi ', '<a><![CDATA[']) {
      const p = new XmlParser({ maxBytes: 10_000_000 });
      p.write(Buffer.from(start));
      assertS3Error(() => p.write(Buffer.alloc(70 * 1024, 'a')), 'MalformedXML', /longer than/);
    }
    const p = new XmlParser({ maxBytes: 10_000_000 });
    p.write(Buffer.from('<a>'));
    assertS3Error(() => p.write(Buffer.alloc(70 * 1024, 'a')), 'MalformedXML', /longer than/);
  });

  it('reads values with the helpers: strings exact, integers and booleans without surrounding whitespace', () => {
    const doc = parseXml('<Part><PartNumber>\n 12 \n</PartNumber><ETag> "e" </ETag><X><Y/></X></Part>');
    assert.equal(xmlChildToken(doc, 'PartNumber'), '12');
    assert.equal(xmlChildText(doc, 'ETag'), ' "e" ');
    assert.equal(xmlChildText(doc, 'Missing'), undefined);
    assertS3Error(() => xmlChildText(doc, 'X'), 'MalformedXML', /value/);
    assertS3Error(() => xmlChild(parseXml('<a><b/><b/></a>'), 'b'), 'MalformedXML', /more than one/);
  });
});

describe('XML response serializer', () => {
  it('escapes markup, and CR, LF, tab, C1 controls and line separators as character references', () => {
    assert.equal(xmlEscape('a<b>&"\''), 'a&lt;b&gt;&amp;&quot;&apos;');
    assert.equal(
      xmlEscape('\r\n\t\u007f\u0085\u009f\u2028\u2029'),
      '&#xD;&#xA;&#x9;&#x7F;&#x85;&#x9F;&#x2028;&#x2029;',
    );
    assert.equal(xmlEscape('ünï 日本 🚀'), 'ünï 日本 🚀');
  });

  it('refuses characters XML 1.0 cannot carry, or replaces them when lossy', () => {
    for (const c of ['\u0000', '\u0001', '\u000b', '\u001f', '\ufffe', '\uffff', '\ud800', '\udfff']) {
      assert.equal(xmlForbiddenChar(`a${c}`), c);
      assertS3Error(() => xmlEscape(`a${c}b`), 'InvalidArgument', /encoding-type=url/);
      assert.equal(xmlEscape(`a${c}b<`, true), 'a\uFFFDb&lt;');
    }
    assert.equal(xmlForbiddenChar('tab\t lf\n cr\r 🚀 \u0085'), undefined);
  });

  it('builds documents: nested objects, repeated arrays, empty elements, skipped undefined', () => {
    const xml = toXml('R', { A: 'x', B: [1, 2], C: {}, D: undefined, E: null, F: { G: true, H: '' }, I: [] });
    assert.equal(
      xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n<R xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><A>x</A><B>1</B><B>2</B><C></C><F><G>true</G><H></H></F></R>',
    );
    assert.deepEqual(keys(parseXml(toXml('Delete', { Object: [{ Key: ' a\r\n' }, { Key: '&amp;' }] }))), [
      ' a\r\n',
      '&amp;',
    ]);
  });
});
