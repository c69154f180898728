import { useEffect, useRef, useState } from 'preact/hooks';
import { plainMessage } from '../api/errors.ts';
import { Dialog } from './dialog.tsx';
import { StatusMessage } from './status-message.tsx';

interface RenameDialogProps {
  name: string;
  /** Rejects with the server's refusal, which the dialog shows. */
  onRename: (name: string) => Promise<void>;
  onClose: () => void;
}

export function RenameDialog({ name, onRename, onClose }: RenameDialogProps) {
  const [value, setValue] = useState(name);
  const [error, setError] = useState<string | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  // Select the name without its extension, as file managers do.
  useEffect(() => {
    const dot = name.lastIndexOf('.');
    input.current?.setSelectionRange(0, dot > 0 ? dot : name.length);
  }, [name]);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (saving) return;
    setSaving(true);
    setError(undefined);
    try {
      await onRename(value);
    } catch (err) {
      setError(plainMessage(err));
      setSaving(false);
      input.current?.focus();
    }
  };

  return (
    <Dialog title={`Rename ${name}`} onClose={onClose}>
      <form class="stack" onSubmit={submit}>
        <label class="field">
          <span>Name</span>
          <input
            ref={input}
            data-autofocus
            type="text"
            value={value}
            required
            aria-invalid={error ? true : undefined}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </label>
        {error && <StatusMessage kind="error">{error}</StatusMessage>}
        <div class="dialog-buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" aria-disabled={saving}>
            {saving ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
