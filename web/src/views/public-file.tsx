/** Placeholder: the signed-out page of a public file. */
export function PublicFileView({ fileId }: { fileId: string }) {
  return <h1>{fileId}</h1>;
}
