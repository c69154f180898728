import type { ComponentChildren } from 'preact';
import { useId, useState } from 'preact/hooks';
import { plainMessage } from '../api/errors.ts';
import { Dialog } from './dialog.tsx';
import { StatusMessage } from './status-message.tsx';

interface ConfirmDialogProps {
  title: string;
  /** The confirm button's name: the action itself ("Delete forever"), never "OK". */
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
}

/** Asks before something that cannot be undone; Cancel has the focus, so Enter is safe. */
export function ConfirmDialog({ title, confirmLabel, onConfirm, onClose, children }: ConfirmDialogProps) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [working, setWorking] = useState(false);
  const messageId = useId();
  const confirm = async () => {
    if (working) return;
    setWorking(true);
    setError(undefined);
    try {
      await onConfirm();
    } catch (err) {
      setError(plainMessage(err));
      setWorking(false);
    }
  };
  return (
    <Dialog title={title} onClose={onClose} alertMessageId={messageId}>
      <div class="stack">
        <div id={messageId}>{children}</div>
        {error && <StatusMessage kind="error">{error}</StatusMessage>}
        <div class="dialog-buttons">
          <button type="button" data-autofocus onClick={onClose}>
            Cancel
          </button>
          <button type="button" class="danger primary" aria-disabled={working} onClick={confirm}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
