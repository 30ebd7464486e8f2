import type { Api } from './dashboard';

export interface Keys {
  member: string;
  viewer: string;
}

/** A member's and a viewer's key of the default project, issued by its admin (the test's key). */
export async function issueKeys(api: Api): Promise<Keys> {
  const me = await api.json<{ project: { id: string } }>('GET', '/me');
  const issue = async (role: 'member' | 'viewer') =>
    (
      await api.json<{ key: string }>('POST', `/projects/${me.project.id}/keys`, {
        name: `browser-${role}`,
        role,
      })
    ).key;
  return { member: await issue('member'), viewer: await issue('viewer') };
}
