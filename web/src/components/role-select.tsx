import type { ShareRole } from '../api/files-api.ts';

interface RoleSelectProps {
  value: ShareRole;
  onChange: (role: ShareRole) => void;
  /** Its accessible name when no visible <label> wraps it. */
  label?: string;
}

export function RoleSelect({ value, onChange, label }: RoleSelectProps) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.currentTarget.value as ShareRole)}>
      <option value="viewer">Viewer</option>
      <option value="editor">Editor</option>
    </select>
  );
}
