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
  document.querySelectorAll("details.file").forEach((d) => { state[d.id] = d.open; });
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
  root.innerHTML = html;
  document.querySelectorAll("details.file").forEach((d) => { if (d.id in open) d.open = open[d.id]; });
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
  ["approval", "agent", "question", "model"].forEach((kind) => source.addEventListener(kind, schedule));
}

document.addEventListener("DOMContentLoaded", () => {
  wireConfirms(document);
  startLive();
});
