import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';

interface DialogProps {
  title: string;
  /** Escape, Cancel, or the owner closing it: the owner unmounts the dialog. */
  onClose: () => void;
  /** A confirmation is an alertdialog: it interrupts, and its message (this id) is read with its name. */
  alertMessageId?: string;
  children: ComponentChildren;
}

/**
 * A modal native <dialog>: the browser traps focus and closes it on Escape. Focus moves to
 * the element marked `data-autofocus` (else the first control) and returns to the opener.
 */
export function Dialog({ title, onClose, alertMessageId, children }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
    dialog.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    let unmounting = false;
    const closed = () => unmounting || closeRef.current();
    dialog.addEventListener('close', closed);
    return () => {
      unmounting = true;
      dialog.removeEventListener('close', closed);
      if (dialog.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      class="dialog"
      role={alertMessageId ? 'alertdialog' : undefined}
      aria-labelledby={titleId}
      aria-describedby={alertMessageId}
    >
      <h2 id={titleId} class="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}
