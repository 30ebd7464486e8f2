// Who the suite calls as, created through the API by the suite's own key (an admin of
// the operator project `default`):
//   operator  the suite's key; everything generated is sent with it
//   a         project `hostile-a` (not the operator's): the authorization matrix's
//             objects, and keys of every role plus an expired and a revoked one
//   b         project `hostile-b`: "another project's admin"
//   spare     keys of `default` that generated DELETE /keys/{id} may revoke
import { z } from 'zod';
import { Api, KeyIssued } from './api';

export interface Key {
  id: string;
  key: string;
}

export interface ProjectKeys {
  id: string;
  slug: string;
  admin: Key;
}

export interface Principals {
  operator: ProjectKeys;
  a: ProjectKeys & { viewer: Key; member: Key; expired: Key; revoked: Key };
  b: ProjectKeys;
  /** Ids of keys of the operator project the generators may revoke; never the suite's. */
  spare: string[];
  /** When `a.expired` stops working (ms since the epoch). */
  expiresAt: number;
}

const Created = z.object({
  project: z.object({ id: z.uuid(), slug: z.string() }),
  key: KeyIssued,
});

/** The expired key is issued to expire this long after it is issued (the API wants a future time). */
const EXPIRES_IN_MS = 2_000;
const SPARE_KEYS = 6;

async function project(api: Api, slug: string): Promise<ProjectKeys> {
  const { project: p, key } = await api.post('/projects', Created, {
    slug,
    name: `Hostile ${slug}`,
  });
  return { id: p.id, slug: p.slug, admin: { id: key.id, key: key.key } };
}

async function issue(api: Api, projectId: string, role: string, expiresAt?: number): Promise<Key> {
  const { id, key } = await api.post(`/projects/${projectId}/keys`, KeyIssued, {
    name: `hostile ${role}`,
    role,
    ...(expiresAt ? { expires_at: new Date(expiresAt).toISOString() } : {}),
  });
  return { id, key };
}

export async function createPrincipals(
  url: string,
  operator: { project: { id: string; slug: string }; key: Key },
): Promise<Principals> {
  const suite = new Api(url, operator.key.key);
  const a = await project(suite, 'hostile-a');
  const b = await project(suite, 'hostile-b');
  const admin = suite.as(a.admin.key);
  const expiresAt = Date.now() + EXPIRES_IN_MS;
  const [viewer, member, expired, revoked] = await Promise.all([
    issue(admin, a.id, 'viewer'),
    issue(admin, a.id, 'member'),
    issue(admin, a.id, 'viewer', expiresAt),
    issue(admin, a.id, 'admin'),
  ]);
  await admin.delete(`/keys/${revoked.id}`, z.object({ revokedAt: z.string() }));
  const spare = await Promise.all(
    Array.from({ length: SPARE_KEYS }, () => issue(suite, operator.project.id, 'viewer')),
  );
  return {
    operator: { ...operator.project, admin: operator.key },
    a: { ...a, viewer, member, expired, revoked },
    b,
    spare: spare.map((k) => k.id),
    expiresAt,
  };
}

/** Resolves once the expired key's time is up (a wait on the clock, not on an answer). */
export async function expired(principals: Principals): Promise<void> {
  const left = principals.expiresAt + 100 - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}
