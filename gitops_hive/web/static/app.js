// gitops-hive dashboard: confirm before decisions, and live updates over server-sent events.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function wireConfirms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    if (form.dataset.wired) return;
    form.dataset.wired = "1";
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
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

async function refresh(url) {
  const root = document.getElementById("live-root");
  if (typing(root)) {
    // Never wipe what the operator is typing: refresh once the field loses focus.
    if (!deferred) {
      deferred = true;
      document.activeElement.addEventListener("blur", () => { deferred = false; refresh(url); }, { once: true });
    }
    return;
  }
  const response = await fetch(url, { credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
  if (response.status === 401 || response.redirected) { window.location.href = "/login"; return; }
  if (!response.ok) return;
  const html = await response.text();
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

function startLive() {
  const url = document.body.dataset.live;
  const dot = document.getElementById("live-dot");
  if (!url || !window.EventSource) return;
  let timer = null;
  const source = new EventSource("/api/events");
  source.onopen = () => { if (dot) dot.classList.add("on"); };
  source.onerror = () => { if (dot) dot.classList.remove("on"); };
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; refresh(url); }, 150);
  };
  const kinds = (document.body.dataset.liveKinds || "").split(" ").filter(Boolean);
  kinds.forEach((kind) => source.addEventListener(kind, schedule));
  // The agent page's charts listen for this (static/charts.js).
  source.addEventListener("stats", (event) => {
    document.dispatchEvent(new CustomEvent("hive:stats", { detail: JSON.parse(event.data) }));
  });
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

document.addEventListener("DOMContentLoaded", () => {
  wireConfirms(document);
  startLive();
  setInterval(tickAges, 1000);
});
