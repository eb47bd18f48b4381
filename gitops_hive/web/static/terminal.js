// The agent page's terminal: xterm.js over a WebSocket to a shell in the agent, and the
// commands the operator types at the start of a line (/model, /help), which never reach it.
"use strict";

(function () {
  const section = document.getElementById("terminal");
  if (!section) return;
  const agent = section.dataset.agent;
  const encoder = new TextEncoder();
  const COMMANDS = ["/model", "/help"];
  let term = null;
  let fit = null;
  let socket = null;
  let atLineStart = true;  // the last key sent ended a line (Enter, Ctrl-C, Ctrl-U)
  let pending = null;      // a line that may be one of our commands, echoed here, not sent

  // xterm.js adds <style> elements; the page's CSP lets them in by this response's nonce.
  const nonceMeta = document.querySelector('meta[name="style-nonce"]');
  if (nonceMeta) {
    const create = document.createElement.bind(document);
    document.createElement = function (tag, options) {
      const element = create(tag, options);
      if (String(tag).toLowerCase() === "style") element.nonce = nonceMeta.content;
      return element;
    };
  }

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function status(text) {
    document.getElementById("terminal-status").textContent = text;
  }

  function say(text, colour) {
    const code = colour === "red" ? "31" : "36";
    term.write(`\x1b[${code}m${text.replace(/\n/g, "\r\n")}\x1b[0m\r\n`);
  }

  function send(text) {
    if (socket && socket.readyState === WebSocket.OPEN && text) socket.send(encoder.encode(text));
  }

  async function api(method, body) {
    const response = await fetch(`/api/agents/${encodeURIComponent(agent)}/model`, {
      method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function stateText(model) {
    return model.model_state === "queued"
      ? "queued: the next turn runs with it"
      : "active: the last turn ran with it";
  }

  async function runCommand(line) {
    const words = line.trim().split(/\s+/);
    if (words[0] === "/help") {
      say("/model               the model, where it comes from, active or queued\n" +
          "/model NAME [reason] switch the model (a git note; the next turn runs with it)\n" +
          "/help                this list\n" +
          "Anything else goes to the shell.");
      return;
    }
    try {
      const before = await api("GET");
      if (words.length === 1) {
        say(`model: ${before.model} (${before.model_source}, ${stateText(before)})`);
        return;
      }
      const reason = words.slice(2).join(" ");
      const after = await api("POST", reason ? { model: words[1], reason } : { model: words[1] });
      say(`model: ${before.model} → ${after.model} (${stateText(after)})`);
    } catch (error) {
      say(`model: ${error.message}`, "red");
    }
  }

  function mayBeOurs(text) {
    return COMMANDS.some((c) => c.startsWith(text) || text.startsWith(`${c} `));
  }

  function erase(text) {
    term.write("\b \b".repeat([...text].length));
  }

  function keys(data) {
    // Full-screen programs (the alternate screen) and escape sequences go straight through.
    if (term.buffer.active.type === "alternate" || data.startsWith("\x1b")) {
      if (pending !== null) { erase(pending); send(pending); pending = null; }
      send(data);
      atLineStart = false;
      return;
    }
    let out = "";
    for (const ch of data) {
      if (pending === null) {
        if (atLineStart && ch === "/") { pending = "/"; term.write("/"); continue; }
        out += ch;
        atLineStart = ch === "\r" || ch === "\x03" || ch === "\x15";
        continue;
      }
      if (ch === "\r") {
        const line = pending;
        pending = null;
        if (COMMANDS.includes(line.trim().split(/\s+/)[0])) {
          term.write("\r\n");
          runCommand(line).then(() => send("\r"));  // a fresh prompt after the answer
        } else {
          erase(line);
          out += `${line}\r`;
        }
        atLineStart = true;
      } else if (ch === "\x7f" || ch === "\b") {
        erase(pending.slice(-1));
        pending = pending.length > 1 ? pending.slice(0, -1) : null;
      } else if (ch === "\x03" || ch === "\x15") {
        erase(pending);
        pending = null;
      } else if (ch >= " " && mayBeOurs(pending + ch)) {
        pending += ch;
        term.write(ch);
      } else {
        erase(pending);
        out += pending + ch;
        pending = null;
        atLineStart = false;
      }
    }
    send(out);
  }

  function sanitisePaste(event) {
    // A pasted text must not end the bracketed paste and type the rest: no ESC or C1 controls.
    const text = event.clipboardData ? event.clipboardData.getData("text/plain") : "";
    event.preventDefault();
    event.stopImmediatePropagation();
    term.paste(text.replace(/[\x1b\x80-\x9f]/g, ""));
  }

  async function open() {
    const button = document.getElementById("terminal-open");
    if (button) button.disabled = true;
    const screen = document.getElementById("terminal-screen");
    screen.hidden = false;
    if (term) term.dispose();
    pending = null;
    atLineStart = true;
    term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, scrollback: 5000 });
    fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    fit.fit();
    screen.addEventListener("paste", sanitisePaste, true);
    const response = await fetch(`/api/agents/${encodeURIComponent(agent)}/terminal`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: "{}",
    });
    const ticket = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) {
      say(ticket.error || `HTTP ${response.status}`, "red");
      status("refused");
      if (button) button.disabled = false;
      return;
    }
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const query = `ticket=${encodeURIComponent(ticket.ticket)}&cols=${term.cols}&rows=${term.rows}`;
    socket = new WebSocket(
      `${scheme}://${window.location.host}/api/agents/${encodeURIComponent(agent)}/terminal/ws?${query}`);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => { status("connected"); section.dataset.state = "open"; term.focus(); });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") { term.write(new Uint8Array(event.data)); return; }
      const control = JSON.parse(event.data);
      if (control.where) status(`connected: ${control.where}`);
      if (control.ended) say(`[session ended: ${control.ended}]`, "red");
    });
    socket.addEventListener("close", () => {
      status("session ended");
      section.dataset.state = "ended";
      if (button) button.disabled = false;
    });
    term.onData(keys);
    term.onResize(({ cols, rows }) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ resize: [cols, rows] }));
    });
  }

  window.addEventListener("resize", () => { if (fit) fit.fit(); });

  document.addEventListener("click", (event) => {
    if (event.target && event.target.id === "terminal-open") open();
  });
})();
