/** Hands `blob` to the browser as a download named `name` (the key never goes in a URL). */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  // Late enough for the download to have started reading it.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
