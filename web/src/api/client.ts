import { AuthApi } from './auth-api.ts';
import { FilesApi } from './files-api.ts';
import { Http } from './http.ts';
import { Session } from './session.ts';
import { UploadsApi } from './uploads-api.ts';

export interface Api {
  session: Session;
  http: Http;
  auth: AuthApi;
  files: FilesApi;
  uploads: UploadsApi;
}

/** The web app's composition root for the API: one session, one Http, one client per service. */
export function createApi(base = ''): Api {
  // The session renews through the auth client, which sends through Http, which asks the session: tie the knot lazily.
  let auth: AuthApi | undefined;
  const session = new Session((refreshToken) => auth!.refresh(refreshToken));
  const http = new Http(session, base);
  auth = new AuthApi(http);
  return { session, http, auth, files: new FilesApi(http), uploads: new UploadsApi(http) };
}
