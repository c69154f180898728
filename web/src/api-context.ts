import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api/client.ts';

export const ApiContext = createContext<Api | undefined>(undefined);

/** The API clients of this app (set once, in app.tsx). */
export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside <App>');
  return api;
}
