import { isIP } from 'node:net';
import { parseHostPattern, type HostPattern } from '@drover/contracts';

/** One allowed destination of a run's egress proxy. */
export interface EgressRule extends HostPattern {
  /**
   * Set by the runner's own configuration (a provider's base URL): it may be on
   * a private network. A task's own entries may not, unless the runner allows it.
   */
  trusted: boolean;
}

/** Where a connection through the proxy goes: a lowercase name, an IPv4 or a bare IPv6 address. */
export interface EgressTarget {
  host: string;
  port: number;
}

/** Ports a rule without one allows: HTTPS and HTTP. */
const DEFAULT_PORTS: readonly number[] = [443, 80];

/** The rules for a task's allowlist entries (checked at submission, so each parses). */
export function rulesOf(patterns: readonly string[]): EgressRule[] {
  return patterns.flatMap((text) => {
    const parsed = parseHostPattern(text);
    return 'problem' in parsed ? [] : [{ ...parsed, trusted: false }];
  });
}

/** The rule for a provider's base URL: its host and its port (explicit, or the scheme's). */
export function urlRule(url: string): EgressRule {
  const parsed = new URL(url);
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'http:' ? 80 : 443;
  return { host: hostOf(parsed.hostname), wildcard: false, port, trusted: true };
}

/** The first rule that lets a connection to `target` through, or undefined. */
export function matchRule(
  rules: readonly EgressRule[],
  target: EgressTarget,
): EgressRule | undefined {
  return rules.find((rule) => {
    const portOk =
      rule.port === undefined ? DEFAULT_PORTS.includes(target.port) : rule.port === target.port;
    if (!portOk) return false;
    if (!rule.wildcard) return sameHost(rule.host, target.host);
    // `*.pypi.org` is any name below pypi.org (files.pypi.org, a.b.pypi.org), not pypi.org itself.
    return isIP(target.host) === 0 && target.host.endsWith(`.${rule.host}`);
  });
}

/** A rule as the run's log and result name it: `host`, `*.domain`, `host:port`, `[v6]:port`. */
export function ruleText(rule: EgressRule): string {
  const host = isIP(rule.host) === 6 ? `[${rule.host}]` : rule.host;
  return `${rule.wildcard ? '*.' : ''}${host}${rule.port === undefined ? '' : `:${rule.port}`}`;
}

/** A target as the run's log and result name it: `host:port`, `[v6]:port`. */
export function targetText(target: EgressTarget): string {
  return `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
}

/**
 * The target a CONNECT request names (`host:port`, `[v6]:port`; the port is
 * required), or undefined when it names none.
 */
export function connectTarget(authority: string): EgressTarget | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/@\s]+):([0-9]{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  const host = hostOf(match[1]);
  return host ? { host, port } : undefined;
}

/** The host of an absolute http:// request URI and its port (80 when left out), or undefined. */
export function requestTarget(uri: string): EgressTarget | undefined {
  if (!/^http:\/\//i.test(uri)) return undefined;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  return { host: hostOf(url.hostname), port: url.port ? Number(url.port) : 80 };
}

/** A host as matched: lowercase, IPv6 without brackets and in its shortest form. */
function hostOf(raw: string): string {
  const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return bare.toLowerCase();
}

function sameHost(ruleHost: string, host: string): boolean {
  return hostOf(ruleHost) === host;
}
