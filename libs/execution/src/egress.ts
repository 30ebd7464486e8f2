import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCliAgent, networkMode, type NetworkMode, type ResolvedNetwork } from '@drover/contracts';
import { providerKeys } from './agents/cli-agents';
import { agentProviders, providerUrl, type ProviderEndpoints } from './agents/providers';
import { EGRESS_FORWARDER, EGRESS_SOCKET, FORWARDER_SOURCE } from './egress-forwarder';
import { EgressProxy, type DeniedTarget } from './egress-proxy';
import { ruleText, rulesOf, urlRule, type EgressRule } from './egress-rules';
import type { HostLookup } from './repo-source';
import type { SandboxNetwork } from './sandbox-driver';

/** What a runner's egress proxies go by. */
export interface EgressSettings {
  /** The providers' base URLs this runner is configured with; the rest use their defaults. */
  endpoints: ProviderEndpoints;
  /** Let a task's own allowlist entries reach private, loopback and link-local addresses. */
  allowPrivate: boolean;
  lookup?: HostLookup;
}

/** A run's egress as its result.json tells it. */
export interface EgressSummary {
  policy: NetworkMode | 'allow';
  /** What the proxy lets through (`host`, `*.domain`, `host:port`); empty for none and open. */
  allowed: string[];
  /** What it refused, each destination with its count. */
  denied: DeniedTarget[];
}

/** A run's egress: the sandbox's network, and the proxy behind it (closed with the run). */
export interface RunEgress {
  network: SandboxNetwork;
  summary(): EgressSummary;
  close(): Promise<void>;
}

export interface EgressRequest {
  agent: string;
  model?: string;
  network: ResolvedNetwork;
  /** The run's own directory: the proxy's socket goes in `egress/` under it. */
  runDir: string;
  /** False for a driver that cannot confine commands (process): no proxy is started. */
  isolated: boolean;
  /** The runner's provider keys (a multi-provider CLI is allowed those it is given). */
  providerEnv: Readonly<Record<string, string>>;
  log: (text: string) => void;
}

/**
 * Sets up a run's egress as its policy says: nothing, the runner's networks, or
 * a proxy of its own that lets through only the allowlist and, for a CLI
 * agent, its provider's endpoint. Each refused destination is logged once and
 * counted.
 */
export async function openEgress(
  request: EgressRequest,
  settings: EgressSettings,
): Promise<RunEgress> {
  const policy = networkMode(request.network);
  if (policy === 'none' || policy === 'open') {
    request.log(
      policy === 'none'
        ? 'egress: none (the sandbox has no network)'
        : 'egress: open (the task asked for every network the runner reaches; nothing is filtered)',
    );
    return fixedEgress({ mode: policy }, { policy, allowed: [], denied: [] });
  }
  const rules = egressRules(request, settings.endpoints);
  const allowed = rules.map((rule) => ruleText(rule));
  if (!request.isolated) {
    request.log(
      `egress: ${policy} (${allowed.join(', ')}) is not enforced: the driver does not isolate`,
    );
    return fixedEgress({ mode: 'open' }, { policy, allowed, denied: [] });
  }
  request.log(
    allowed.length
      ? `egress: ${policy}: only ${allowed.join(', ')}, through the run's proxy`
      : `egress: ${policy}: nothing is allowed (the runner passes ${request.agent} no provider key)`,
  );
  const dir = join(request.runDir, 'egress');
  await mkdir(dir);
  // The sandbox's user reads the forwarder and connects to the socket; the runner alone writes here.
  await chmod(dir, 0o755);
  await writeFile(join(dir, EGRESS_FORWARDER), FORWARDER_SOURCE, { mode: 0o644 });
  const proxy = await EgressProxy.listen(join(dir, EGRESS_SOCKET), {
    rules,
    allowPrivate: settings.allowPrivate,
    lookup: settings.lookup,
    onDenied: (method, target, reason) =>
      request.log(`egress: denied ${method} ${target} (${reason})`),
  });
  return {
    network: { mode: 'proxy', dir },
    summary: () => ({ policy, allowed, denied: proxy.denied() }),
    close: () => proxy.close(),
  };
}

/** The task's allowlist, then (for a CLI agent) each of its providers' endpoints. */
function egressRules(request: EgressRequest, endpoints: ProviderEndpoints): EgressRule[] {
  const { agent, model, network, providerEnv } = request;
  const own = typeof network === 'object' ? rulesOf(network.allow) : [];
  if (!isCliAgent(agent)) return own;
  const providers = agentProviders(agent, model, providerKeys(agent, providerEnv));
  return [...own, ...providers.map((provider) => urlRule(providerUrl(provider, endpoints)))];
}

function fixedEgress(network: SandboxNetwork, summary: EgressSummary): RunEgress {
  return { network, summary: () => summary, close: () => Promise.resolve() };
}
