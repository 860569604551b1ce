/*
 * officepulse tabs: tells the officepulse agent on this computer which tab is in front.
 *
 * What is sent, to the native messaging host "org.officepulse.agent" only (the agent's
 * helper, started by the browser; there is no other connection):
 *   {"type": "hello", "extension": "0.1.0"}                once per connection
 *   {"type": "tab", "focused": true, "title": ..., "url": ..., "audible": ...}
 *   {"type": "tab", "focused": false}
 * The second while a normal window of this browser is in front: its active tab. The third,
 * once, when that stops being so (another app in front, a private window in front, every
 * window closed): it carries nothing about any tab, and tells the agent to stop using the
 * last one. Nothing else is sent while the browser is not in front, and nothing ever comes
 * from a private window: the manifest keeps the extension out of them ("incognito":
 * "not_allowed"), and report() checks again.
 *
 * One source for Chromium-based browsers and Firefox: `browser` (Firefox) and `chrome`
 * (Chromium) both give promises in Manifest V3.
 */
"use strict";

const api = globalThis.browser ?? globalThis.chrome;
const HOST = "org.officepulse.agent";
// Far above what the agent keeps (it cuts titles and URLs to 4096 characters after its
// redaction patterns have seen them whole), but a data: URL can be megabytes.
const MAX_TEXT = 65536;
// After the host could not be started or ended, wait this long before starting it again.
const RETRY_MS = 5000;
// Chromium does not always tell when another app takes the front, or gives it back
// (windows.onFocusChanged: GoogleChrome/developer.chrome.com#3082): look again this often.
// A look that finds nothing changed sends nothing.
const LOOK_MS = 1000;

let port = null;
let lastSent = ""; // the last message, as JSON: a message is sent only when it changes
let retryAt = 0;
let queue = Promise.resolve();

function connect() {
  if (port !== null || Date.now() < retryAt) {
    return port;
  }
  const opened = api.runtime.connectNative(HOST);
  opened.onDisconnect.addListener(() => {
    // The host is not installed, or it ended: say why in the extension's console, and
    // start it again on the next change (or after RETRY_MS, while this worker lives).
    const error = (api.runtime.lastError ?? opened.error)?.message;
    console.warn(`officepulse: the agent's helper ended${error ? `: ${error}` : ""}`);
    if (port === opened) {
      port = null;
      lastSent = "";
      retryAt = Date.now() + RETRY_MS;
      setTimeout(schedule, RETRY_MS);
    }
  });
  opened.postMessage({ type: "hello", extension: api.runtime.getManifest().version });
  port = opened;
  return port;
}

// The active tab of the focused window, or null when no normal window of this browser is
// in front or the one in front is private.
async function inFront() {
  let win;
  try {
    win = await api.windows.getLastFocused({ windowTypes: ["normal"] });
  } catch {
    return null; // no window at all
  }
  if (!win.focused || win.incognito) {
    return null;
  }
  const [tab] = await api.tabs.query({ active: true, windowId: win.id });
  if (tab === undefined || tab.incognito) {
    return null;
  }
  return tab;
}

async function report() {
  const tab = await inFront();
  const message =
    tab === null
      ? { type: "tab", focused: false }
      : {
          type: "tab",
          focused: true,
          title: (tab.title ?? "").slice(0, MAX_TEXT),
          url: (tab.url ?? "").slice(0, MAX_TEXT),
          audible: tab.audible === true,
        };
  const text = JSON.stringify(message);
  if (text === lastSent) {
    return;
  }
  const to = connect();
  if (to === null) {
    return;
  }
  to.postMessage(message);
  lastSent = text;
}

// Events come faster than the answers to the questions report() asks: one report at a
// time, each reading the browser afresh, so the last one sent is the state after the
// last event.
function schedule() {
  queue = queue.then(report).catch((error) => console.warn("officepulse:", error));
}

api.windows.onFocusChanged.addListener(schedule);
api.tabs.onActivated.addListener(schedule);
api.tabs.onUpdated.addListener((tabId, change, tab) => {
  if (tab.active && ("title" in change || "url" in change || "audible" in change)) {
    schedule();
  }
});
api.tabs.onRemoved.addListener(schedule);
api.runtime.onStartup.addListener(schedule);
api.runtime.onInstalled.addListener(schedule);
// While the host is connected its port keeps this worker alive, and so this timer.
setInterval(schedule, LOOK_MS);
schedule();
