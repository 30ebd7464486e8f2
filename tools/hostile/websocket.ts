// Hostile input on the event stream (`GET /events`, a WebSocket; clients may send
// `{"op":"ping"}` and get `{"type":"pong"}`, anything else an `error` frame).
//
// A frame's answer counts as a status in the table: a pong 200, an error frame 400, a
// polite close (a close frame with a protocol, payload or encoding code) 400. No answer,
// or a connection dropped without a close frame, is a failure.
import { connect } from 'node:net';
import WebSocket from 'ws';
import type { Recorder } from './report';
import { rawRequest, type Sender } from './send';
import { invalid, valid, type Case, type Expect, type Outcome } from './types';

const ENDPOINT = 'WS /events';
const REPLY_TIMEOUT_MS = 10_000;
const POLITE = new Set([1002, 1003, 1007, 1008, 1009, 1011]);

type Event = { kind: 'message'; type: string } | { kind: 'close'; code: number };

/** A client that queues what the server sends, to await it one by one. */
class Client {
  private readonly events: Event[] = [];
  private waiting?: () => void;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : '';
      const type = /"type":"([^"]+)"/.exec(text)?.[1] ?? 'unknown';
      // Events of the stream are not answers to our frames.
      if (type === 'pong' || type === 'error') this.push({ kind: 'message', type });
    });
    ws.on('close', (code: number) => this.push({ kind: 'close', code }));
    ws.on('error', () => undefined);
  }

  /** Opens the stream with `key` in the Authorization header. */
  static open(url: string, key: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade answered ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
  }

  private push(event: Event): void {
    this.events.push(event);
    this.waiting?.();
  }

  /** The next answer as an outcome (see the file's header). */
  async next(timeoutMs = REPLY_TIMEOUT_MS): Promise<Outcome> {
    const deadline = Date.now() + timeoutMs;
    while (!this.events.length) {
      const left = deadline - Date.now();
      if (left <= 0) return { failure: `no answer within ${timeoutMs} ms` };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const event = this.events.shift() as Event;
    if (event.kind === 'message')
      return { status: event.type === 'pong' ? 200 : 400, body: event.type };
    return POLITE.has(event.code)
      ? { status: 400, body: `closed ${event.code}` }
      : { failure: `closed ${event.code} without a reason the protocol gives` };
  }

  close(): void {
    this.ws.close();
  }
}

const frameCase = (what: string, expect: Expect): Case => ({
  endpoint: ENDPOINT,
  cls: 'websocket',
  what,
  wire: { kind: 'raw', bytes: Buffer.alloc(0) },
  expect,
});

/** Text and binary frames the server must answer with an error frame. */
const BAD_FRAMES: [string, string | Buffer][] = [
  ['binary frame', Buffer.from('{"op":"ping"}')],
  ['binary junk', Buffer.from([0, 1, 2, 255])],
  ['not JSON', 'not json'],
  ['unknown op', '{"op":"nope"}'],
  ['ping with an extra field', '{"op":"ping","x":1}'],
  ['op inside __proto__', '{"__proto__":{"op":"ping"}}'],
  ['ping with __proto__', '{"op":"ping","__proto__":{"op":"x"}}'],
  ['op __proto__', '{"op":"__proto__"}'],
  ['op constructor', '{"op":"constructor"}'],
  ['op toString', '{"op":"toString"}'],
  ['an array', '[]'],
  ['null', 'null'],
  ['a string', '"ping"'],
  ['NUL in op', '{"op":"ping\\u0000"}'],
  ['5,000 levels of [', '['.repeat(5_000)],
  ['5,000 nested arrays', '['.repeat(5_000) + ']'.repeat(5_000)],
  ['empty frame', ''],
];

