import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * What a task's sandbox may reach (its `network`):
 * - `none`: nothing, only the container's loopback (the default for non-CLI agents);
 * - `provider`: only the API of the agent's model provider, or the base URL the
 *   runner is configured with (the default for CLI agents);
 * - `{ allow: [...] }`: those hosts (`registry.npmjs.org`, `*.pypi.org`,
 *   `host:port`); a CLI agent's provider is allowed as well;
 * - `open`: everything the runner's machine reaches (explicit, and logged).
 * Allowed traffic goes through an egress proxy the runner controls.
 * `true` and `false`, the field's earlier form, still mean `open` and `none`.
 */
export const NETWORK_POLICIES = ['none', 'provider', 'open'] as const;
export type NetworkMode = (typeof NETWORK_POLICIES)[number];

export const NETWORK_LIMITS = { allowEntries: 100, patternLength: 260 } as const;

/** A host pattern, parsed: a name (`*.` for any subdomain of `suffix`) or an IP, and a port or none. */
export interface HostPattern {
  /** Lowercase name, an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  /** `*.host`: any name below `host`, not `host` itself. */
  wildcard: boolean;
  /** Without one, ports 443 and 80. */
  port?: number;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The pattern `text` stands for, or why it is not one. Allowed: a host name
 * (`registry.npmjs.org`), `*.` and a domain of at least two labels (`*.pypi.org`),
 * an IPv4 address, an IPv6 address in brackets, each optionally with `:port`.
 */
export function parseHostPattern(text: string): HostPattern | { problem: string } {
  if (text.length === 0) return { problem: 'is empty' };
  if (text.length > NETWORK_LIMITS.patternLength) {
    return { problem: `is longer than ${NETWORK_LIMITS.patternLength} characters` };
  }
  if ((NETWORK_POLICIES as readonly string[]).includes(text)) {
    return { problem: `"${text}" is a network policy, not a host: write network: ${text}` };
  }
  if (/[/@?#\s]/.test(text)) {
    return { problem: `"${text}" is not a host: give a name or address, no scheme, path or user` };
  }
  const parts = splitHostPort(text);
  if (!parts)
    return { problem: `"${text}" is not a host: write an IPv6 address in brackets, [::1]` };
  const port = parts.port === undefined ? undefined : portOf(parts.port);
  if (Number.isNaN(port)) {
    return { problem: `"${text}" has no valid port: a port is a number from 1 to 65535` };
  }
  if (parts.bracketed) {
    return isIP(parts.host) === 6
      ? { host: parts.host.toLowerCase(), wildcard: false, port }
      : { problem: `"${text}" is not a host: [${parts.host}] is not an IPv6 address` };
  }
  const host = parts.host.toLowerCase();
  if (isIP(host) === 4) return { host, wildcard: false, port };
  const problem = hostNameProblem(host);
  if (problem) return { problem: `"${text}" ${problem}` };
  const wildcard = host.startsWith('*.');
  return { host: wildcard ? host.slice(2) : host, wildcard, port };
}

/** `host` and the text after its last `:`, an IPv6 address's brackets taken off. */
function splitHostPort(
  text: string,
): { host: string; port?: string; bracketed: boolean } | undefined {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) return { host: bracketed[1], port: bracketed[2], bracketed: true };
  const [host = '', port, ...more] = text.split(':');
  return more.length ? undefined : { host, port, bracketed: false };
}

/** The port `text` names, or NaN. */
function portOf(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  return port >= 1 && port <= 65_535 ? port : NaN;
}

/** Why a lowercase name (`*.` allowed as a prefix) is not a host name, or undefined. */
function hostNameProblem(host: string): string | undefined {
  const wildcard = host.startsWith('*.');
  const labels = (wildcard ? host.slice(2) : host).split('.');
  if (host.length > 253 || !labels.every((label) => LABEL.test(label))) {
    return "is not a host: names are letters, digits and '-' between dots ('*.' only as a prefix)";
  }
  // "10.1" or "1.2.3.999": a resolver reads some of these as IPv4 addresses.
  if (/^[0-9]+$/.test(labels[labels.length - 1])) {
    return 'is not a host: an IPv4 address is four numbers 0-255, a.b.c.d';
  }
  if (wildcard && labels.length < 2) {
    return 'would allow a whole top-level domain: name a domain below it';
  }
  return undefined;
}

/** A host pattern as written in `network.allow`, checked by `parseHostPattern`. */
export const HostPatternText = z.string().superRefine((text, ctx) => {
  const parsed = parseHostPattern(text);
  if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
});

export const NetworkAllowlist = z
  .object({
    allow: z
      .array(HostPatternText)
      .min(1, 'an empty allowlist allows nothing: write network: none')
      .max(NETWORK_LIMITS.allowEntries),
  })
  .strict();
export type NetworkAllowlist = z.infer<typeof NetworkAllowlist>;

/** `none`, `provider`, `open`, `{ allow: [...] }`, or (the earlier form) `true` / `false`. */
export const NetworkPolicy = z.union([z.enum(NETWORK_POLICIES), NetworkAllowlist, z.boolean()], {
  error: () => 'must be "none", "provider", "open" or { allow: ["host", "*.domain", "host:port"] }',
});
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** A policy in its current form: booleans read as their earlier meaning. */
export type ResolvedNetwork = NetworkMode | NetworkAllowlist;

/**
 * The policy a task runs with: what it asked for, else its agent's default
 * (`provider` for a CLI agent, which needs its model, `none` for others).
 */
export function resolveNetwork(
  cliAgent: boolean,
  network: NetworkPolicy | undefined,
): ResolvedNetwork {
  if (network === undefined) return cliAgent ? 'provider' : 'none';
  if (typeof network === 'boolean') return network ? 'open' : 'none';
  return network;
}

/** How a policy reads in logs and results: `none`, `provider`, `open` or `allow`. */
export function networkMode(network: ResolvedNetwork): NetworkMode | 'allow' {
  return typeof network === 'string' ? network : 'allow';
}
