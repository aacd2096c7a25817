/** Parsing and formatting of `host:port` / `[v6]:port` addresses and `id@addr` peer strings. */
import { isIPv6 } from 'node:net';
import { NetError } from '../util/errors.ts';

/** A parsed socket address; `host` has no brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port`, `1.2.3.4:port` or `[v6]:port` (port 0 allowed for binding). */
export function parseHostPort(addr: string): HostPort {
  const s = addr.trim();
  let host: string;
  let portStr: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') throw new NetError(`invalid address "${addr}": expected [ipv6]:port`);
    host = s.slice(1, close);
    portStr = s.slice(close + 2);
    if (!isIPv6(host)) throw new NetError(`invalid address "${addr}": "${host}" is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon <= 0) throw new NetError(`invalid address "${addr}": expected host:port`);
    host = s.slice(0, colon);
    portStr = s.slice(colon + 1);
    // A bare IPv6 address is ambiguous (which colon starts the port?): demand brackets.
    if (host.includes(':')) throw new NetError(`invalid address "${addr}": write IPv6 addresses as [addr]:port`);
  }
  if (!/^\d{1,5}$/.test(portStr)) throw new NetError(`invalid address "${addr}": port "${portStr}" is not a number`);
  const port = Number(portStr);
  if (port > 65535) throw new NetError(`invalid address "${addr}": port ${port} out of range`);
  if (host === '') throw new NetError(`invalid address "${addr}": empty host`);
  return { host, port };
}

/** Formats a host and port, bracketing IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A node id and the address where it listens. */
export interface PeerAddr {
  id: string;
  addr: string;
}

const NODE_ID_RE = /^[0-9a-f]{64}$/;

/** True for a full node id: 64 hex chars (case-insensitive). */
export function isNodeId(s: string): boolean {
  return NODE_ID_RE.test(s.toLowerCase());
}

/** Parses `id@host:port` (id = 64 hex chars) with an error naming what is wrong. */
export function parsePeerAddr(s: string): PeerAddr {
  const str = s.trim();
  const at = str.indexOf('@');
  if (at < 0) throw new NetError(`invalid peer "${s}": expected <node id>@<host>:<port>`);
  const id = str.slice(0, at).toLowerCase();
  if (!NODE_ID_RE.test(id)) {
    throw new NetError(
      `invalid peer "${s}": node id must be 64 hex characters, got ${id.length} character(s)${/^[0-9a-f]*$/.test(id) ? '' : ' with non-hex'}`,
    );
  }
  const addr = str.slice(at + 1);
  const hp = parseHostPort(addr);
  if (hp.port === 0) throw new NetError(`invalid peer "${s}": port 0`);
  return { id, addr: formatHostPort(hp.host, hp.port) };
}
