// @ts-check
/**
 * The token a live view served beyond loopback asks for: read once from the address
 * (`#token=...`, which no server log sees), kept for this tab, and sent with every request.
 */
const KEY = 'll-token';

/** @type {string | null} */
let token = (() => {
  const m = /[#&]token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m === null) return sessionStorage.getItem(KEY);
  sessionStorage.setItem(KEY, m[1]);
  // Out of the address bar, where a screenshot or a shared link would carry it.
  history.replaceState(null, '', location.pathname);
  return m[1];
})();

/** @param {string} value */
export function setToken(value) {
  token = value;
  sessionStorage.setItem(KEY, value);
}

/** `path` with the token, for EventSource, which sends no headers. @param {string} path */
export const withToken = (path) => (token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path);

/** @returns {Record<string, string>} */
export const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});
