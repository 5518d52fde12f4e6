// The API client: bearer tokens with a refresh when the access token runs out, an
// Idempotency-Key per user action, and problem+json answers turned into ApiError.
//
// Tokens live in sessionStorage, not localStorage:
// - the refresh token is single-use and presenting a used one revokes the session, so two
//   tabs sharing one (localStorage is shared) would race and log each other out;
// - it is gone when the tab closes, which matters on shared office and family computers;
// - it still survives the 3-D Secure round trip, which happens in the same tab.
// Either storage is readable by script on this origin; the strict CSP (no inline or foreign
// script) is what keeps other script out.

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || problem.code);
    this.problem = problem;
    this.status = problem.status;
    this.code = problem.code;
  }

  get fieldErrors() {
    return this.problem.errors ?? [];
  }

  /** The server may not have acted, or not answered yet: the same key may be sent again. */
  get retryable() {
    return this.code === 'network' || this.status >= 500 || this.code === 'idempotency.in_progress';
  }
}

/** A v4 UUID; randomUUID needs a secure context, getRandomValues does not. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * One user action, one Idempotency-Key. Sending the same body again after a network error,
 * a 5xx or "in progress" reuses the key, so the server replays its answer instead of
 * charging or booking twice; a changed body, or an action the server already answered,
 * gets a fresh key.
 */
export class Attempt {
  #key = null;
  #body = null;

  keyFor(body) {
    const json = JSON.stringify(body ?? null);
    if (this.#key === null || json !== this.#body) {
      this.#key = uuid();
      this.#body = json;
    }
    return this.#key;
  }

  settle(error) {
    if (!error || !(error instanceof ApiError) || !error.retryable) this.#key = null;
  }
}

class SessionStore {
  constructor(storageKey) {
    this.storageKey = storageKey;
  }

  get current() {
    try {
      return JSON.parse(sessionStorage.getItem(this.storageKey) ?? 'null');
    } catch {
      return null;
    }
  }

  save(session) {
    const value = {
      user: session.user,
      access_token: session.access_token,
      refresh_token: session.refresh_token,
      // Refresh a little early so a request never leaves with a token about to lapse.
      expires_at: Date.now() + (session.expires_in - 20) * 1000,
    };
    sessionStorage.setItem(this.storageKey, JSON.stringify(value));
    return value;
  }

  /** Keeps the session, with the account as the server now shows it. */
  setUser(user) {
    const value = this.current;
    if (!value) return;
    value.user = user;
    sessionStorage.setItem(this.storageKey, JSON.stringify(value));
  }

  clear() {
    sessionStorage.removeItem(this.storageKey);
  }
}

function problemFromStatus(status, detail) {
  const code = status === 404 ? 'resource.not_found' : status >= 500 ? 'internal' : 'request.invalid';
  return { status, code, title: '', detail: detail ?? '' };
}

/**
 * `storageKey` keeps the customer site and the agent console in separate sessions.
 * `onSessionEnd` runs when the session cannot be renewed (log in again).
 */
export function createApi(storageKey, { onSessionEnd } = {}) {
  const store = new SessionStore(storageKey);
  let refreshing = null;

  async function send(method, path, { body, query, key, token, accept, headers: extra }) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
    }
    const headers = { ...extra, Accept: accept ?? 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    if (key) headers['Idempotency-Key'] = key;
    try {
      return await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
      });
    } catch (cause) {
      throw new ApiError({ status: 0, code: 'network', title: '', detail: String(cause) });
    }
  }

  async function parse(response) {
    if (response.status === 204) return null;
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('json')) {
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(body?.code ? body : problemFromStatus(response.status));
      return body;
    }
    const text = await response.text();
    if (!response.ok) throw new ApiError(problemFromStatus(response.status, text));
    return text;
  }

  /** Rotates the refresh token once, however many requests are waiting for it. */
  function refresh() {
    refreshing ??= (async () => {
      const session = store.current;
      if (!session?.refresh_token) throw new ApiError({ status: 401, code: 'auth.missing_token', detail: '' });
      try {
        const fresh = await parse(await send('POST', '/v1/auth/refresh', {
          body: { refresh_token: session.refresh_token },
        }));
        return store.save(fresh);
      } catch (error) {
        if (error.status === 401 || error.status === 422) {
          store.clear();
          onSessionEnd?.();
        }
        throw error;
      }
    })().finally(() => { refreshing = null; });
    return refreshing;
  }

  async function request(method, path, options = {}) {
    const { auth = true } = options;
    let session = auth ? store.current : null;
    if (session && Date.now() >= session.expires_at) session = await refresh();
    let response = await send(method, path, { ...options, token: session?.access_token });
    if (response.status === 401 && session) {
      // The token lapsed in flight (or the clock is off): renew once and send it again,
      // with the same Idempotency-Key.
      session = await refresh();
      response = await send(method, path, { ...options, token: session.access_token });
    }
    return parse(response);
  }

  /**
   * A side-effecting POST under `attempt`'s Idempotency-Key. `ifMatch` (a version's `etag`)
   * makes it apply only to the version read: 412 when someone changed it meanwhile.
   */
  async function post(path, body, attempt, { ifMatch } = {}) {
    const key = attempt ? attempt.keyFor(body) : undefined;
    try {
      const result = await request('POST', path, { body, key, headers: ifMatch ? { 'If-Match': ifMatch } : undefined });
      attempt?.settle(null);
      return result;
    } catch (error) {
      attempt?.settle(error);
      throw error;
    }
  }

  return {
    get session() { return store.current; },
    get user() { return store.current?.user ?? null; },
    get: (path, query) => request('GET', path, { query }),
    getText: (path) => request('GET', path, { accept: 'text/html' }),
    post,
    async login(email, password) {
      const session = await request('POST', '/v1/auth/login', { body: { email, password }, auth: false });
      return store.save(session).user;
    },
    async register(details) {
      const session = await request('POST', '/v1/auth/register', { body: details, auth: false });
      return store.save(session).user;
    },
    /** Account links and "forgot password" need no session. */
    forgotPassword: (email) => request('POST', '/v1/auth/password/forgot', { body: { email }, auth: false }),
    resetPassword: (token, password) => request('POST', '/v1/auth/password/reset', { body: { token, password }, auth: false }),
    verifyEmail: (token) => request('POST', '/v1/auth/verify-email', { body: { token }, auth: false }),
    /** Another verification mail: '' when one is on its way, null when already verified. */
    resendVerification: () => request('POST', '/v1/me/verification-email', {}),
    async reloadUser() {
      const user = await request('GET', '/v1/me');
      store.setUser(user);
      return user;
    },
    async logout() {
      const session = store.current;
      store.clear();
      if (session?.refresh_token) {
        await send('POST', '/v1/auth/logout', { body: { refresh_token: session.refresh_token } }).catch(() => {});
      }
    },
    clear: () => store.clear(),
    // Waitlists (#16 point 2): leaving one is a DELETE.
    del: (path) => request('DELETE', path),
  };
}
