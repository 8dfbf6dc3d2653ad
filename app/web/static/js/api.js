// The JSON API client: bearer tokens, problem+json errors, a retry after refreshing an expired token.
import * as auth from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code;
  }
}

export async function request(method, path, { body, query, headers = {}, auth: withAuth = true, raw = false } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.append(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const send = async (token) => {
    const h = { Accept: "application/json", ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (token) h.Authorization = `Bearer ${token}`;
    return fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  let token = withAuth ? await auth.accessToken() : null;
  let response = await send(token);
  if (response.status === 401 && token && auth.refreshToken()) {
    token = await auth.refresh();
    if (token) response = await send(token);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : null);
  return data;
}

export const get = (path, query, opts = {}) => request("GET", path, { query, ...opts });
export const post = (path, body, opts = {}) => request("POST", path, { body, ...opts });
export const patch = (path, body, opts = {}) => request("PATCH", path, { body, ...opts });
export const del = (path, body, opts = {}) => request("DELETE", path, { body, ...opts });

// A new Idempotency-Key for one booking write (a retry of the same click reuses it).
export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export async function login(email, password) {
  const pair = await post("/v1/auth/login", { email, password }, { auth: false });
  auth.setTokens(pair);
}

export async function logout() {
  const token = auth.refreshToken();
  auth.clearTokens();
  if (token) await post("/v1/auth/logout", { refresh_token: token }, { auth: false }).catch(() => {});
}
