// Lumina web UI: shared helpers and page start-up. Every value from the catalog is put into the page
// as text (textContent, attribute values), never as HTML, so file names and keywords cannot run script.
import { thumbHashToDataURL } from "/static/vendor/thumbhash/thumbhash.js";

export const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

/** An element: attrs (class, text, on<event>: function, any attribute), then children (nodes or text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

export function clearError() { document.getElementById("error").hidden = true; }

/** JSON API call; throws Error with the API's readable message (and shows it) on failure. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                              credentials: "same-origin" });
  } catch (exc) {
    throw new ApiError(0, "network", `The server did not answer (${exc.message}). Is lumina serve running?`);
  }
  if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
  if (res.status === 204) return null;
  let doc = null;
  try { doc = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = doc && doc.error ? doc.error : { code: "http_error", message: `${res.status} ${res.statusText}` };
    throw new ApiError(res.status, err.code, err.message);
  }
  return doc;
}

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

let openapi = null;
/** Whether the API offers a path (as written in /openapi.json, e.g. "/api/catalogs/{catalog_id}/search"):
 * optional endpoints (text search, similar photos) are asked for only when they exist. */
export async function hasEndpoint(path) {
  openapi = openapi || api("/openapi.json");
  return Boolean((await openapi).paths[path]);
}

export function catalogId() { return localStorage.getItem("lumina.catalog") || "default"; }
export const cat = (suffix = "") => `/api/catalogs/${encodeURIComponent(catalogId())}${suffix}`;

export function qs(params) {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") out.set(k, v);
  const s = out.toString();
  return s ? "?" + s : "";
}

export function placeholderUrl(item) {
  const hash = item.thumbnail && item.thumbnail.thumbhash;
  if (!hash) return null;
  try {
    const bytes = Uint8Array.from(atob(hash), (c) => c.charCodeAt(0));
    return thumbHashToDataURL(bytes);
  } catch { return null; }
}

/** A thumbnail: the ThumbHash placeholder at once, the image when loaded, or the reason there is none. */
export function thumb(item, { preview = false, cls = "" } = {}) {
  const url = preview ? item.preview_url : item.thumbnail_url;
  const ph = placeholderUrl(item);
  const box = el("div", { class: "thumb " + cls, style: ph ? { backgroundImage: `url("${ph}")` } : {} });
  const name = (item.paths && item.paths[0] || item.asset_id || "").split("/").pop();
  if (url) {
    const img = el("img", { src: url, alt: name, loading: "lazy", decoding: "async", title: name });
    img.addEventListener("error", () => img.replaceWith(el("span", { class: "why", text: "thumbnail could not be loaded" })));
    box.append(img);
  } else {
    box.append(el("span", { class: "why", text: "No thumbnail: " + ((item.thumbnail && item.thumbnail.error) || "not made yet") }));
  }
  return box;
}

export const thumbUrl = (assetId, size = "grid") => `/api/images/${assetId}/thumbnail${size === "grid" ? "" : "?size=" + size}`;

/** Review keys: ``handlers`` maps a key ("j", "Enter", …) to a function; "digit" gets 0-8 for keys 1-9.
 * Keys typed into form fields, with modifiers, or Enter on a focused button or link are left alone. */
export function onKeys(handlers) {
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Enter" && e.target.closest("button, a")) return;  // the focused control handles its own Enter
    const digit = /^[1-9]$/.test(e.key) && handlers.digit;
    const run = digit ? () => handlers.digit(Number(e.key) - 1) : handlers[e.key];
    if (!run) return;
    e.preventDefault();
    run();
  });
}

export function basename(path) { return (path || "").split("/").pop(); }
export function fmtBytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KB", "MB", "GB"]; let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Follow a job over server-sent events; onProgress(job) on each change; resolves with the last job. */
export function follow(jobId, onProgress) {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
    let last = null;
    source.addEventListener("progress", (e) => { last = JSON.parse(e.data); onProgress && onProgress(last); });
    source.addEventListener("end", (e) => { source.close(); const doc = JSON.parse(e.data); resolve(doc.error ? last : doc); });
    source.onerror = () => { source.close(); resolve(last); };
  });
}

export function progressText(job) {
  const total = job.total || 0, done = job.done || 0;
  const pct = total ? Math.round((100 * (done + (job.failed || 0))) / total) : (job.status === "succeeded" ? 100 : 0);
  return `${job.type} ${job.status}: ${done}/${total}${job.failed ? `, ${job.failed} failed` : ""} (${pct} %)`;
}

async function start() {
  const page = document.body.dataset.page;
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === page));
  window.addEventListener("unhandledrejection", (e) => showError(e.reason && e.reason.message ? e.reason.message : String(e.reason)));
  window.addEventListener("error", (e) => showError(e.message));
  const select = document.getElementById("catalog");
  try {
    const cats = await api("/api/catalogs");
    if (!cats.items.some((c) => c.id === catalogId())) localStorage.setItem("lumina.catalog", "default");
    for (const c of cats.items) select.append(el("option", { value: c.id, text: c.name, selected: c.id === catalogId() }));
    select.addEventListener("change", () => { localStorage.setItem("lumina.catalog", select.value); location.reload(); });
  } catch (exc) { showError(exc.message); }
  const app = document.getElementById("app");
  try {
    const module = await import(`/static/pages/${page}.js`);
    app.replaceChildren();
    await module.render(app);
  } catch (exc) {
    app.replaceChildren(el("p", { class: "muted", text: "This page could not be drawn." }));
    showError(exc.message || String(exc));
  }
}

start();
