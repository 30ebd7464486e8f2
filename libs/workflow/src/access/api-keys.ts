import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { KeyRole } from '@drover/contracts';
import type { ApiKey, IssuedKey, Served } from '@drover/contracts/api';
import type { PrismaClient, Tx } from '@drover/db';

/** Who is calling: the key, its project and its role. */
export interface Caller {
  keyId: string;
  /** The key's name: who acted, in approvals and answers. */
  keyName: string;
  projectId: string;
  projectSlug: string;
  role: KeyRole;
  /** When the key stops working (null: never). */
  expiresAt: Date | null;
}

/** `drv_<prefix>_<secret>`: 64 random bits that find the row, 256 that prove the holder. */
const KEY_FORMAT = /^drv_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A new key: the text to hand over once, and what is stored of it. */
export function mintKey(): { key: string; prefix: string; hash: string } {
  const prefix = randomBytes(8).toString('hex');
  const key = `drv_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: sha256(key) };
}

/** A key as the API shows it: never its secret or hash. */
export type KeyInfo = Served<typeof ApiKey>;

const keyInfoFields = {
  id: true,
  name: true,
  role: true,
  prefix: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
  project: { select: { slug: true } },
} as const;

/** What a key's row must give to say who calls with it (see `usable`). */
const callerFields = {
  id: true,
  name: true,
  role: true,
  projectId: true,
  expiresAt: true,
  revokedAt: true,
  project: { select: { slug: true } },
} as const;

function toInfo(row: Omit<KeyInfo, 'project'> & { project: { slug: string } }): KeyInfo {
  const { project, ...rest } = row;
  return { ...rest, project: project.slug };
}

export interface IssueKey {
  projectId: string;
  name: string;
  role: KeyRole;
  expiresAt?: Date | null;
  /** The key that asked for this one (null for the bootstrap key). */
  createdBy?: string | null;
}

/** API keys: issued (shown once), checked on every request, listed and revoked per project. */
export class ApiKeys {
  constructor(private readonly prisma: PrismaClient) {}

  /** Issues a key; `key` is the only time its secret exists outside the caller's hands. */
  async issue(input: IssueKey, tx: Tx = this.prisma): Promise<Served<typeof IssuedKey>> {
    const { key, prefix, hash } = mintKey();
    const row = await tx.apiKey.create({
      data: {
        id: randomUUID(),
        projectId: input.projectId,
        name: input.name,
        role: input.role,
        prefix,
        hash,
        expiresAt: input.expiresAt ?? null,
        createdBy: input.createdBy ?? null,
      },
      select: keyInfoFields,
    });
    return { ...toInfo(row), key };
  }

  /**
   * The caller a presented key stands for, or null whatever is wrong with it
   * (malformed, unknown, wrong secret, revoked, expired): the answer must not say which.
   */
  async authenticate(presented: string): Promise<Caller | null> {
    const match = KEY_FORMAT.exec(presented);
    if (!match) return null;
    const row = await this.prisma.apiKey.findUnique({
      where: { prefix: match[1] },
      select: { ...callerFields, hash: true },
    });
    if (!row) return null;
    const given = Buffer.from(sha256(presented), 'hex');
    if (!timingSafeEqual(given, Buffer.from(row.hash, 'hex'))) return null;
    return usable(row);
  }

  /** The caller of a key still in force, by id (the event stream re-checks its key). */
  async inForce(keyId: string): Promise<Caller | null> {
    const row = await this.prisma.apiKey.findUnique({
      where: { id: keyId },
      select: callerFields,
    });
    return row ? usable(row) : null;
  }

  /** Ids of the given keys that are revoked, expired or gone. */
  async notInForce(keyIds: readonly string[]): Promise<Set<string>> {
    if (!keyIds.length) return new Set();
    const live = await this.prisma.apiKey.findMany({
      where: {
        id: { in: [...keyIds] },
        revokedAt: null,
        OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }],
      },
      select: { id: true },
    });
    const liveIds = new Set(live.map((k) => k.id));
    return new Set(keyIds.filter((id) => !liveIds.has(id)));
  }

  /** A project's keys, newest first (revoked ones too: they explain a 401). */
  async list(projectId: string): Promise<KeyInfo[]> {
    const rows = await this.prisma.apiKey.findMany({
      where: { projectId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      select: keyInfoFields,
    });
    return rows.map(toInfo);
  }

  /**
   * Revokes a key of `projectId`. `null` when that project has no such key (another
   * project's key is answered the same), `already` when it was revoked before.
   */
  async revoke(
    projectId: string,
    keyId: string,
  ): Promise<{ key: KeyInfo; already: boolean } | null> {
    const revoked = await this.prisma.apiKey.updateMany({
      where: { id: keyId, projectId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    const row = await this.prisma.apiKey.findFirst({
      where: { id: keyId, projectId },
      select: keyInfoFields,
    });
    return row ? { key: toInfo(row), already: revoked.count === 0 } : null;
  }
}

function usable(row: {
  id: string;
  name: string;
  role: KeyRole;
  projectId: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  project: { slug: string };
}): Caller | null {
  if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return null;
  return {
    keyId: row.id,
    keyName: row.name,
    projectId: row.projectId,
    projectSlug: row.project.slug,
    role: row.role,
    expiresAt: row.expiresAt,
  };
}
