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
  refreshing ||= refresh().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// A new pair for the refresh token; refresh tokens rotate, so only one refresh runs at a time.
export async function refresh() {
  const token = refreshToken();
  if (!token) return null;
  const response = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  });
  if (!response.ok) {
    clearTokens();
    return null;
  }
  setTokens(await response.json());
  return access;
}
