/**
 * Hands bytes already in memory to the browser's download. The API needs the access token
 * on /content and uses no cookies, so a plain link cannot carry it; the whole file is
 * buffered in memory first.
 */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken the URL by the next task; revoking later frees the memory.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
