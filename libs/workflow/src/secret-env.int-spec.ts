import { createHash } from 'node:crypto';
import { loadConfig, OrchestratorConfigSchema } from '@drover/config';
import { openSecret, SEALED_FORMAT, SubmitTicket, type SubmitTicketInput } from '@drover/contracts';
import { createTestEnv, POLICY_DEFAULTS, type TestEnv } from '@drover/testing';
import { maskSpec } from './mask-spec';
import { CreateTicket } from './use-cases/create-ticket';

const SECRET = 'hunter22-secret';
const STEP_SECRET = 'step-secret-value';

let env: TestEnv;
let key: Uint8Array;

beforeAll(async () => {
  env = await createTestEnv();
  // The test env's DROVER_SECRETS_KEY, read as the orchestrator reads it.
  const parsed = loadConfig(OrchestratorConfigSchema, env.env).DROVER_SECRETS_KEY;
  if (!parsed) throw new Error('the test env has no DROVER_SECRETS_KEY');
  key = parsed;
});

afterAll(async () => {
  await env?.destroy();
});

function ticket(secret = SECRET): SubmitTicket {
  const input: SubmitTicketInput = {
    title: 'with secrets',
    tasks: [
      { key: 'plain', steps: [{ run: 'true' }], env: { PLAIN: 'visible' } },
      {
        key: 'secret',
        env: { PLAIN: 'visible', TOKEN: { secret } },
        steps: [{ run: 'true' }, { run: 'true', env: { STEP_TOKEN: { secret: STEP_SECRET } } }],
      },
    ],
  };
  return SubmitTicket.parse(input);
}

async function rowCounts() {
  const [tickets, tasks, events] = await Promise.all([
    env.prisma.ticket.count(),
    env.prisma.task.count(),
    env.prisma.event.count(),
  ]);
  return { tickets, tasks, events };
}

/** Everything the ticket wrote, as Postgres holds it. */
async function storedText(ticketId: string): Promise<string> {
  const rows = await env.prisma.$queryRaw<{ row: string }[]>`
    SELECT row_to_json(t)::text AS row FROM ticket t WHERE id = ${ticketId}::uuid
    UNION ALL SELECT row_to_json(k)::text FROM task k WHERE ticket_id = ${ticketId}::uuid
    UNION ALL SELECT row_to_json(e)::text FROM event e WHERE data::text LIKE ${`%${ticketId}%`}`;
  return rows.map((r) => r.row).join('\n');
}

async function storedSpec(ticketId: string, taskKey: string) {
  const task = await env.prisma.task.findFirstOrThrow({
    where: { ticketId, key: taskKey },
    select: { spec: true },
  });
  return task.spec as {
    env: Record<string, { sealed: string } | string>;
    steps: { env?: Record<string, { sealed: string }> }[];
  };
}

describe('CreateTicket with secret env values', () => {
  it('stores only the sealed form, which the key opens, and maskSpec shows {secret: true}', async () => {
    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS, undefined, key).execute(
      ticket(),
    );
    if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);

    const text = await storedText(reply.ticketId);
    expect(text).toContain('"sealed"');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(STEP_SECRET);

    const spec = await storedSpec(reply.ticketId, 'secret');
    const token = spec.env.TOKEN as { sealed: string };
    const stepToken = spec.steps[1].env?.STEP_TOKEN as { sealed: string };
    expect(token.sealed).toMatch(SEALED_FORMAT);
    expect(openSecret(token.sealed, key)).toBe(SECRET);
    expect(openSecret(stepToken.sealed, key)).toBe(STEP_SECRET);
    expect(spec.env.PLAIN).toBe('visible');

    const masked = maskSpec(spec);
    expect(masked.env).toEqual({ PLAIN: 'visible', TOKEN: { secret: true } });
    expect(masked.steps).toEqual([
      { run: 'true' },
      { run: 'true', env: { STEP_TOKEN: { secret: true } } },
    ]);
    expect(JSON.stringify(masked)).not.toContain('v1.');
  });

  it('refuses a ticket with secrets with 422 SECRETS_UNAVAILABLE when it has no key, writing nothing', async () => {
    const before = await rowCounts();

    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
      ticket(),
      undefined,
      '3f0e7f34-5b8c-4d5e-9a6f-1c2d3e4f5a6b',
    );

    if (reply.ok) throw new Error('expected the ticket to be refused');
    expect(reply.status).toBe(422);
    expect(reply.error.code).toBe('SECRETS_UNAVAILABLE');
    expect(reply.error.message).toContain('DROVER_SECRETS_KEY on the orchestrator');
    expect(reply.error.details?.map((d) => d.path)).toEqual([
      'tasks.1.env.TOKEN',
      'tasks.1.steps.1.env.STEP_TOKEN',
    ]);
    expect(JSON.stringify(reply)).not.toContain(SECRET);
    expect(await rowCounts()).toEqual(before);
  });

  it('takes a ticket without secrets when it has no key', async () => {
    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
      SubmitTicket.parse({ title: 'plain', tasks: [{ key: 'a', steps: [{ run: 'true' }] }] }),
    );
    expect(reply).toMatchObject({ ok: true, taskCount: 1 });
  });

  it('returns the first ticket for the same body and Idempotency-Key, sealed afresh or not', async () => {
    const createTicket = new CreateTicket(env.prisma, POLICY_DEFAULTS, undefined, key);
    const requestId = 'b7c1a2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

    const first = await createTicket.execute(ticket(), undefined, requestId);
    const again = await createTicket.execute(ticket(), undefined, requestId);
    const otherSecret = await createTicket.execute(ticket('another-secret'), undefined, requestId);

    if (!first.ok) throw new Error(`ticket refused: ${JSON.stringify(first.error)}`);
    expect(again).toEqual(first);
    expect(otherSecret).toMatchObject({ ok: false, status: 409 });
    expect(await env.prisma.ticket.count({ where: { requestId } })).toBe(1);
    // The stored fingerprint is keyed: a plain hash of the body would let a guess be checked.
    const stored = await env.prisma.ticket.findUniqueOrThrow({
      where: { id: first.ticketId },
      select: { requestHash: true },
    });
    const plain = createHash('sha256').update(JSON.stringify(ticket())).digest('hex');
    expect(stored.requestHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.requestHash).not.toBe(plain);
  });
});
