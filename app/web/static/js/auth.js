// The sign-in: the access token only in memory, the refresh token in sessionStorage (it ends with
// the tab; never localStorage). Tokens are never logged.
const REFRESH_KEY = "parkshare.refresh";
let access = null;
let accessExpiresAt = 0;
const listeners = new Set();

export function onChange(listener) {
  listeners.add(listener);
}

function changed() {
  for (const listener of listeners) listener(isSignedIn());
}

export function setTokens(pair) {
  access = pair.access_token;
  accessExpiresAt = Date.now() + (pair.expires_in || 900) * 1000;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  changed();
}

export function clearTokens() {
  access = null;
  accessExpiresAt = 0;
  sessionStorage.removeItem(REFRESH_KEY);
  changed();
}

export function refreshToken() {
  return sessionStorage.getItem(REFRESH_KEY);
}

export function isSignedIn() {
  return Boolean(access || refreshToken());
}

// The access token, refreshed first when it is about to expire (or was lost with a reload).
let refreshing = null;
export async function accessToken() {
  if (access && Date.now() < accessExpiresAt - 30_000) return access;
  if (!refreshToken()) return null;
  return refresh();
}

// A new pair for the refresh token. Refresh tokens rotate, and the server takes a second use of
// one for theft: every caller (a 401 of a request, of the stream) shares the one refresh running.
export async function refresh() {
  refreshing ||= refreshOnce().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function refreshOnce() {
  const token = refreshToken();
  if (!token) return null;
  const response = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  });
  if (!response.ok) {
    // Only a refused token ends the sign-in; a 429 or 503 leaves it for the next try.
    if (response.status === 400 || response.status === 401) clearTokens();
    return null;
  }
  setTokens(await response.json());
  return access;
}
