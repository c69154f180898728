/** Placeholder: the caller's unfinished uploads. */
export function UnfinishedUploadsView() {
  return <h1>Unfinished uploads</h1>;
}
