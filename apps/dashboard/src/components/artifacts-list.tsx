import { useState } from 'react';
import { getArtifact, type Artifact } from '../api';
import { bytes, when } from '../lib/format';
import { saveBlob } from '../lib/save-blob';

/** A run's artifacts; each downloads through the API with the key, then is saved. */
export function ArtifactsList({
  runId,
  artifacts,
}: {
  runId: string;
  artifacts: readonly Artifact[];
}) {
  const [failed, setFailed] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  if (!artifacts.length) return <p className="muted">No artifact stored yet.</p>;
  const download = async (name: string) => {
    setBusy(name);
    setFailed(null);
    try {
      saveBlob(await getArtifact(runId, name), name);
    } catch (error) {
      setFailed(`Could not download ${name}: ${(error as Error).message}`);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      {failed ? (
        <p className="error" role="alert">
          {failed}
        </p>
      ) : null}
      <table className="table" data-testid="artifacts">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Size</th>
            <th>Type</th>
            <th>Stored</th>
            <th>sha256</th>
          </tr>
        </thead>
        <tbody>
          {artifacts.map((a) => (
            <tr key={a.name} data-artifact={a.name}>
              <td>
                <button
                  type="button"
                  className="link-button"
                  disabled={busy === a.name}
                  onClick={() => void download(a.name)}
                  title={`download ${a.name}`}
                >
                  {a.name}
                </button>
              </td>
              <td>{a.kind}</td>
              <td>{bytes(a.size)}</td>
              <td className="small">{a.contentType}</td>
              <td>{when(a.createdAt)}</td>
              <td className="mono small" title={a.sha256}>
                {a.sha256.slice(0, 12)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
