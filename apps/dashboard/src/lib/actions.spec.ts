import { mayAct, openRequest, someKeys, taskActions, ticketActions } from './actions';

describe(taskActions.name, () => {
  it('offers a viewer nothing, whatever the status', () => {
    for (const status of ['RUNNING', 'AWAITING_APPROVAL', 'AWAITING_INPUT', 'FAILED'] as const) {
      expect(taskActions('viewer', status)).toEqual({
        cancel: false,
        decide: false,
        answer: false,
        rerun: false,
      });
    }
  });

  it('offers a member what the status allows', () => {
    expect(taskActions('member', 'AWAITING_APPROVAL')).toEqual({
      cancel: true,
      decide: true,
      answer: false,
      rerun: false,
    });
    expect(taskActions('member', 'AWAITING_INPUT')).toMatchObject({ answer: true, cancel: true });
    expect(taskActions('admin', 'RUNNING')).toEqual({
      cancel: true,
      decide: false,
      answer: false,
      rerun: false,
    });
    expect(taskActions('member', 'TIMED_OUT')).toEqual({
      cancel: false,
      decide: false,
      answer: false,
      rerun: true,
    });
  });

  it('offers no rerun of a task that succeeded or was skipped', () => {
    expect(taskActions('admin', 'SUCCEEDED').rerun).toBe(false);
    expect(taskActions('admin', 'SKIPPED').rerun).toBe(false);
  });
});

describe(ticketActions.name, () => {
  const tasks = (...statuses: ('SUCCEEDED' | 'FAILED' | 'RUNNING')[]) =>
    statuses.map((status) => ({ status }));

  it('cancels an open ticket, reruns a final one with a task that did not succeed', () => {
    expect(ticketActions('member', 'RUNNING', tasks('RUNNING'))).toEqual({
      cancel: true,
      rerun: false,
    });
    expect(ticketActions('member', 'FAILED', tasks('SUCCEEDED', 'FAILED'))).toEqual({
      cancel: false,
      rerun: true,
    });
    expect(ticketActions('member', 'SUCCEEDED', tasks('SUCCEEDED'))).toEqual({
      cancel: false,
      rerun: false,
    });
  });

  it('offers a viewer neither', () => {
    expect(ticketActions('viewer', 'RUNNING', tasks('RUNNING'))).toEqual({
      cancel: false,
      rerun: false,
    });
    expect(mayAct('viewer')).toBe(false);
  });
});

describe(openRequest.name, () => {
  it('is the last request not answered', () => {
    const inputs = [
      { id: 'a', answeredAt: '2026-01-01T00:00:00Z' },
      { id: 'b', answeredAt: null },
    ];
    expect(openRequest(inputs)?.id).toBe('b');
    expect(openRequest(inputs.slice(0, 1))).toBeUndefined();
  });
});

describe(someKeys.name, () => {
  it('names a few tasks and counts the rest', () => {
    expect(someKeys([{ key: 'a' }])).toBe('a');
    expect(someKeys([{ key: 'a' }, { key: 'b' }])).toBe('a and b');
    expect(someKeys(['a', 'b', 'c', 'd', 'e'].map((key) => ({ key })))).toBe('a, b, c and 2 more');
  });
});
