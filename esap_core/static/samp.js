// SAMP from the page: the "Send to…" controls reach the researcher's hub through sampjs (docs/samp.md).
//
// Nothing touches the hub until someone opens a control: a page must not probe the researcher's
// machine by itself. One registration serves every control of the page; while registered, tables
// sent to "ESAP" go into the basket.
(() => {
  "use strict";

  const MTYPES = { table: "table.load.votable", image: "image.load.fits", point: "coord.pointAt.sky" };
  const TAKES = { table: "tables", image: "images", point: "positions" };
  const ANSWER_SECONDS = 60;
  const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

  let connector = null;
  let tracker = null;
  let lastControl = null;
  let tags = 0;
  let announceTimer = null;
  let listed = false; // the hub has told the tracker which clients are registered
  let waitingForClients = [];

  // --- saying what happens ---------------------------------------------------------------------

  function say(control, text, { problem = false, link = "", label = "", about = "outcome" } = {}) {
    const status = control.querySelector(".samp-status");
    status.dataset.about = about; // "connecting", "clients", or the outcome of something the researcher did
    status.classList.toggle("problem", problem);
    status.replaceChildren(document.createTextNode(text));
    if (link) {
      const anchor = document.createElement("a");
      anchor.href = link;
      anchor.textContent = label || "How to fix it";
      status.append(" ", anchor);
    }
  }

  function errorText(error) {
    if (!error) return "unknown error";
    if (error.faultString) return error.faultString;
    return error.message || String(error);
  }

  async function loopbackPermission() {
    // Chromium asks before a page from another address reaches this computer's loopback address:
    // "loopback-network" in recent releases (156 here), "local-network-access" in earlier ones.
    if (!navigator.permissions) return null;
    for (const name of ["loopback-network", "local-network-access"]) {
      try {
        return (await navigator.permissions.query({ name })).state;
      } catch (error) {
        // this browser does not know the permission: try the next name
      }
    }
    return null;
  }

  async function explainNoHub(control, error) {
    const help = control.dataset.sampHelp;
    const text = errorText(error);
    if (/rejected/i.test(text)) {
      say(control, "The hub refused ESAP's registration (was its dialog answered “no”?). Choose Send to… again to retry.", { problem: true });
      return;
    }
    const permission = await loopbackPermission();
    const fromElsewhere = !LOOPBACK.test(location.hostname);
    if (permission === "denied" && !window.isSecureContext) {
      say(control, "Your browser does not let a page served over plain HTTP reach the SAMP hub on your computer: open ESAP over HTTPS.", {
        problem: true, link: help + "#browsers", label: "What to do",
      });
    } else if (permission === "denied") {
      say(control, "Your browser blocks this page from reaching the SAMP hub on your computer (local network access).", {
        problem: true, link: help + "#browsers", label: "How to allow it",
      });
    } else if (permission === "prompt" && fromElsewhere) {
      say(control, "No SAMP hub answered. If your browser asked whether this site may reach your local network or this device, "
        + "allow it and choose Send to… again; otherwise start TOPCAT or Aladin (each starts a hub).", {
        problem: true, link: help + "#browsers", label: "What to do",
      });
    } else if (location.protocol === "https:" && fromElsewhere) {
      say(control, "No SAMP hub answered. If TOPCAT or Aladin is running, your browser may keep this HTTPS page from reaching it.", {
        problem: true, link: help + "#browsers", label: "What to do",
      });
    } else {
      say(control, "No SAMP hub is running on this computer. Start TOPCAT or Aladin (each starts a hub), then choose Send to… again.", {
        problem: true, link: help + "#hub", label: "How to start a hub",
      });
    }
  }

  // --- the connection and the clients it knows -------------------------------------------------

  function connection() {
    return connector && connector.connection ? connector.connection : null;
  }

  function otherClients() {
    const conn = connection();
    if (!conn || !tracker) return [];
    const skip = new Set([conn.regInfo["samp.self-id"], conn.regInfo["samp.hub-id"]]);
    return Object.keys(tracker.ids).filter((id) => !skip.has(id));
  }

  function takes(id, kind) {
    const subs = tracker.subs[id];
    return Boolean(subs) && samp.isSubscribed(subs, MTYPES[kind]);
  }

  function describeClient(id) {
    const what = Object.keys(MTYPES).filter((kind) => takes(id, kind)).map((kind) => TAKES[kind]);
    return `${tracker.getName(id)}${what.length ? ` (${what.join(", ")})` : ""}`;
  }

  function refreshControls() {
    const conn = connection();
    const clients = otherClients();
    for (const control of document.querySelectorAll("[data-samp]")) {
      const select = control.querySelector("[data-samp-target]");
      const chosen = select.value;
      const options = [new Option("Every client that takes it", "")];
      for (const id of clients) options.push(new Option(tracker.getName(id), id));
      select.replaceChildren(...options);
      select.value = clients.includes(chosen) ? chosen : "";
      select.disabled = !conn;
      control.querySelector("[data-samp-disconnect]").hidden = !conn;
    }
  }

  function announceClients(asked = false) {
    // The tracker reports each client's name and subscriptions one by one: say it once they settled,
    // unless the status says something newer (what was sent) and the researcher did not ask.
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => {
      refreshControls();
      if (!lastControl || !connection()) return;
      const about = lastControl.querySelector(".samp-status").dataset.about;
      if (!asked && about !== "connecting" && about !== "clients") return;
      const clients = otherClients();
      if (clients.length === 0) {
        say(lastControl, "Connected to the SAMP hub, but no other client is registered: start TOPCAT, Aladin or DS9.", { about: "clients" });
      } else {
        say(lastControl, `Connected to the SAMP hub. Registered clients: ${clients.map(describeClient).join("; ")}.`, { about: "clients" });
      }
    }, 400);
  }

  function makeConnector() {
    tracker = new samp.ClientTracker();
    tracker.callHandler[MTYPES.table] = () => ({}); // so that the hub lists ESAP as taking tables
    const baseCall = tracker.receiveCall;
    const baseNotification = tracker.receiveNotification;
    tracker.receiveCall = function (senderId, messageId, message) {
      if (message["samp.mtype"] !== MTYPES.table) return baseCall.call(this, senderId, messageId, message);
      receiveTable(senderId, message).then(
        () => this.connection.reply([messageId, { "samp.status": "samp.ok", "samp.result": {} }], null, () => {}),
        (error) => this.connection.reply(
          [messageId, { "samp.status": "samp.error", "samp.error": { "samp.errortxt": errorText(error) } }], null, () => {},
        ),
      );
      return true;
    };
    tracker.receiveNotification = function (senderId, message) {
      if (message["samp.mtype"] !== MTYPES.table) return baseNotification.call(this, senderId, message);
      receiveTable(senderId, message).catch(() => {});
      return true;
    };
    tracker.onchange = (id, type) => {
      if (type === "ids") listed = true;
      if (clientsKnown()) waitingForClients.splice(0).forEach((resolve) => resolve());
      announceClients();
    };
    const meta = {
      "samp.name": "ESAP",
      "samp.description.text": "ESAP science platform: result tables, the basket, images and positions",
      "samp.documentation.url": new URL(document.querySelector("[data-samp]").dataset.sampHelp, location.href).href,
    };
    connector = new samp.Connector("ESAP", meta, tracker, tracker.calculateSubscriptions());
    connector.onunreg = () => {
      listed = false;
      refreshControls();
    };
  }

  function clientsKnown() {
    return listed && Object.keys(tracker.ids).every((id) => id in tracker.subs && id in tracker.metas);
  }

  function whenClientsKnown(seconds) {
    // The tracker asks the hub for each client's name and subscriptions after registering: a send
    // right after connecting (a "Send image" button) must wait for them, or no client seems to take it.
    return new Promise((resolve) => {
      if (clientsKnown()) {
        resolve();
        return;
      }
      waitingForClients.push(resolve);
      setTimeout(resolve, seconds * 1000);
    });
  }

  function connect(control) {
    const conn = connection();
    if (conn) return Promise.resolve(conn);
    if (!connector) makeConnector();
    say(control, "Looking for a SAMP hub on this computer… If the hub asks whether to accept “ESAP”, accept it.", { about: "connecting" });
    return new Promise((resolve, reject) => {
      connector.runWithConnection(resolve, reject);
    }).then(async (conn) => {
      await whenClientsKnown(5);
      return conn;
    });
  }

  // --- sending ---------------------------------------------------------------------------------

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"] || "";
    } catch (error) {
      return "";
    }
  }

  function rowsOf(control) {
    const panel = control.closest(".archive-panel");
    const boxes = panel ? [...panel.querySelectorAll('tbody input[type="checkbox"][name="row"]')] : [];
    const checked = boxes.filter((box) => box.checked);
    return { boxes, chosen: checked.length ? checked : boxes, selected: checked.length > 0, panel };
  }

  async function tableMessage(control) {
    const body = new FormData();
    body.append("source", control.dataset.sampSource);
    let note = "";
    if (control.dataset.sampSource === "rows") {
      const { chosen, selected, panel } = rowsOf(control);
      const tooBig = panel ? panel.querySelectorAll("tbody tr").length - (selected ? 0 : chosen.length) : 0;
      body.append("archive", control.dataset.sampArchive);
      body.append("columns", control.dataset.sampColumns);
      body.append("title", control.dataset.sampTitle);
      for (const box of chosen) body.append("row", box.value);
      if (!selected && tooBig > 0) note = ` (${tooBig} row${tooBig === 1 ? " is" : "s are"} too large to send)`;
    }
    const answer = await fetch(control.dataset.sampLinks, {
      method: "POST", body, headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin",
    });
    const result = await answer.json().catch(() => ({ message: `ESAP answered ${answer.status}.` }));
    if (!answer.ok) throw new Error(result.message);
    const what = `the table “${result.name}” (${result.rows} row${result.rows === 1 ? "" : "s"})${note}`;
    const params = { url: result.url, name: result.name, "table-id": result.url };
    return [{ message: new samp.Message(MTYPES.table, params), what }];
  }

  function selectedRows(control, attribute) {
    const { chosen, selected } = rowsOf(control);
    if (!selected) return null;
    return chosen.map((box) => box.closest("tr")).filter((row) => row.hasAttribute(attribute));
  }

  function pointMessage(control) {
    const rows = selectedRows(control, "data-samp-ra");
    if (!rows) throw new Error("Select the row to point at first.");
    if (!rows.length) throw new Error("The selected row has no position.");
    const row = rows[0];
    const name = row.dataset.sampName ? ` (${row.dataset.sampName})` : "";
    const what = `the position ${Number(row.dataset.sampRa).toFixed(5)}, ${Number(row.dataset.sampDec).toFixed(5)}${name}`;
    return [{ message: new samp.Message(MTYPES.point, { ra: row.dataset.sampRa, dec: row.dataset.sampDec }), what }];
  }

  function imageMessages(control, button) {
    let images;
    if (button && button.dataset.sampImage) {
      images = [{ url: button.dataset.sampImage, name: button.dataset.sampName || "" }];
    } else {
      const rows = selectedRows(control, "data-samp-fits");
      if (!rows) throw new Error("Select the rows whose images to send first.");
      if (!rows.length) throw new Error("None of the selected rows is a FITS image.");
      images = rows.map((row) => ({ url: row.dataset.sampFits, name: row.dataset.sampName || "" }));
    }
    return images.map((image) => ({
      message: new samp.Message(MTYPES.image, { url: image.url, name: image.name || image.url }),
      what: `the image ${image.name || image.url}`,
    }));
  }

  function sendOne(control, conn, target, kind, { message, what }) {
    const tag = `esap-${++tags}`;
    const outcomes = new Map();
    const show = () => say(control, [...outcomes.values()].join(" "), {
      problem: [...outcomes.values()].some((text) => / refused | did not answer/.test(text)),
    });
    tracker.replyHandler[tag] = (responderId, msgTag, response) => {
      const name = tracker.getName(responderId);
      const status = response["samp.status"];
      const reason = (response["samp.error"] || {})["samp.errortxt"] || "no reason given";
      if (status === "samp.ok") outcomes.set(responderId, `${name} accepted ${what}.`);
      else if (status === "samp.warning") outcomes.set(responderId, `${name} took ${what}, with a warning: ${reason}.`);
      else outcomes.set(responderId, `${name} refused ${what}: ${reason}.`);
      show();
    };
    setTimeout(() => {
      for (const [id, text] of outcomes) {
        if (text.endsWith("…")) outcomes.set(id, `${tracker.getName(id)} did not answer about ${what}.`);
      }
      if (outcomes.size) show();
      delete tracker.replyHandler[tag];
    }, ANSWER_SECONDS * 1000);
    const failed = (error) => say(control, `The hub did not pass on ${what}: ${errorText(error)}`, { problem: true });
    const waiting = (ids) => {
      for (const id of ids) if (!outcomes.has(id)) outcomes.set(id, `Sent ${what} to ${tracker.getName(id)}; waiting for its answer…`);
      show();
    };
    if (target) conn.call([target, tag, message], () => waiting([target]), failed);
    else conn.callAll([tag, message], (sent) => waiting(Object.keys(sent || {})), failed);
  }

  async function send(control, kind, button) {
    lastControl = control;
    let conn;
    try {
      conn = await connect(control);
    } catch (error) {
      await explainNoHub(control, error);
      return;
    }
    const target = control.querySelector("[data-samp-target]").value;
    const name = target ? tracker.getName(target) : "";
    if (target && !takes(target, kind)) {
      say(control, `${name} does not take ${TAKES[kind]}: choose another client.`, { problem: true });
      return;
    }
    if (!target && !otherClients().some((id) => takes(id, kind))) {
      say(control, `No registered client takes ${TAKES[kind]}: start TOPCAT, Aladin or DS9, or choose another action.`, { problem: true });
      return;
    }
    let messages;
    try {
      say(control, kind === "table" ? "Preparing the table…" : "Sending…");
      if (kind === "table") messages = await tableMessage(control);
      else if (kind === "point") messages = pointMessage(control);
      else messages = imageMessages(control, button);
    } catch (error) {
      say(control, errorText(error), { problem: true });
      return;
    }
    for (const message of messages) sendOne(control, conn, target, kind, message);
  }

  // --- receiving a table into the basket ---------------------------------------------------------

  function onResearchersMachine(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "file:" || LOOPBACK.test(parsed.hostname);
    } catch (error) {
      return false;
    }
  }

  async function readAtMost(response, limit) {
    const declared = Number(response.headers.get("Content-Length"));
    if (declared > limit) throw new Error(tooBig(declared, limit));
    const reader = response.body.getReader();
    const parts = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel();
        throw new Error(tooBig(size, limit));
      }
      parts.push(value);
    }
    return new Blob(parts);
  }

  function tooBig(size, limit) {
    return `The table is over ${Math.floor(limit / 1024)} KiB${size > limit + 1 ? ` (${Math.ceil(size / 1024)} KiB)` : ""}: `
      + "a table from your own computer is kept inside its basket item. Send fewer rows, or put the table at a public URL and send that.";
  }

  async function receiveTable(senderId, message) {
    const control = lastControl || document.querySelector("[data-samp]");
    const params = message["samp.params"] || {};
    const sender = tracker.getName(senderId);
    const url = String(params.url || "");
    const name = String(params.name || "");
    try {
      if (!url) throw new Error(`${sender} sent a table without its URL.`);
      say(control, `Receiving a table from ${sender}…`);
      let answer;
      const received = control.dataset.sampReceived;
      const headers = { "X-CSRF-Token": csrfToken() };
      if (onResearchersMachine(url)) {
        // Only the page can reach the researcher's machine: it reads the table through the hub's translator.
        const conn = connection();
        const translator = conn.regInfo["samp.url-translator"] || "";
        const response = await fetch(translator ? translator + encodeURIComponent(url) : url);
        if (!response.ok) throw new Error(`The hub could not read the table from ${sender} (${response.status}).`);
        const body = await readAtMost(response, Number(control.dataset.sampInlineBytes));
        const query = new URLSearchParams({ url, name, sender });
        answer = await fetch(`${received}?${query}`, {
          method: "POST", body, credentials: "same-origin",
          headers: { ...headers, "Content-Type": "application/x-votable+xml" },
        });
      } else {
        answer = await fetch(received, {
          method: "POST", body: JSON.stringify({ url, name, sender }), credentials: "same-origin",
          headers: { ...headers, "Content-Type": "application/json" },
        });
      }
      const result = await answer.json().catch(() => ({ message: `ESAP answered ${answer.status}.` }));
      if (!answer.ok) throw new Error(result.message);
      say(control, result.message);
      basketChanged();
    } catch (error) {
      say(control, `The table from ${sender} was not added: ${errorText(error)}`, { problem: true });
      throw error;
    }
  }

  function basketChanged() {
    if (!window.htmx) return;
    htmx.trigger(document.body, "basket-changed");
    if (document.getElementById("basket")) {
      htmx.ajax("GET", location.pathname, { target: "#basket", select: "#basket", swap: "outerHTML" });
    }
  }

  // --- the controls ------------------------------------------------------------------------------

  function controlOf(element) {
    for (let node = element.parentElement; node; node = node.parentElement) {
      const found = node.querySelector("[data-samp]");
      if (found) return found;
    }
    return document.querySelector("[data-samp]");
  }

  async function open(control, button) {
    const panel = document.getElementById(button.getAttribute("aria-controls"));
    const opening = panel.hidden;
    panel.hidden = !opening;
    button.setAttribute("aria-expanded", String(opening));
    if (!opening) return;
    lastControl = control;
    if (connection()) {
      announceClients(true);
      return;
    }
    try {
      await connect(control);
    } catch (error) {
      await explainNoHub(control, error);
    }
  }

  function openPanel(control) {
    const button = control.querySelector("[data-samp-open]");
    const panel = document.getElementById(button.getAttribute("aria-controls"));
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.matches("[data-samp-open]")) {
      open(target.closest("[data-samp]"), target);
    } else if (target.matches("[data-samp-send]")) {
      send(target.closest("[data-samp]"), target.dataset.sampSend, target);
    } else if (target.matches("[data-samp-image]")) {
      const control = controlOf(target);
      if (!control) return;
      openPanel(control);
      send(control, "image", target);
    } else if (target.matches("[data-samp-disconnect]")) {
      const control = target.closest("[data-samp]");
      if (connector) connector.unregister();
      refreshControls();
      say(control, "Disconnected from the SAMP hub: tables sent to ESAP no longer reach this page.");
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !(event.target instanceof Element)) return;
    const control = event.target.closest("[data-samp]");
    const button = control && control.querySelector("[data-samp-open]");
    if (!button || button.getAttribute("aria-expanded") !== "true") return;
    document.getElementById(button.getAttribute("aria-controls")).hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  });

  // Panels loaded later (HTMX) get the clients at once; leaving the page unregisters it from the hub.
  document.addEventListener("htmx:load", () => {
    if (connection()) refreshControls();
  });
  window.addEventListener("pagehide", () => {
    if (connection()) connector.unregister();
  });
})();
