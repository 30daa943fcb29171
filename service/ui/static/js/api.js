// The API from the browser: the key kept for this browser session, requests, errors and stored crops.

const KEY = 'facever.apiKey';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (key) => (key ? sessionStorage.setItem(KEY, key.trim()) : sessionStorage.removeItem(KEY)),
};

/** An error answer of the API: its status, code, message and details (the error envelope). */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.details = error.details || {};
  }
}

// relative to the console's own address, so the console works behind a proxy's path prefix
const url = (path) => new URL(`../v1${path}`, document.baseURI);

/** Call the API. `json` is sent as a JSON body, `form` (FormData) as multipart; returns JSON, a Blob or null. */
export async function api(path, { method = 'GET', json, form } = {}) {
  const headers = {};
  const key = apiKey.get();
  if (key) headers['X-API-Key'] = key;
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const response = await fetch(url(path), { method, headers, body });
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json() : await response.blob();
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (error.status === 401) window.dispatchEvent(new CustomEvent('facever:unauthorized', { detail: error }));
    throw error;
  }
  return data;
}

/** A query string from an object, leaving out empty values. */
export const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== '' && value !== null && value !== undefined) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
};

const crops = new Map();

/** An object URL of a face's stored aligned crop (fetched with the key, as <img> cannot send headers). */
export function cropUrl(identityId, faceId) {
  const id = `${identityId}/${faceId}`;
  if (!crops.has(id)) {
    const pending = api(`/identities/${identityId}/faces/${faceId}/crop`).then((blob) => URL.createObjectURL(blob));
    pending.catch(() => crops.delete(id)); // try again next time (e.g. after a key was entered)
    crops.set(id, pending);
  }
  return crops.get(id);
}

/** Forget cached crops, e.g. when the key changes. */
export function clearCrops() {
  for (const pending of crops.values()) pending.then(URL.revokeObjectURL, () => {});
  crops.clear();
}
