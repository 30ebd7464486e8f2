// Who may open the event stream: the handshake needs a key (the Authorization header,
// or a single-use token from POST /events/token) and, when an Origin is sent, the
// gateway's own or an allowed one; `ticket=` must be a ticket of the key's project.
// The handshake's status is the answer: 101 when the stream opens.
import WebSocket from 'ws';
import { z } from 'zod';
import { Api, KeyIssued } from './api';
import type { Pools } from './endpoint-rules';
import type { Principals } from './principals';
import type { Recorder } from './report';
import { ALLOWED_ORIGIN } from './stack';
import { invalid, valid, type Case, type Expect, type Outcome } from './types';

const ENDPOINT = 'WS /events';
const TIMEOUT_MS = 10_000;
const Token = z.object({ token: z.string(), expiresAt: z.string() });

/** Opens `/events<query>` with `headers`: the status of the handshake, then closes. */
export function handshake(
  base: string,
  query: string,
  headers: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/events${query}`, {
      headers,
      handshakeTimeout: TIMEOUT_MS,
    });
    ws.once('upgrade', (res) => {
      resolve({ status: res.statusCode ?? 0, body: '' });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    ws.once('error', (error) => resolve({ failure: `handshake: ${error.message}` }));
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface Attempt {
  what: string;
  query?: string;
  headers?: Record<string, string>;
  expect: Expect;
}

export async function attackEventStreamAuth(
  base: string,
  principals: Principals,
  pools: Pools,
  recorder: Recorder,
): Promise<void> {
  const key = principals.operator.admin.key;
  const api = new Api(base, key);
  const token = async (as = key) => (await api.as(as).post('/events/token', Token)).token;
  const attempt = async ({ what, query = '', headers = {}, expect }: Attempt) => {
    const c: Case = {
      endpoint: ENDPOINT,
      cls: 'auth',
      what: `handshake: ${what}`,
      wire: { kind: 'raw', bytes: Buffer.alloc(0) },
      expect,
    };
    recorder.record(c, await handshake(base, query, headers));
  };
  const opens = valid(101);
  const theirs = pools.foreign.tickets[0];
  const attempts: Attempt[] = [
    { what: 'the key in the header', headers: bearer(key), expect: opens },
    { what: 'no key', expect: invalid([401]) },
    { what: 'a revoked key', headers: bearer(principals.a.revoked.key), expect: invalid([401]) },
    { what: 'an expired key', headers: bearer(principals.a.expired.key), expect: invalid([401]) },
    {
      what: 'lowercase bearer',
      headers: { authorization: `bearer ${key}` },
      expect: opens,
    },
    { what: 'a token never issued', query: `?token=${'A'.repeat(43)}`, expect: invalid([401]) },
    { what: 'a token of the wrong shape', query: '?token=abc', expect: invalid([401]) },
    { what: 'the key as the token', query: `?token=${key}`, expect: invalid([401]) },
    { what: 'the key in ?key=', query: `?key=${key}`, expect: invalid([401]) },
    {
      what: 'a foreign Origin',
      headers: { ...bearer(key), origin: 'https://evil.example' },
      expect: invalid([403]),
    },
    { what: 'Origin null', headers: { ...bearer(key), origin: 'null' }, expect: invalid([403]) },
    {
      what: 'an allowed origin with a suffix',
      headers: { ...bearer(key), origin: `${ALLOWED_ORIGIN}.evil.example` },
      expect: invalid([403]),
    },
    {
      what: 'the allowed Origin',
      headers: { ...bearer(key), origin: ALLOWED_ORIGIN },
      expect: opens,
    },
    { what: "the gateway's own Origin", headers: { ...bearer(key), origin: base }, expect: opens },
    {
      what: 'ticket= of ours',
      query: `?ticket=${pools.tickets[0]}`,
      headers: bearer(key),
      expect: opens,
    },
    {
      what: 'ticket= of another project',
      query: `?ticket=${theirs}`,
      headers: bearer(key),
      expect: invalid([404]),
    },
    {
      what: "ticket= of its project, by project A's viewer",
      query: `?ticket=${theirs}`,
      headers: bearer(principals.a.viewer.key),
      expect: opens,
    },
  ];
  for (const a of attempts) await attempt(a);
  await tokens(principals, theirs, api, token, attempt);
}

/** Single-use tokens: the second use, a token under a bad header, a revoked key's token. */
async function tokens(
  principals: Principals,
  theirs: string,
  api: Api,
  token: (as?: string) => Promise<string>,
  attempt: (a: Attempt) => Promise<void>,
): Promise<void> {
  const once = await token();
  await attempt({ what: 'a token, first use', query: `?token=${once}`, expect: valid(101) });
  await attempt({ what: 'the same token again', query: `?token=${once}`, expect: invalid([401]) });
  // A header, even a bad one, is the credential: the token is not looked at (nor spent).
  const unspent = await token();
  await attempt({
    what: 'a junk header with a valid token',
    query: `?token=${unspent}`,
    headers: { authorization: 'Bearer junk' },
    expect: invalid([401]),
  });
  await attempt({ what: 'that token, unspent', query: `?token=${unspent}`, expect: valid(101) });
  const other = await token();
  await attempt({
    what: "a token with another project's ticket",
    query: `?token=${other}&ticket=${theirs}`,
    expect: invalid([404]),
  });
  // The key a token was issued to is revoked before the token is used.
  const doomed = await api.post(`/projects/${principals.operator.id}/keys`, KeyIssued, {
    name: 'hostile doomed',
    role: 'viewer',
  });
  const orphan = await token(doomed.key);
  await api.delete(`/keys/${doomed.id}`, z.object({ id: z.uuid() }));
  await attempt({
    what: "a revoked key's token",
    query: `?token=${orphan}`,
    expect: invalid([401]),
  });
}
