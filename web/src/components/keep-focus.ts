/**
 * A row that goes away (trashed, restored, deleted) while it holds the keyboard focus
 * hands it to its neighbour's first button, or to the fallback (the view's heading),
 * instead of dropping it on <body>. Call it as the row unmounts, while it is still in the DOM.
 */
export function passFocusOn(row: HTMLElement | null, fallbackId: string): void {
  if (!row || !row.contains(document.activeElement)) return;
  const neighbour = row.nextElementSibling ?? row.previousElementSibling;
  const target = neighbour?.querySelector<HTMLElement>('button') ?? null;
  setTimeout(() => (target?.isConnected ? target : document.getElementById(fallbackId))?.focus());
}
