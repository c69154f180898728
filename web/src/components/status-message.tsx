import type { ComponentChildren } from 'preact';

/** A message that screen readers announce: errors interrupt (alert), the rest waits its turn (status). */
export function StatusMessage({ kind, children }: { kind: 'error' | 'info'; children: ComponentChildren }) {
  return (
    <p role={kind === 'error' ? 'alert' : 'status'} class={`message message-${kind}`}>
      {children}
    </p>
  );
}
