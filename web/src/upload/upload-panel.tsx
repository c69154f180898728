/**
 * Placeholder: the uploader (Uppy Dashboard, both modes). It calls onFileUploaded with
 * the file id (GoVault-File-Id, or the multipart completion's fileId) of each finished upload.
 */
export function UploadPanel(_props: { onFileUploaded: (fileId: string) => void }) {
  return <button type="button">Upload</button>;
}
