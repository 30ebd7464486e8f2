import { html } from 'diff2html';
import 'diff2html/bundles/css/diff2html.min.css';

/**
 * A patch rendered by diff2html, line by line, with the list of files. The
 * patch comes out of a sandbox: diff2html escapes every name and line it
 * writes, and the page's policy runs no script that is not the dashboard's.
 */
export function DiffView({ patch }: { patch: string }) {
  const rendered = html(patch, {
    drawFileList: true,
    outputFormat: 'line-by-line',
    matching: 'lines',
    diffMaxChanges: 5000,
  });
  return <div className="diff" dangerouslySetInnerHTML={{ __html: rendered }} />;
}
