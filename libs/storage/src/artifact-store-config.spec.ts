import { artifactStoreFrom, parseArtifactStoreUrl } from './artifact-store-config';
import { LocalArtifactStore } from './local-artifact-store';
import { S3ArtifactStore } from './s3-artifact-store';
import { StorageError } from './storage.errors';

function refusal(value: string | undefined): StorageError {
  try {
    const store = artifactStoreFrom({ DROVER_ARTIFACTS: value });
    if (store instanceof S3ArtifactStore) store.destroy();
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw err;
  }
  throw new Error(`${String(value)} was accepted`);
}

describe('parseArtifactStoreUrl', () => {
  it.each([
    ['file:///var/lib/drover/artifacts', '/var/lib/drover/artifacts'],
    ['file://localhost/var/lib/drover', '/var/lib/drover'],
    ['file:///srv/drover%20artifacts/', '/srv/drover artifacts/'],
  ])('reads %s as the local directory %s', (value, rootDir) => {
    expect(parseArtifactStoreUrl(value)).toEqual({ kind: 'local', rootDir });
  });

  it('reads an s3:// URL with every parameter', () => {
    expect(
      parseArtifactStoreUrl(
        's3://drover-artifacts/ci/runs?endpoint=http://127.0.0.1:9000&region=eu-west-3&forcePathStyle=true',
      ),
    ).toEqual({
      kind: 's3',
      options: {
        bucket: 'drover-artifacts',
        prefix: 'ci/runs',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-3',
        forcePathStyle: true,
      },
    });
  });

  it('reads a bare s3://bucket, leaving region and credentials to the SDK', () => {
    expect(parseArtifactStoreUrl('s3://drover-artifacts')).toEqual({
      kind: 's3',
      options: { bucket: 'drover-artifacts' },
    });
  });
});

describe('artifactStoreFrom', () => {
  it('makes a local store for a file: URL', () => {
    const store = artifactStoreFrom({ DROVER_ARTIFACTS: 'file:///var/lib/drover/artifacts' });
    expect(store).toBeInstanceOf(LocalArtifactStore);
    expect(store.kind).toBe('local');
  });

  it('makes an S3 store for an s3:// URL', () => {
    const store = artifactStoreFrom({
      DROVER_ARTIFACTS: 's3://drover-artifacts/p?region=us-east-1',
    });
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store.kind).toBe('s3');
    (store as S3ArtifactStore).destroy();
  });

  it.each([
    [undefined, 'DROVER_ARTIFACTS: not set'],
    ['', 'DROVER_ARTIFACTS: not set'],
    ['/var/lib/drover', 'DROVER_ARTIFACTS: not a URL'],
    ['artifacts', 'DROVER_ARTIFACTS: not a URL'],
    ['ftp://host/x', 'DROVER_ARTIFACTS: unsupported scheme "ftp:"'],
    ['http://minio:9000/bucket', 'unsupported scheme "http:"'],
    ['file:relative/dir', 'a file: URL names a local absolute path'],
    ['file://fileserver/share', 'a file: URL names a local absolute path'],
    ['file:///var/lib/drover?mode=x', 'a file: URL takes no query or fragment'],
    ['file:///var/lib/a%2Fb', "the file: URL's path is invalid"],
    ['s3:///prefix', 'names no bucket'],
    ['s3://bucket:9000/p', 'give the server as ?endpoint='],
    ['s3://Bucket_Name/p', 'invalid S3 bucket "Bucket_Name"'],
    ['s3://ab', 'invalid S3 bucket "ab"'],
    ['s3://bucket/a//b', 'invalid S3 key prefix'],
    ['s3://bucket/a/../b', 'the key prefix has "." or ".." segments'],
    ['s3://bucket/a/%2E%2e/b', 'the key prefix has "." or ".." segments'],
    ['s3://bucket/./b', 'the key prefix has "." or ".." segments'],
    ['s3://bucket/a%2F..', 'invalid S3 key prefix'],
    ['s3://bucket/p#frag', 'takes no fragment'],
    ['s3://bucket/p?endpoint=ftp://host', 'invalid S3 endpoint "ftp://host"'],
    ['s3://bucket/p?endpoint=not a url', 'invalid S3 endpoint: not a URL'],
    ['s3://bucket/p?region=US%20EAST', 'invalid S3 region "US EAST"'],
    ['s3://bucket/p?forcePathStyle=yes', 'forcePathStyle must be true or false, got "yes"'],
    ['s3://bucket/p?region=a&region=b', 'parameter region is given twice'],
    [
      's3://bucket/p?timeout=3',
      'unknown parameter "timeout" (known: endpoint, region, forcePathStyle)',
    ],
  ])('refuses %j saying %s', (value, message) => {
    const err = refusal(value);
    expect(err.code).toBe('INVALID_STORE_CONFIG');
    expect(err.message).toContain(message);
  });

  it.each([
    's3://AKIAEXAMPLE:hunter2secret@bucket/p',
    's3://bucket/p?accessKeyId=AKIAEXAMPLE&secretAccessKey=hunter2secret',
    's3://bucket/p?endpoint=http://AKIAEXAMPLE:hunter2secret@127.0.0.1:9000',
  ])('refuses credentials in %s without repeating them', (value) => {
    const err = refusal(value);
    expect(err.message).toMatch(/credentials/);
    expect(err.message).not.toContain('hunter2secret');
    expect(err.message).not.toContain('AKIAEXAMPLE');
  });
});
