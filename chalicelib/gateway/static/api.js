// The service's HTTP API, seen from the page: the token, JSON requests, errors in words,
// and uploads straight to S3 with a job's presigned POST.

const TOKEN_KEY = "amr.token";

/** The bearer token survives a reload (localStorage), and is never put in a URL. */
export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
  user: null,
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const STATUS_WORDS = {
  400: "The request was not accepted",
  401: "Your session has ended; please sign in again",
  403: "You are not allowed to do this",
  404: "Not found",
  409: "This cannot be done in the item's current state",
  413: "The file is too large",
  429: "Too many attempts; wait a moment and try again",
  503: "The service is temporarily unavailable; try again shortly",
};

function words(status, body) {
  const err = body && typeof body === "object" ? body.error : null;
  if (err && err.message) return [err.code || "error", String(err.message)];
  return ["http_" + status, STATUS_WORDS[status] || `The service answered with an error (HTTP ${status})`];
}

/** A path of the API, resolved against the page's base (the API's own stage path). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).toString();
}

/**
 * Call the API. Resolves with the parsed JSON (or text, or null for 204); rejects with an
 * ApiError whose message is fit to show. A 401 on an authenticated call drops the token.
 */
export async function api(method, path, body, { raw = false, accept = null } = {}) {
  const headers = {};
  if (accept) headers.Accept = accept;  // a binary answer (the batch workbook): API Gateway needs it named
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (e) {
    throw new ApiError(0, "network", "Cannot reach the service; check your connection and try again");
  }
  if (response.status === 204) return null;
  if (accept && response.ok) return response.blob();
  const text = await response.text();
  let data = text;
  if (!raw || !response.ok) {
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  }
  if (!response.ok) {
    const [code, message] = words(response.status, data);
    if (response.status === 401 && token) {
      session.token = null;
      session.user = null;
      window.dispatchEvent(new CustomEvent("amr:signed-out", { detail: message }));
    }
    throw new ApiError(response.status, code, message);
  }
  return data;
}

/**
 * POST `file` to S3 with a presigned POST (`{url, fields}`); `onProgress(fraction)`.
 * Resolves when S3 accepted the object; rejects with an Error in words.
 */
export function uploadFile(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields || {})) form.append(k, v);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1);
        resolve();
      } else {
        const found = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
        reject(new Error(`Upload of ${file.name} was refused (HTTP ${xhr.status}${found ? ": " + found[1] : ""})`));
      }
    });
    xhr.addEventListener("error", () => reject(new Error(`Upload of ${file.name} failed: the storage could not be reached`)));
    xhr.addEventListener("abort", () => reject(new Error(`Upload of ${file.name} was interrupted`)));
    xhr.send(form);
  });
}

/** Save text as a file (a blob link: no token in any URL). */
export function saveText(text, filename, type = "text/plain") {
  saveBlob(new Blob([text], { type }), filename);
}

/** Save a blob (text or a binary file) under `filename`. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
