import { RegisterRunner } from './runners';
import { imageAliases, RunnerImages, waitingMessage, waitingOf } from './waiting';

describe('imageAliases', () => {
  it('names a Docker Hub image by each form a task may use', () => {
    expect(imageAliases('docker.io/library/node:20').sort()).toEqual(
      ['docker.io/library/node:20', 'library/node:20', 'node:20'].sort(),
    );
    expect(imageAliases('node:20').sort()).toEqual(
      ['docker.io/library/node:20', 'library/node:20', 'node:20'].sort(),
    );
    expect(imageAliases('team/agent:1').sort()).toEqual(['docker.io/team/agent:1', 'team/agent:1']);
  });

  it('adds the bare name of a :latest tag, and keeps another registry as it is', () => {
    expect(imageAliases('localhost/drover-sandbox:latest')).toEqual([
      'localhost/drover-sandbox:latest',
      'localhost/drover-sandbox',
    ]);
    expect(imageAliases('registry.example.com:5000/a/b:2')).toEqual([
      'registry.example.com:5000/a/b:2',
    ]);
    expect(imageAliases(`busybox@sha256:${'a'.repeat(64)}`)).toHaveLength(1);
  });
});

describe('RunnerImages', () => {
  it('refuses what is not an image reference, naming the item', () => {
    const result = RunnerImages.safeParse(['node:20', '--privileged']);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: [1] });
  });
});

describe('RegisterRunner', () => {
  it("refuses a runner's images that are not image references, naming the item", () => {
    const result = RegisterRunner.safeParse({
      runnerId: 'bad-images',
      name: 'bad',
      slots: 1,
      capabilities: [],
      heartbeatIntervalMs: 1000,
      images: ['ok:1', '$(reboot)'],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path).toEqual(['images', 1]);
  });
});

describe('waitingOf', () => {
  const since = new Date('2026-12-15T10:00:00.000Z');
  const shared = { ownPool: null, image: null };

  it('shows the reason with its message while the task is READY or DISPATCHED', () => {
    const task = {
      status: 'DISPATCHED',
      waitingReason: 'NO_RUNNER_ONLINE' as const,
      waitingSince: since,
    };
    expect(waitingOf(task, shared)).toEqual({
      reason: 'NO_RUNNER_ONLINE',
      message: waitingMessage('NO_RUNNER_ONLINE', shared),
      since: since.toISOString(),
    });
  });

  it('shows nothing once the task has moved on, whatever the column still holds', () => {
    const task = {
      status: 'RUNNING',
      waitingReason: 'NO_RUNNER_ONLINE' as const,
      waitingSince: since,
    };
    expect(waitingOf(task, shared)).toBeNull();
  });

  it("names the project's pool and the image", () => {
    expect(waitingMessage('NO_RUNNER_IN_POOL', { ownPool: 'team-b', image: null })).toContain(
      'RUNNER_PROJECT=team-b',
    );
    expect(waitingMessage('NO_RUNNER_WITH_IMAGE', { ownPool: null, image: 'node:20' })).toContain(
      'the image node:20',
    );
  });
});
