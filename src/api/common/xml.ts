import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './s3_error.ts';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: false, processEntities: true });
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, processEntities: true, isArray: (name) => ['Part', 'Object', 'Rule', 'CORSRule', 'AllowedMethod', 'AllowedOrigin', 'AllowedHeader', 'ExposeHeader'].includes(name) });

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Serializes an S3 response document with the XML declaration and the S3 namespace. */
export function toXml(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: { '@xmlns': S3_NS, ...body } })}`;
}

/** Parses a request body as XML; a malformed document is MalformedXML. */
export function parseXml(text: string): Record<string, unknown> {
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const doc = parser.parse(text) as Record<string, unknown>;
  // The validator accepts several top-level elements; a well-formed document has exactly one.
  if (Object.keys(doc).filter((k) => !k.startsWith('?')).length !== 1 || Object.values(doc).some((v) => Array.isArray(v))) {
    throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  }
  return doc;
}

/** Escapes text for an XML element. */
export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}
