import type { View } from '../api/files-api.ts';

/** Placeholder: the file list of one view (owned, shared, shortcuts, trash). */
export function FilesView({ view }: { view: View }) {
  return <h1>{view}</h1>;
}
