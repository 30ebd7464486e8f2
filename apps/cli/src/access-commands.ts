import type { ApiKey, CreateKeyBody, IssuedKey } from '@drover/client';
import type { DroverApi } from './api-client';
import { dim, print, table, type Output } from './render';

const me = (api: DroverApi) => api.getMe();

const keyState = (k: ApiKey) =>
  k.revokedAt ? `revoked ${k.revokedAt}` : k.expiresAt ? `expires ${k.expiresAt}` : 'active';

/** How to use a new key, said once: the secret is never shown again. */
const handOver = (key: IssuedKey) =>
  `key ${key.id} (${key.role} of ${key.project}); shown only now:\n\n  export DROVER_API_KEY=${key.key}\n`;

/** `drover whoami`: the key's project and role. */
export async function whoami(api: DroverApi, opts: Output): Promise<number> {
  const who = await me(api);
  print(
    opts,
    `project ${who.project.slug} (${who.project.id}), role ${who.role}, key ${who.keyId}${who.expiresAt ? `, expires ${who.expiresAt}` : ''}`,
    who,
  );
  return 0;
}

/** `drover keys`: the project's keys, never their secrets. */
export async function listKeys(api: DroverApi, opts: Output): Promise<number> {
  const { project } = await me(api);
  const page = await api.listKeys(project.id);
  print(
    opts,
    table(
      ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED', 'STATE'],
      page.items.map((k) => [k.id, k.name, k.role, dim(k.prefix), k.createdAt, keyState(k)]),
    ),
    page,
  );
  return 0;
}

/** `drover keys create <name> --role <role> [--expires <date-time>]`. */
export async function createKey(
  api: DroverApi,
  name: string,
  o: { role: string; expires?: string },
  opts: Output,
): Promise<number> {
  const { project } = await me(api);
  const key = await api.createKey(project.id, {
    name,
    // As given: the API checks it (422 names a role it does not know).
    role: o.role as CreateKeyBody['role'],
    ...(o.expires ? { expires_at: o.expires } : {}),
  });
  print(opts, handOver(key), key);
  return 0;
}

/** `drover keys revoke <id>`: the key stops working at once. */
export async function revokeKey(api: DroverApi, id: string, opts: Output): Promise<number> {
  const key = await api.revokeKey(id);
  print(opts, `key ${key.id} (${key.name}) revoked at ${key.revokedAt}`, key);
  return 0;
}

/**
 * `drover projects create <slug> [--name <name>] [--own-runners]` (operator admins):
 * the project and its first admin key.
 */
export async function createProject(
  api: DroverApi,
  slug: string,
  o: { name?: string; ownRunners?: boolean },
  opts: Output,
): Promise<number> {
  const created = await api.createProject({
    slug,
    name: o.name ?? slug,
    ...(o.ownRunners ? { own_runners: true } : {}),
  });
  print(
    opts,
    `project ${created.project.slug} (${created.project.id}) created; its first admin ${handOver(created.key)}`,
    created,
  );
  return 0;
}
