import Docker from 'dockerode';
import { sandboxTestImage } from '@drover/testing';

// The container engine the sandbox driver will use (Podman's Docker API here,
// Docker Engine elsewhere), with the hardening settings the sandbox applies.
// The Jest global setup starts the engine and builds the busybox test image.

const IMAGE = sandboxTestImage();

function engine(): Docker {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) {
    throw new Error(
      'no container engine: install Podman or Docker (npm test installs Podman on a root machine with apt)',
    );
  }
  return new Docker({ socketPath: host.replace(/^unix:\/\//, '') });
}

/** Runs `script` in a hardened container and returns its exit code and output. */
async function run(
  script: string,
  loosen: { writableRoot?: boolean } = {},
): Promise<{ code: number; output: string }> {
  const docker = engine();
  const container = await docker.createContainer({
    Image: IMAGE,
    Cmd: ['/bin/sh', '-c', script],
    User: '1000:1000',
    Tty: true,
    Labels: { 'drover.test': 'container-engine' },
    HostConfig: {
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: !loosen.writableRoot,
      // Podman gives the tmpfs the image's /tmp mode (1777 in the test image).
      Tmpfs: { '/tmp': 'rw,size=16m' },
      NetworkMode: 'none',
      Memory: 64 * 1024 * 1024,
      PidsLimit: 32,
      NanoCpus: 500_000_000,
    },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = await container.logs({ stdout: true, stderr: true });
    return { code: StatusCode, output: logs.toString('utf8') };
  } finally {
    await container.remove({ force: true });
  }
}

describe('container engine', () => {
  it('answers, and runs a hardened container as a non-root user', async () => {
    const pong: unknown = await engine().ping();
    expect(String(pong)).toBe('OK');
    const result = await run('id -u; echo hello > /tmp/ok && cat /tmp/ok');
    expect(result.code).toBe(0);
    expect(result.output.split(/\r?\n/)).toEqual(['1000', 'hello', '']);
  }, 30_000);

  it('keeps the root filesystem read-only and the network absent', async () => {
    const probe =
      'touch /home/sandbox/x 2>/dev/null && echo wrote-root; ls /sys/class/net; wget -T 2 -q -O- http://10.0.2.2 2>/dev/null && echo reached';
    // The probe does detect a writable root: the same container without the setting writes.
    expect((await run(probe, { writableRoot: true })).output).toContain('wrote-root');

    const result = await run(probe);
    expect(result.output).not.toContain('wrote-root');
    expect(result.output).not.toContain('reached');
    // Only the loopback interface exists.
    expect(result.output.trim().split(/\s+/)).toEqual(['lo']);
  }, 30_000);
});
