import { useEffect, useRef, useState } from 'preact/hooks';

const DEBOUNCE_MS = 300;

/** "Search files": tells its owner the query once typing pauses. */
export function SearchBox({ onSearch }: { onSearch: (query: string) => void }) {
  const [value, setValue] = useState('');
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = setTimeout(() => onSearch(value.trim()), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [value]);
  return (
    <form role="search" class="search" onSubmit={(e) => (e.preventDefault(), onSearch(value.trim()))}>
      <label class="field">
        <span>Search files</span>
        <input type="search" value={value} placeholder="Part of a file name" onInput={(e) => setValue(e.currentTarget.value)} />
      </label>
    </form>
  );
}
