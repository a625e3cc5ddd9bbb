// Rolls without reloading the page: the form's `GET /?die=X&times=N&fault=Y` becomes
// `fetch("/roll?die=X&fault=Y")`, or `fetch("/roll-async?die=X&times=N&fault=Y")` for more than one die,
// and the JSON answer fills the same result area the server renders without JavaScript.
// Everything from the server is inserted as text (textContent), never as HTML.
"use strict";

const config = JSON.parse(document.getElementById("page-config").textContent);
const TRACE_ID = /^[0-9a-f]{32}$/;
const HISTORY_KEY = "dice-roller-history";

function byId(id) {
  return document.getElementById(id);
}

function traceUrl(traceId) {
  // A trace id is 32 hex digits, which URL-encoding leaves as they are.
  return TRACE_ID.test(traceId || "") ? config.traceUrlTemplate.replace(config.traceIdPlaceholder, traceId) : null;
}

function showTrace(traceId) {
  const link = byId("result-trace-link");
  const url = traceUrl(traceId);
  byId("result-trace-id").textContent = traceId || "none (tracing is off)";
  link.hidden = !url;
  link.href = url || "";
}

// A batch's words, as frontend_site/page.py writes them: "3 dice: 4 + 2 + 6 = 12", "1 of 3 dice failed".
function batchWords(roll) {
  if (roll.times === 1) return "";
  if (Array.isArray(roll.body.rolls)) return `${roll.times} dice: ${roll.body.rolls.join(" + ")} = ${roll.body.total}`;
  if (Number.isInteger(roll.body.failed)) return `${roll.body.failed} of ${roll.times} dice failed`;
  return "";
}

// One roll's value, or a batch's total.
function value(roll) {
  return String(roll.times === 1 ? roll.body.roll : roll.body.total);
}

function showRoll(roll) {
  const ok = roll.status === 200;
  const words = ok ? null : config.errors[roll.body.error] || config.unknownError;
  byId("result-body").hidden = false;
  byId("result-body").classList.toggle("is-error", !ok);
  byId("result-value").hidden = !ok;
  byId("result-value").textContent = ok ? value(roll) : "";
  byId("result-dice").hidden = !batchWords(roll);
  byId("result-dice").textContent = batchWords(roll);
  byId("result-title").hidden = ok;
  byId("result-title").textContent = ok ? "" : words.title;
  byId("result-text").hidden = ok;
  byId("result-text").textContent = ok ? "" : words.text;
  byId("result-die").textContent = roll.die;
  byId("result-status").textContent = ok ? "" : roll.status ? `HTTP ${roll.status}` : "no answer";
  byId("result-time").textContent = `${roll.elapsedMs} ms`;
  byId("result-fault").hidden = !roll.body.fault;
  byId("result-fault-entry").textContent = roll.body.fault || "";
  showTrace(roll.body.trace_id);
}

function loadHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY_KEY)) || [];
  } catch {
    return [];
  }
}

function saveHistory(history) {
  try {
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history));
  } catch {
    // Storage can be off (private windows); the history then lasts until the page reloads.
  }
}

function showHistory(history) {
  const rows = byId("history-rows");
  const template = byId("history-row");
  rows.replaceChildren(
    ...history.map((entry) => {
      const row = template.content.firstElementChild.cloneNode(true);
      row.querySelector(".history-value").textContent = entry.value;
      row.querySelector(".history-die").textContent = entry.die;
      row.querySelector(".history-status").textContent = entry.status;
      row.querySelector(".history-fault").textContent = entry.fault || "–";
      const link = row.querySelector("a");
      const url = traceUrl(entry.traceId);
      if (url) link.href = url;
      else link.replaceWith("none");
      return row;
    }),
  );
  byId("history").hidden = history.length === 0;
}

function remember(roll) {
  const ok = roll.status === 200;
  const entry = {
    // "4", or for a batch "3 × fair = 12"
    value: ok ? (roll.times === 1 ? value(roll) : `${roll.times} × ${roll.die} = ${value(roll)}`) : "–",
    die: roll.die,
    status: ok ? "ok" : `${roll.status || "no answer"} ${roll.body.error}`,
    traceId: roll.body.trace_id,
    fault: roll.body.fault,
  };
  const history = [entry, ...loadHistory()].slice(0, config.historySize);
  saveHistory(history);
  showHistory(history);
}

async function ask(die, times, fault) {
  const started = performance.now();
  let status = 0;
  let body;
  // The chosen fault travels with this roll only (the frontend puts it in the baggage).
  const query = new URLSearchParams(times === 1 ? { die } : { die, times });
  if (fault) query.set("fault", fault);
  try {
    const response = await fetch(`/${times === 1 ? "roll" : "roll-async"}?${query}`, {
      headers: { Accept: "application/json" },
    });
    status = response.status;
    body = await response.json();
  } catch {
    body = { error: status ? "bad_gateway" : "frontend_unreachable" };
  }
  return { die, times, status, body, elapsedMs: Math.round(performance.now() - started) };
}

function start() {
  showHistory(loadHistory());
  const form = byId("roll-form");
  if (!form) return;
  const button = byId("roll-button");
  let rolling = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (rolling) return;
    // Out of 1..20: the browser says so at the field, as it does without this script.
    if (!form.reportValidity()) return;
    // aria-disabled rather than disabled: a disabled button loses the keyboard focus.
    rolling = true;
    button.setAttribute("aria-disabled", "true");
    button.textContent = "Rolling…";
    // No "Break something" list when faults cannot travel (fault injection or tracing off).
    const fault = form.elements.fault ? form.elements.fault.value : "";
    const roll = await ask(form.elements.die.value, Number(form.elements.times.value), fault);
    showRoll(roll);
    remember(roll);
    button.removeAttribute("aria-disabled");
    button.textContent = "Roll";
    rolling = false;
  });
}

start();