/** Hostile frames and upgrades on the event stream, every one with the suite's `key`. */
export async function attackEventStream(
  base: string,
  key: string,
  sender: Sender,
  recorder: Recorder,
): Promise<void> {
  const url = base.replace(/^http/, 'ws');
  await upgrades(sender, recorder);
  const client = await Client.open(`${url}/events`, key);
  const exchange = async (what: string, frame: string | Buffer, expect: Expect) => {
    const c = frameCase(what, expect);
    client.ws.send(frame, { binary: Buffer.isBuffer(frame) });
    recorder.record(c, await client.next());
  };
  await exchange('ping', '{"op":"ping"}', valid(200));
  for (const [what, frame] of BAD_FRAMES) await exchange(what, frame, invalid([400]));
  await exchange('ping padded to 60 KB', `{"op":"ping"}${' '.repeat(60_000)}`, valid(200));
  await burst(client, recorder, 2_000);
  client.close();
  // Each of these ends its connection: a fresh client for each.
  const closing: [string, string | Buffer, boolean][] = [
    ['1 MB frame (over the 64 KiB limit)', 'x'.repeat(2 ** 20), false],
    ['invalid UTF-8 in a text frame', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false],
  ];
  for (const [what, frame, binary] of closing) {
    const c = await Client.open(`${url}/events`, key);
    c.ws.send(frame, { binary });
    recorder.record(frameCase(what, invalid([400])), await c.next());
    c.close();
  }
  recorder.record(frameCase('an unmasked client frame', invalid([400])), await unmasked(base, key));
  const after = await Client.open(`${url}/events`, key);
  after.ws.send('{"op":"ping"}');
  recorder.record(
    frameCase('ping on a new connection after all that', valid(200)),
    await after.next(),
  );
  after.close();
}

/** `count` pings sent at once: every one answered, in order. */
async function burst(client: Client, recorder: Recorder, count: number): Promise<void> {
  for (let i = 0; i < count; i++) client.ws.send('{"op":"ping"}');
  for (let i = 0; i < count; i++) {
    recorder.record(frameCase(`burst of ${count} pings`, valid(200)), await client.next());
  }
}

/** Upgrade requests the server must refuse before any WebSocket exists (the sender adds the key). */
async function upgrades(sender: Sender, recorder: Recorder): Promise<void> {
  const headers = (version = '13', key = 'dGhlIHNhbXBsZSBub25jZQ=='): [string, string][] => [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Version', version],
    ...(key ? ([['Sec-WebSocket-Key', key]] as [string, string][]) : []),
  ];
  const refused: [string, string, [string, string][]][] = [
    ['since=-1', '/events?since=-1', headers()],
    ['since=abc', '/events?since=abc', headers()],
    ['since=1e400', '/events?since=1e400', headers()],
    ['since=%00', '/events?since=%00', headers()],
    ['ticket not a UUID', '/events?ticket=..%2f..%2f', headers()],
    ['unknown parameter', '/events?topic=x', headers()],
    ['__proto__ parameter', '/events?__proto__=1', headers()],
    ['another path', '/elsewhere', headers()],
    ['a path past /events', '/events/../x', headers()],
    ['version 99', '/events', headers('99')],
    ['no Sec-WebSocket-Key', '/events', headers('13', '')],
    ['a Sec-WebSocket-Key that is not base64 of 16 bytes', '/events', headers('13', 'short')],
  ];
  for (const [what, path, h] of refused) {
    const c: Case = {
      ...frameCase(`upgrade: ${what}`, invalid()),
      wire: { kind: 'raw', bytes: rawRequest('GET', path, h) },
    };
    recorder.record(c, await sender.send(c.wire));
  }
}

/** Completes a handshake by hand, then sends a frame without the mask clients must set. */
function unmasked(base: string, key: string): Promise<Outcome> {
  const target = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(target.port), target.hostname);
    let received = Buffer.alloc(0);
    let upgraded = false;
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ failure: 'an unmasked frame got no answer' }),
      REPLY_TIMEOUT_MS,
    );
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!received.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101'))
          return finish({
            failure: `upgrade refused: ${received.subarray(0, 40).toString('latin1')}`,
          });
        upgraded = true;
        received = received.subarray(end + 4);
        socket.write(Buffer.from([0x81, 0x05, ...Buffer.from('hello')]));
      }
      const code = closeCode(received);
      if (code !== undefined) finish({ status: 400, body: `closed ${code}` });
    });
    socket.on('close', () => finish({ failure: 'dropped without a close frame' }));
    socket.on('error', () => undefined);
    socket.write(
      'GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Authorization: Bearer ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
  });
}

/** The code of the first close frame among the server's frames in `bytes`, once it is whole. */
function closeCode(bytes: Buffer): number | undefined {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    let length = bytes[at + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) return undefined;
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) return undefined;
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + length > bytes.length) return undefined;
    if (opcode === 0x8) return length >= 2 ? bytes.readUInt16BE(at + header) : 1005;
    at += header + length;
  }
  return undefined;
}
