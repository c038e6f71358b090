// REST helpers. Errors carry the HTTP status and the server's `detail`.
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export async function getJSON(path) {
  let res;
  try {
    res = await fetch(path, { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(0, String(e));
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.json();
}

let configPromise = null;
/** The server's client configuration (voice available, resume grace ...), fetched once. */
export function getConfig() {
  if (!configPromise) {
    configPromise = getJSON('/api/web/config').catch(() => ({ voice: false, resume_grace_s: 60 }));
  }
  return configPromise;
}

export function wsUrl(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}
