import { headers } from 'nats';
import { z } from 'zod';
import { createEnvelope } from '@drover/contracts';
import { decodeEnvelope, encode } from './wire-codec';

const Data = z.object({ text: z.string() });

function roundTrip(text: string) {
  const h = headers();
  const data = encode(createEnvelope('drover.test.thing.happened.v1', { text }), h);
  return { h, data, decoded: decodeEnvelope({ data, headers: h }, Data) };
}

describe(decodeEnvelope.name, () => {
  it('sends small bodies as plain JSON', () => {
    const { h, data, decoded } = roundTrip('small');
    expect(h.get('Drover-Encoding')).toBe('');
    expect(JSON.parse(Buffer.from(data).toString())).toMatchObject({ data: { text: 'small' } });
    expect(decoded).toMatchObject({ ok: true, envelope: { data: { text: 'small' } } });
  });

  it('compresses a large body and restores it exactly', () => {
    const text = 'task '.repeat(300_000);
    const { h, data, decoded } = roundTrip(text);
    expect(h.get('Drover-Encoding')).toBe('gzip');
    expect(data.length).toBeLessThan(text.length / 10);
    expect(decoded.ok && decoded.envelope.data.text).toBe(text);
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{nope'), /not JSON/],
    ['not an envelope', new TextEncoder().encode('{"hello":1}'), /id: /],
    [
      'data of the wrong shape',
      new TextEncoder().encode(JSON.stringify(createEnvelope('drover.a.b.c.v1', { text: 1 }))),
      /^data\.text: /,
    ],
  ])('names why a message is %s', (_what, data, reason) => {
    const decoded = decodeEnvelope({ data }, Data);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(reason);
  });
});
