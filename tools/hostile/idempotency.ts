// Idempotency-Key under repetition and races: one ticket per key and body, 409 for
// another body, whatever the order the requests arrive in.
import { randomBytes } from 'node:crypto';
import type { Recorder } from './report';
import type { Sender } from './send';
import { http, valid, type Case, type Expect, type Outcome } from './types';

const ticket = (title: string) => ({ title, tasks: [{ key: 'a', agent: 'nop' }] });

function submission(what: string, key: string, title: string, expect: Expect): Case {
  return {
    endpoint: 'POST /tickets',
    cls: 'idempotency',
    what,
    wire: http('POST', '/tickets', ticket(title), { 'idempotency-key': key }),
    expect,
  };
}

function idOf(outcome: Outcome): string | undefined {
  if ('failure' in outcome || outcome.status !== 201) return undefined;
  return /"id":"([0-9a-f-]{36})"/.exec(outcome.body)?.[1];
}

export async function attackIdempotency(sender: Sender, recorder: Recorder): Promise<void> {
  const fresh = () => `hostile-${randomBytes(6).toString('hex')}`;
  const send = async (c: Case) => {
    const outcome = await sender.send(c.wire);
    recorder.record(c, outcome);
    return outcome;
  };

  const key = fresh();
  const first = idOf(await send(submission('a key, first time', key, 'same', valid(201))));
  const again = submission('the same key and body again', key, 'same', valid(201));
  const second = idOf(await send(again));
  if (first && second !== first) recorder.fail(again, `a second ticket ${second} (first ${first})`);
  await send(submission('the same key, another body', key, 'other', valid(409)));

  const longest = Array.from({ length: 200 }, (_, i) => String.fromCharCode(0x21 + (i % 94))).join(
    '',
  );
  await send(submission('a key of 200 visible characters', longest, 'long', valid(201)));

  const raced = fresh();
  const same = Array.from({ length: 8 }, () =>
    submission('8 at once, one key, one body', raced, 'race', valid(201)),
  );
  const ids = (await Promise.all(same.map(send))).map(idOf);
  if (new Set(ids).size !== 1) recorder.fail(same[0], `tickets ${[...new Set(ids)].join(', ')}`);

  const mixed = fresh();
  const bodies = Array.from({ length: 8 }, (_, i) =>
    submission('8 at once, one key, two bodies', mixed, `race-${i % 2}`, valid(201, 409)),
  );
  const outcomes = await Promise.all(bodies.map(send));
  const created = new Set(outcomes.map(idOf).filter(Boolean));
  if (created.size !== 1) recorder.fail(bodies[0], `${created.size} tickets for one key`);
}
