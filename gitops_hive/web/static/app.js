// gitops-hive dashboard: confirm before decisions and actions, live updates over server-sent
// events, and a banner when the controller stops answering.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// A confirm names what will be sent: {field} is that field's value, {a|b} the first of the
// fields that is not empty (a pressed button's own value counts, as in the post itself).
const CONFIRM_SHOWN = 300; // characters of a typed value a confirm repeats

function confirmText(form, submitter) {
  const data = submitter ? new FormData(form, submitter) : new FormData(form);
  return form.dataset.confirm.replace(/\{([a-z|]+)\}/g, (_, names) => {
    const values = names.split("|").map((name) => String(data.get(name) || "").trim());
    const found = values.find((value) => value) || "";
    return found.length > CONFIRM_SHOWN ? `${found.slice(0, CONFIRM_SHOWN)}…` : found;
  });
}

function wireConfirms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    if (form.dataset.wired) return;
    form.dataset.wired = "1";
    form.addEventListener("submit", (event) => {
      if (!window.confirm(confirmText(form, event.submitter))) event.preventDefault();
    });
  });
}

function openDetails() {
  const state = {};
  document.querySelectorAll("details.file, details.keep-open").forEach((d) => { state[d.id] = d.open; });
  return state;
}

let deferred = false;

function typing(root) {
  const active = document.activeElement;
  return active && root.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
}

// Never wipe what the operator is typing: refresh once the field loses focus.
function deferWhileTyping(root, url) {
  if (!typing(root)) return false;
  if (!deferred) {
    deferred = true;
    document.activeElement.addEventListener("blur", () => { deferred = false; refresh(url); }, { once: true });
  }
  return true;
}

async function refresh(url) {
  const root = document.getElementById("live-root");
  if (deferWhileTyping(root, url)) return;
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
  } catch (error) {
    return; // the controller is gone: the stream's watchdog says so
  }
  if (response.status === 401 || response.redirected) { window.location.href = "/login"; return; }
  if (!response.ok) return;
  const html = await response.text();
  if (deferWhileTyping(root, url)) return; // the operator started typing while it loaded
  const open = openDetails();
  // The charts and the terminal are live themselves: they stay as they are.
  const kept = ["telemetry", "terminal"].map((id) => document.getElementById(id));
  root.innerHTML = html;
  kept.forEach((node) => {
    const slot = node && document.getElementById(node.id);
    if (slot) slot.replaceWith(node);
  });
  tickAges();
  document.querySelectorAll("details.file, details.keep-open").forEach((d) => { if (d.id in open) d.open = open[d.id]; });
  wireConfirms(root);
}

// The stream carries a heartbeat every 2 s (web/events.py): past this without one, or when
// the stream drops, the controller counts as unreachable.
const HEARTBEAT_MISSED_MS = 4000;

const liveness = {
  lastHeard: Date.now(),
  downSince: null,
  heard(url) {
    this.lastHeard = Date.now();
    if (this.downSince === null) return;
    this.downSince = null;
    document.body.classList.remove("offline");
    const banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = true;
    refresh(url); // what changed while it was away
  },
  lost() {
    if (this.downSince !== null) return;
    this.downSince = new Date(this.lastHeard);
    const since = this.downSince.toLocaleTimeString("en-GB", { hour12: false });
    document.body.classList.add("offline");
    const banner = document.getElementById("offline-banner");
    if (!banner) return;
    banner.querySelector(".since").textContent = since;
    banner.hidden = false;
  },
};

function openStream(url, dot) {
  let timer = null;
  const source = new EventSource("/api/events");
  source.onopen = () => {
    if (dot) dot.classList.add("on");
    // What changed between this page's render and the stream's start (a build that ended
    // just after an approve's redirect) would be missed: catch up once.
    if (liveness.downSince === null) refresh(url);
    liveness.heard(url);
  };
  source.onerror = () => {
    if (dot) dot.classList.remove("on");
    liveness.lost();
    // EventSource retries a dropped stream itself, but gives up on a refused answer.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => openStream(url, dot), 2000);
  };
  source.addEventListener("heartbeat", () => liveness.heard(url));
  const schedule = () => {
    liveness.heard(url);
    if (timer) return;
    timer = setTimeout(() => { timer = null; refresh(url); }, 150);
  };
  const kinds = (document.body.dataset.liveKinds || "").split(" ").filter(Boolean);
  kinds.forEach((kind) => source.addEventListener(kind, schedule));
  // A build's progress lines, appended to the approval page that shows that build.
  source.addEventListener("build", (event) => {
    const notice = JSON.parse(event.data);
    const pre = document.getElementById("build-progress");
    if (!pre || pre.dataset.approval !== String(notice.id)) return;
    pre.textContent += (pre.textContent ? "\n" : "") + notice.line;
    pre.scrollTop = pre.scrollHeight;
  });
  // The agent page's charts listen for this (static/charts.js).
  source.addEventListener("stats", (event) => {
    liveness.heard(url);
    document.dispatchEvent(new CustomEvent("hive:stats", { detail: JSON.parse(event.data) }));
  });
}

function startLive() {
  const url = document.body.dataset.live;
  const dot = document.getElementById("live-dot");
  if (!url || !window.EventSource) return;
  openStream(url, dot);
  setInterval(() => {
    if (Date.now() - liveness.lastHeard > HEARTBEAT_MISSED_MS) liveness.lost();
  }, 500);
}

function formatAge(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1).replace(/\.0$/, "")} h ago`;
  return `${(seconds / 86400).toFixed(1).replace(/\.0$/, "")} d ago`;
}

// "last turn N s ago" keeps counting between refreshes.
function tickAges() {
  const now = Date.now() / 1000;
  document.querySelectorAll("[data-ts]").forEach((el) => {
    el.textContent = formatAge(Math.max(0, now - Number(el.dataset.ts)));
  });
}

// While the controller is unreachable a post could only fail: forms do nothing (the banner
// says why), before any confirm is asked.
document.addEventListener("submit", (event) => {
  if (!document.body.classList.contains("offline")) return;
  event.preventDefault();
  event.stopImmediatePropagation();
}, true);

document.addEventListener("DOMContentLoaded", () => {
  wireConfirms(document);
  startLive();
  setInterval(tickAges, 1000);
});
