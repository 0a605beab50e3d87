// The operator dashboard. Data comes from the server's /v1 API (with the operator's API key); every number
// computed here comes from the core, through the browser build of the JS package: the payment preview and
// the schedule preview from the first-page module (`/pkg/micropower.js`: the previews only, no phone-number
// metadata), the registration checks from the full module (`/pkg/full.js`), loaded when the form opens.
// No business rule is written here. The server's build rewrites the four /pkg/ paths below to their
// content-hashed names.
import init, * as core from "/pkg/micropower.js";

// The full module (every core function, the phone rules among them), fetched and compiled once, on first use.
let fullModule = null;
function loadFull() {
  fullModule ??= import("/pkg/full.js").then(async (full) => {
    await full.default({ module_or_path: "/pkg/full_bg.wasm" });
    window.micropowerFull = full; // for the console and the browser test
    return full;
  }).catch((e) => { fullModule = null; throw e; }); // the next visit tries again
  return fullModule;
}

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const message = document.getElementById("message");
const charts = [];

// ---- helpers ------------------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function table(columns, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, columns.map(([label, , cls]) => h("th", { class: cls }, label)))),
    h("tbody", {}, rows.length === 0
      ? h("tr", {}, h("td", { colspan: columns.length, class: "hint" }, "Nothing here yet."))
      : rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row)))))));
}

/** Shows an error the way the core or the server named it: "AmountBelowMinimum: amount 10 is below …". */
function showError(e) {
  const what = e && e.code ? `${e.name && e.name !== "Error" ? e.name : e.code}: ` : "";
  const extra = e && e.details && e.details.minimum_amount ? ` (minimum ${e.details.minimum_amount})` : "";
  message.className = "error";
  message.textContent = `${what}${e && e.message ? e.message : String(e)}${extra}`;
  message.hidden = false;
}

function showOk(text) {
  message.className = "ok";
  message.textContent = text;
  message.hidden = false;
}

let carried = null; // a message shown on the next page (e.g. "Registered …" on the device page)

function clearMessage() {
  message.hidden = true;
  message.textContent = "";
}

class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body.code || "http_" + status;
    this.details = body;
  }
}

async function api(path, { method = "GET", body, login = false } = {}) {
  const key = sessionStorage.getItem("micropower.key");
  // A form (a file upload) goes as multipart: the browser writes its Content-Type with the boundary.
  const form = body instanceof FormData;
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body && !form ? { "Content-Type": "application/json" } : {}) },
    body: form ? body : body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { message: text }; }
  if (!res.ok) {
    if (res.status === 401 && !login) logout("Your API key was refused: log in again.");
    throw new ApiError(res.status, data);
  }
  return data;
}

const fmt = (v) => (v === null || v === undefined || v === "" ? "—" : v);
const today = () => new Date().toISOString().slice(0, 10);
const query = () => new URLSearchParams(location.hash.split("?")[1] || "");

// ---- login --------------------------------------------------------------------------------------------------

function logout(why) {
  sessionStorage.removeItem("micropower.key");
  if (why) carried = () => showError({ message: why });
  if (location.hash !== "#/login") { location.hash = "#/login"; return; }
  if (carried) { carried(); carried = null; }
  route();
}

function loginView() {
  nav.hidden = true;
  const view = document.getElementById("login-view").content.cloneNode(true);
  main.replaceChildren(view);
  document.getElementById("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = new FormData(ev.target).get("key").trim();
    sessionStorage.setItem("micropower.key", key);
    try {
      await api("/v1/customers?limit=1", { login: true });
      clearMessage();
      location.hash = "#/customers";
    } catch (e) {
      sessionStorage.removeItem("micropower.key");
      showError(e.status === 401 ? { message: "That API key is not valid." } : e);
    }
  });
}

// ---- lists --------------------------------------------------------------------------------------------------

function searchBox(placeholder, value, onSearch) {
  const input = h("input", { type: "search", name: "query", placeholder, value });
  return h("form", { class: "search", onsubmit: (ev) => { ev.preventDefault(); onSearch(input.value.trim()); } },
    input, h("button", { type: "submit" }, "Search"));
}

async function customersView() {
  const q = query().get("q") || "";
  const [data, villages] = await Promise.all([api(`/v1/customers?query=${encodeURIComponent(q)}`), villageChoices()]);
  const villageName = new Map(villages);
  main.replaceChildren(h("h1", {}, "Customers"),
    searchBox("Name, surname or phone", q, (v) => { location.hash = `#/customers?q=${encodeURIComponent(v)}`; }),
    table([
      ["Name", (c) => h("a", { href: `#/customer/${encodeURIComponent(c.id)}` }, `${c.name} ${c.surname}`)],
      ["Phones", (c) => (c.phones || []).join(", ")],
      ["Village", (c) => fmt(villageName.get(c.village_id) || c.village_id)],
      ["National id", (c) => fmt(c.national_id)],
    ], data.items || [], { id: "customers-table" }));
}

/** A field's error under it, filled from a server's answer that names the field. */
function fieldErrors(form, fields) {
  const boxes = new Map(fields.map((f) => [f, h("p", { class: "field-error", dataset: { field: f }, hidden: true })]));
  return {
    box: (f) => boxes.get(f),
    clear() { for (const b of boxes.values()) { b.hidden = true; b.textContent = ""; } },
    /** Shows `e` under its field and answers true, or answers false when it names none of them. */
    show(e) {
      const field = e && e.details && typeof e.details.field === "string" ? e.details.field.replace(/\[\d+\]$/, "") : null;
      const b = field && boxes.get(field);
      if (!b) return false;
      b.textContent = `${e.code}: ${e.message}`;
      b.hidden = false;
      return true;
    },
  };
}

function customerEditForm(c, villages, onSaved) {
  const errors = fieldErrors(null, ["name", "surname", "phones", "village_id", "national_id"]);
  const phoneList = h("div", { id: "edit-phones", class: "grid" });
  const addPhone = (value = "") => {
    const n = phoneList.children.length + 1;
    const input = h("input", { name: "phones", value, inputmode: "tel", autocomplete: "off" });
    const remove = h("button", { type: "button", class: "secondary", onclick: () => { row.remove(); renumber(); } }, "Remove");
    const row = h("div", { class: "phone-row" }, h("label", {}, n === 1 ? "Phone 1 (primary)" : `Phone ${n}`, input), remove);
    phoneList.append(row);
    renumber();
    return input;
  };
  const renumber = () => [...phoneList.children].forEach((row, i) => {
    row.querySelector("label").firstChild.textContent = i === 0 ? "Phone 1 (primary)" : `Phone ${i + 1}`;
    row.querySelector("button").hidden = phoneList.children.length === 1;
  });
  for (const p of (c.phones && c.phones.length ? c.phones : [""])) addPhone(p);
  const choices = villages.some(([id]) => id === c.village_id) ? villages : [[c.village_id, c.village_id], ...villages];
  const village = h("select", { name: "village_id" }, options(choices));
  village.value = c.village_id || "";
  const form = h("form", { id: "customer-edit", class: "card", novalidate: true, hidden: true },
    h("h2", {}, "Edit"),
    h("div", { class: "grid" },
      h("label", {}, "Name", h("input", { name: "name", value: c.name }), errors.box("name")),
      h("label", {}, "Surname", h("input", { name: "surname", value: c.surname }), errors.box("surname")),
      h("label", {}, "Village", village, errors.box("village_id")),
      h("label", {}, "National id", h("input", { name: "national_id", value: c.national_id || "", autocomplete: "off" }), errors.box("national_id"))),
    h("fieldset", {}, h("legend", {}, "Phones (the first is the primary one)"), phoneList,
      h("button", { type: "button", class: "secondary", onclick: () => addPhone().focus() }, "Add a phone"),
      errors.box("phones")),
    h("p", {}, h("button", { type: "submit" }, "Save"), " ",
      h("button", { type: "button", class: "secondary", onclick: () => { form.hidden = true; } }, "Cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.clear();
    const el = form.elements;
    const body = {
      name: el.name.value.trim(), surname: el.surname.value.trim(), village_id: el.village_id.value,
      phones: [...form.querySelectorAll("input[name=phones]")].map((i) => i.value.trim()).filter(Boolean),
      national_id: el.national_id.value.trim() || null,
    };
    try {
      const saved = await api(`/v1/customers/${encodeURIComponent(c.id)}`, { method: "PATCH", body });
      await onSaved(saved);
    } catch (e) {
      if (!errors.show(e)) showError(e);
    }
  });
  return form;
}

async function customerView(id) {
  const [c, villages] = await Promise.all([api(`/v1/customers/${encodeURIComponent(id)}`), villageChoices()]);
  const villageName = new Map(villages);
  const form = customerEditForm(c, villages, async (saved) => {
    await customerView(id);
    showOk(`Saved ${saved.name} ${saved.surname}: ${(saved.phones || []).join(", ")}.`);
  });
  const edit = h("button", { type: "button", id: "customer-edit-open", onclick: () => { form.hidden = false; form.elements.name.focus(); } }, "Edit");
  main.replaceChildren(h("h1", {}, `${c.name} ${c.surname}`),
    h("div", { class: "card" }, h("dl", { class: "facts", id: "customer-facts" },
      h("dt", {}, "Phones"), h("dd", { id: "customer-phones" }, (c.phones || []).join(", ")),
      h("dt", {}, "Village"), h("dd", {}, fmt(villageName.get(c.village_id) || c.village_id)),
      h("dt", {}, "National id"), h("dd", {}, fmt(c.national_id)),
      h("dt", {}, "Credit"), h("dd", {}, Object.entries(c.credit_balance ?? {}).map(([cur, v]) => `${v} ${cur}`).join(", ") || "—")),
      h("p", {}, edit)),
    form,
    h("h2", {}, "Devices"), h("div", { class: "scroll" }, devicesTable(c.devices || [])),
    h("h2", {}, "Plans"), h("div", { class: "scroll" }, table([
      ["Plan", (p) => p.appliance || p.id], ["Kind", (p) => fmt(p.kind)], ["Total", (p) => fmt(p.total_cost), "num"],
      ["Paid", (p) => fmt(p.paid), "num"], ["Outstanding", (p) => fmt(p.outstanding), "num"],
    ], c.plans || [])));
}

function devicesTable(devices) {
  return table([
    ["Serial", (d) => h("a", { href: `#/device/${encodeURIComponent(d.serial)}` }, d.serial)],
    ["Kind", (d) => d.kind],
    // A list names the owner; a customer's own page has no need to.
    ["Customer", (d) => d.customer_id ? h("a", { href: `#/customer/${encodeURIComponent(d.customer_id)}` },
      d.customer ? `${d.customer.name} ${d.customer.surname}${d.customer.phone ? ` (${d.customer.phone})` : ""}` : d.customer_id) : "—"],
    ["Credit", (d) => `${d.credit_balance} ${d.currency || ""}`, "num"],
    ["Tokens issued", (d) => fmt(d.token_count), "num"],
  ], devices, { id: "devices-table" });
}

async function devicesView() {
  const q = query().get("q") || "";
  const data = await api(`/v1/devices?query=${encodeURIComponent(q)}`);
  main.replaceChildren(h("h1", {}, "Devices"),
    searchBox("Serial", q, (v) => { location.hash = `#/devices?q=${encodeURIComponent(v)}`; }),
    devicesTable(data.items || []));
}

function tokenCodes(tokens) {
  return (tokens || []).map((t) => h("div", { class: "token" }, `${fmt(t.code)} `,
    h("span", { class: "hint" }, `${t.kind}${t.quantity ? ` ${t.quantity} ${t.unit || ""}` : ""}`)));
}

// What an energy or EaaS line bought, as the customer's token carries it.
function quantityOf(line) {
  if (line.quantity == null) return "";
  if (line.kind === "energy") return ` · ${line.quantity} kWh`;
  return line.kind === "eaas" ? ` · ${line.quantity} days` : "";
}

async function paymentsView() {
  const q = query().get("serial") || "";
  const data = await api(q ? `/v1/payments?serial=${encodeURIComponent(q)}` : "/v1/payments");
  main.replaceChildren(h("h1", {}, "Payments"),
    searchBox("Serial", q, (v) => { location.hash = v ? `#/payments?serial=${encodeURIComponent(v)}` : "#/payments"; }),
    table([
      ["Payment", (p) => p.payment_id],
      // A payment to a plan sold without a device has no serial: it names its plan.
      ["Serial", (p) => (p.serial ? h("a", { href: `#/device/${encodeURIComponent(p.serial)}` }, p.serial) : `plan ${p.plan_id || ""}`)],
      ["Amount", (p) => `${p.amount} ${p.currency}`, "num"],
      ["Status", (p) => p.status],
      // Installment 0 is a down payment.
      ["Paid for", (p) => (p.allocations || []).map((a) => h("div", {}, `${a.kind} ${a.amount}${a.installment != null ? ` (#${a.installment})` : ""}${quantityOf(a)}`))],
      ["Tokens", (p) => tokenCodes(p.tokens)],
    ], data.items || [], { id: "payments-table" }));
}

// ---- device page and the payment preview ---------------------------------------------------------------------

function currencyOf(snapshot) {
  const b = snapshot.billing;
  return b.kind === "meter" ? b.tariff.currency : b.plan.currency;
}

function allocationView(allocation) {
  const token = allocation.token;
  return h("div", {},
    table([
      ["Pays for", (l) => l.kind + (l.plan_id ? ` (plan ${l.plan_id}${l.installment ? `, #${l.installment}` : ""})` : "")],
      ["Amount", (l) => l.amount, "num"],
      ["Quantity", (l) => fmt(l.quantity), "num"],
    ], allocation.lines, { id: "preview-lines" }),
    h("dl", { class: "facts" },
      h("dt", {}, "Token"),
      h("dd", { id: "preview-token" }, token ? `${token.quantity} ${token.unit}` : `none (${fmt(allocation.no_token_reason)})`),
      h("dt", {}, "Credit used / added"), h("dd", {}, `${allocation.credit_used} / ${allocation.credit_added}`),
      h("dt", {}, "Credit after"), h("dd", {}, allocation.credit_balance)));
}

async function deviceView(serial) {
  const [device, account, tokens] = await Promise.all([
    api(`/v1/devices/${encodeURIComponent(serial)}`),
    api(`/v1/devices/${encodeURIComponent(serial)}/snapshot`),
    api(`/v1/devices/${encodeURIComponent(serial)}/tokens`),
  ]);
  const snapshot = account.snapshot;
  const currency = currencyOf(snapshot);
  const b = snapshot.billing;
  // A meter's tariff by its name, linked to its page (the snapshot carries the prices, not the name).
  const tariffId = device.tariff_id || (b.kind === "meter" ? b.tariff.id : null);
  const tariff = tariffId ? await api(`/v1/tariffs/${encodeURIComponent(tariffId)}`).catch(() => null) : null;
  const plans = [...(b.kind === "installments" ? [b.plan] : []), ...(snapshot.customer_plans || [])];

  // The box: what a payment of this amount would buy now, decided by the core in this browser.
  const output = h("div", { id: "preview" }, h("p", { class: "hint" }, "Type an amount."));
  const json = h("pre", { id: "preview-json", hidden: true });
  const amount = h("input", { id: "preview-amount", name: "amount", inputmode: "decimal", placeholder: `Amount in ${currency}` });
  const preview = () => {
    const value = amount.value.trim();
    json.textContent = "";
    if (!value) { output.replaceChildren(h("p", { class: "hint" }, "Type an amount.")); return; }
    try {
      const allocation = core.allocatePayment(snapshot, { serial: snapshot.device.serial, amount: value, currency, received_on: account.today });
      json.textContent = JSON.stringify(allocation);
      output.replaceChildren(allocationView(allocation));
    } catch (e) {
      output.replaceChildren(h("p", { class: "field-error", id: "preview-error" },
        `${e.name} (${e.code}): ${e.message}`));
    }
  };
  amount.addEventListener("input", preview);

  main.replaceChildren(
    h("h1", {}, `Device ${device.serial}`),
    h("p", {}, h("a", { id: "take-cash", href: `#/cash/${encodeURIComponent(device.serial)}` }, "Take cash for this device")),
    h("div", { class: "card" }, h("dl", { class: "facts" },
      h("dt", {}, "Kind"), h("dd", {}, device.kind),
      h("dt", {}, "Customer"), h("dd", {}, device.customer_id
        ? h("a", { href: `#/customer/${encodeURIComponent(device.customer_id)}` }, snapshot.device.owner ? `${snapshot.device.owner.name} ${snapshot.device.owner.surname || ""}` : device.customer_id)
        : "none"),
      h("dt", {}, "Billing"), h("dd", { id: "device-billing" }, b.kind === "meter"
        ? [tariff ? h("a", { href: `#/tariff/${encodeURIComponent(tariffId)}` }, tariff.name) : `tariff ${fmt(tariffId)}`,
          `: unit price ${core.unitPrice(b.tariff)} ${currency}/kWh`]
        : `${b.kind} plan ${b.plan.appliance || b.plan.id}`),
      h("dt", {}, "Access-rate debt"), h("dd", {}, fmt(device.access_rate_debt)),
      h("dt", {}, "Credit"), h("dd", { id: "device-credit" }, `${snapshot.credit_balance} ${currency}`),
      h("dt", {}, "Tokens issued"), h("dd", {}, fmt(device.token_count)))),
    h("div", { class: "card preview" },
      h("h2", {}, "What will this payment buy?"),
      h("label", {}, `Amount (${currency}), received ${account.today}`, amount),
      output, json,
      h("p", { class: "hint" }, "Computed in this browser by the micropower core (WebAssembly); the server makes the same decision when the payment arrives.")),
    h("h2", {}, "Plans and debts"),
    ...plans.map((p) => {
      const s = core.planSummary(p);
      return h("div", { class: "card" },
        h("p", {}, `Plan ${s.id}: total ${s.total_cost}, paid ${s.paid}, outstanding ${s.outstanding} ${s.currency} (${s.period})`),
        table([
          ["#", (i) => i.number], ["Due", (i) => i.due_date], ["Amount", (i) => i.amount, "num"],
          ["Paid", (i) => i.paid, "num"], ["Remaining", (i) => i.remaining, "num"],
        ], s.installments));
    }),
    ...(plans.length === 0 ? [h("p", { class: "hint" }, "No plan.")] : []),
    h("h2", {}, "Tokens"),
    table([
      ["Created", (t) => t.created_at], ["Cause", (t) => t.cause], ["Kind", (t) => t.kind],
      ["Quantity", (t) => `${fmt(t.quantity)} ${t.unit || ""}`, "num"], ["Code", (t) => h("span", { class: "token" }, fmt(t.code))],
      ["Status", (t) => t.status],
    ], tokens.items || [], { id: "tokens-table" }));
}

// ---- choosing a device by serial or by its owner ---------------------------------------------------------------

const ownerText = (c) => (c ? `${c.name} ${c.surname}${c.phone ? ` (${c.phone})` : ""}` : "no owner");

/** The devices whose serial holds `text`, and those of the customers whose name or phone holds it. */
async function findDevices(text) {
  const found = new Map();
  // The server reads a serial's letters and digits only (spaces and dashes dropped): other text is a name.
  const serialLike = /^[A-Za-z0-9\s-]{1,40}$/.test(text) && /[A-Za-z0-9]/.test(text);
  const [bySerial, customers] = await Promise.all([
    serialLike ? api(`/v1/devices?limit=10&query=${encodeURIComponent(text)}`) : { items: [] },
    api(`/v1/customers?limit=5&query=${encodeURIComponent(text)}`),
  ]);
  for (const d of bySerial.items || []) found.set(d.serial, d);
  const owners = await Promise.all((customers.items || []).map((c) => api(`/v1/customers/${encodeURIComponent(c.id)}`)));
  for (const c of owners) {
    for (const d of c.devices || []) {
      if (!found.has(d.serial)) found.set(d.serial, { ...d, customer: { id: c.id, name: c.name, surname: c.surname, phone: (c.phones || [])[0] } });
    }
  }
  return [...found.values()];
}

/**
 * A search-as-you-type device chooser: `label` names its input; a click on a result calls `onPick(device)`
 * (a device of `GET /v1/devices`, with its `customer`).
 */
function devicePicker(label, onPick, { id = "device-picker" } = {}) {
  const input = h("input", { type: "search", name: "device", autocomplete: "off", placeholder: "Serial, name or phone" });
  const list = h("ul", { class: "picks", id: `${id}-results`, role: "listbox", hidden: true });
  let asked = 0;
  let timer = null;
  const search = async () => {
    const text = input.value.trim();
    const mine = ++asked;
    if (text.length < 2) { list.hidden = true; list.replaceChildren(); return; }
    try {
      const devices = await findDevices(text);
      if (mine !== asked) return; // a later search answers
      list.replaceChildren(...(devices.length ? devices.map((d) => h("li", {},
        h("button", { type: "button", role: "option", class: "pick", dataset: { serial: d.serial },
          onclick: () => { input.value = `${d.serial} — ${ownerText(d.customer)}`; list.hidden = true; onPick(d); } },
        h("strong", {}, d.serial), ` ${ownerText(d.customer)}`))) : [h("li", { class: "hint" }, "No device found.")]));
      list.hidden = false;
    } catch (e) {
      if (mine === asked) showError(e);
    }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  return h("div", { class: "picker", id }, h("label", {}, label, input), list);
}

// ---- cash taken at the office -----------------------------------------------------------------------------------

/** A receipt number for cash taken without one: the day and 6 random letters and digits. */
function receiptNumber() {
  const chars = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const random = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => chars[b % chars.length]).join("");
  return `CASH-${today().replaceAll("-", "")}-${random}`;
}

/** The receipt page of a payment, fetched with the key, shown in `box` (its content only: the dashboard styles it). */
async function showReceipt(paymentId, box) {
  await showPrintable(`/v1/payments/${encodeURIComponent(paymentId)}/receipt`, box);
}

/** A printable page of the API (a receipt), fetched with the key, shown in `box`. */
async function showPrintable(path, box) {
  const res = await fetch(path,
    { headers: { Authorization: `Bearer ${sessionStorage.getItem("micropower.key")}` } });
  if (!res.ok) {
    if (res.status === 401) logout("Your API key was refused: log in again.");
    throw new ApiError(res.status, { message: `the receipt could not be fetched (HTTP ${res.status})` });
  }
  // Its own style is not the dashboard's to apply (the page's CSP allows none inline, and a parsed document
  // inherits it): taken out before parsing; app.css styles the receipt.
  const html = (await res.text()).replace(/<style[^>]*>[\s\S]*?<\/style>/gi, "");
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const el of doc.querySelectorAll("style, script, link, meta")) el.remove();
  for (const el of doc.querySelectorAll("[style]")) el.removeAttribute("style");
  box.replaceChildren(
    h("div", { class: "receipt-actions" }, h("button", { type: "button", onclick: () => window.print() }, "Print"), " ",
      h("button", { type: "button", class: "secondary", onclick: () => { box.hidden = true; } }, "Close")),
    h("div", { id: "receipt" }, ...[...doc.body.childNodes].map((n) => document.importNode(n, true))));
  box.hidden = false;
  box.scrollIntoView();
}

async function cashView(serial) {
  const result = h("div", { id: "cash-result" });
  const receiptBox = h("div", { id: "receipt-box", class: "card receipt", hidden: true });
  const chosen = h("div", { id: "cash-device" });
  const preview = h("div", { id: "cash-preview" });
  const amountError = h("p", { class: "field-error", hidden: true });
  const deviceError = h("p", { class: "field-error", hidden: true });
  const amount = h("input", { name: "amount", inputmode: "decimal", autocomplete: "off" });
  const currency = h("select", { name: "currency" });
  const receipt = h("input", { name: "receipt", autocomplete: "off", placeholder: "generated if left blank" });
  let account = null; // the chosen device's snapshot answer
  let device = null;
  let touched = false;
  let submitted = false;
  const check = () => {
    const value = amount.value.trim();
    deviceError.hidden = !(submitted && !device);
    deviceError.textContent = "Choose a device.";
    let problem = null;
    if (!value) problem = "Type the amount received.";
    else if (account) {
      try {
        const allocation = core.allocatePayment(account.snapshot, { serial: account.snapshot.device.serial, amount: value, currency: currency.value, received_on: account.today });
        preview.replaceChildren(h("h2", {}, "What this payment buys"), h("div", { class: "scroll" }, allocationView(allocation)));
      } catch (e) {
        problem = `${e.name} (${e.code}): ${e.message}`;
      }
    }
    if (problem || !account) preview.replaceChildren();
    amountError.textContent = problem || "";
    amountError.hidden = !problem || !(touched || submitted);
    return !problem && device;
  };
  const choose = async (d) => {
    device = d;
    account = await api(`/v1/devices/${encodeURIComponent(d.serial)}/snapshot`);
    const cur = currencyOf(account.snapshot);
    currency.replaceChildren(h("option", { value: cur }, cur));
    chosen.replaceChildren(h("dl", { class: "facts" },
      h("dt", {}, "Device"), h("dd", {}, h("a", { href: `#/device/${encodeURIComponent(d.serial)}` }, d.serial)),
      h("dt", {}, "Customer"), h("dd", { id: "cash-customer" }, ownerText(d.customer)),
      h("dt", {}, "Credit"), h("dd", {}, `${account.snapshot.credit_balance} ${cur}`)));
    check();
  };
  const form = h("form", { id: "cash-form", class: "card", novalidate: true },
    devicePicker("Device (serial or customer)", (d) => choose(d).catch(showError), { id: "cash-picker" }),
    deviceError, chosen,
    h("div", { class: "grid" },
      h("label", {}, "Amount", amount, amountError),
      h("label", {}, "Currency", currency),
      h("label", {}, "Receipt number", receipt)),
    preview,
    h("p", {}, h("button", { type: "submit" }, "Take cash")));
  amount.addEventListener("input", () => { touched = true; check(); });
  amount.addEventListener("blur", () => { touched = true; check(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submitted = true;
    if (!check()) return;
    const body = { provider: "cash", provider_tx_id: receipt.value.trim() || receiptNumber(), serial: device.serial,
      amount: amount.value.trim(), currency: currency.value };
    try {
      const paid = await api("/v1/payments", { method: "POST", body });
      showOk(`Took ${paid.amount ?? body.amount} ${body.currency} in cash from ${ownerText(device.customer)}, receipt ${body.provider_tx_id}.`);
      const open = h("button", { type: "button", id: "open-receipt",
        onclick: () => showReceipt(paid.payment_id, receiptBox).catch(showError) }, "Show the receipt");
      result.replaceChildren(h("div", { class: "card", id: "cash-paid", dataset: { paymentId: paid.payment_id } },
        h("p", {}, `Payment ${paid.payment_id} of ${body.amount} ${body.currency}, receipt number `, h("strong", { id: "cash-receipt-number" }, body.provider_tx_id)),
        table([
          ["Paid for", (a) => `${a.kind}${a.installment != null ? ` (#${a.installment})` : ""}${quantityOf(a)}`],
          ["Amount", (a) => a.amount, "num"],
        ], paid.allocations || [], { class: "compact" }),
        tokenCodes(paid.tokens),
        h("p", {}, open)));
      form.reset();
      receipt.value = "";
      submitted = touched = false;
      // The device stays chosen for the next payment, and its search box says which.
      form.querySelector("input[name=device]").value = `${device.serial} — ${ownerText(device.customer)}`;
      if (device) await choose(device);
      else check();
    } catch (e) {
      showError(e);
    }
  });
  main.replaceChildren(h("h1", {}, "Take cash"), form, result, receiptBox);
  if (serial) {
    const d = await api(`/v1/devices/${encodeURIComponent(serial)}`);
    let customer = null;
    if (d.customer_id) {
      const c = await api(`/v1/customers/${encodeURIComponent(d.customer_id)}`);
      customer = { id: c.id, name: c.name, surname: c.surname, phone: (c.phones || [])[0] };
    }
    form.querySelector("input[name=device]").value = `${d.serial} — ${ownerText(customer)}`;
    await choose({ ...d, customer });
  }
}

// ---- money waiting for a decision: unmatched payments and conflicts ---------------------------------------------

/** A row's action that opens, under the table, a device chooser with its own button. */
function assignPanel(title, button, onAssign) {
  let device = null;
  const go = h("button", { type: "button", disabled: true }, button);
  const panel = h("div", { class: "card", id: "assign-panel" }, h("h2", {}, title),
    devicePicker("Device (serial or customer)", (d) => { device = d; go.disabled = false; }, { id: "assign-picker" }),
    h("p", {}, go, " ", h("button", { type: "button", class: "secondary", onclick: () => panel.remove() }, "Cancel")));
  go.addEventListener("click", async () => {
    go.disabled = true;
    try { await onAssign(device); } catch (e) { showError(e); go.disabled = false; }
  });
  return panel;
}

const receivedText = (r) => (r && typeof r === "object"
  ? [r.amount != null ? `${r.amount} ${r.currency || ""}` : null, r.serial ? `for ${r.serial}` : r.plan_id ? `for plan ${r.plan_id}` : null]
    .filter(Boolean).join(" ") || JSON.stringify(r)
  : fmt(r));

async function unmatchedView() {
  const q = query();
  const status = q.has("status") ? q.get("status") : "open";
  const conflictStatus = q.has("conflicts") ? q.get("conflicts") : "open";
  const params = (changes) => {
    const next = new URLSearchParams({ status, conflicts: conflictStatus, ...changes });
    return `#/unmatched?${next}`;
  };
  const [waiting, conflicts] = await Promise.all([
    api(`/v1/payments/unmatched?limit=200${status ? `&status=${status}` : ""}`),
    api(`/v1/payments/conflicts?limit=200${conflictStatus ? `&status=${conflictStatus}` : ""}`),
  ]);
  const panelBox = h("div", { id: "assign-box" });
  const reload = async (text) => { await unmatchedView(); showOk(text); };
  const filter = (name, label, value, choices, key) => {
    const select = h("select", { name }, options(choices));
    select.value = value;
    select.addEventListener("change", () => { location.hash = params({ [key]: select.value }); });
    return h("label", { class: "inline" }, label, select);
  };
  const assign = (u) => panelBox.replaceChildren(assignPanel(
    `Assign ${u.amount} ${u.currency} (${u.provider} ${u.provider_tx_id}) to a device`, "Assign",
    async (d) => {
      const paid = await api(`/v1/payments/unmatched/${encodeURIComponent(u.id)}/assign`, { method: "POST", body: { serial: d.serial } });
      await reload(`Assigned ${u.amount} ${u.currency} to ${d.serial} (${ownerText(d.customer)}): payment ${paid.payment_id}.`);
    }));
  const credit = (c) => panelBox.replaceChildren(assignPanel(
    `Credit ${c.provider} ${c.provider_tx_id} to another device (or use "Credit" on the row for the one it named)`, "Credit to this device",
    async (d) => {
      await api(`/v1/payments/conflicts/${encodeURIComponent(c.id)}/resolve`, { method: "POST", body: { credit: true, serial: d.serial } });
      await reload(`Credited ${c.provider_tx_id} to ${d.serial}.`);
    }));
  const resolve = async (c, body, text) => {
    try {
      await api(`/v1/payments/conflicts/${encodeURIComponent(c.id)}/resolve`, { method: "POST", body });
      await reload(text);
    } catch (e) { showError(e); }
  };
  main.replaceChildren(h("h1", {}, "Unmatched money and conflicts"),
    h("h2", {}, "Money for an unknown serial"),
    h("p", {}, filter("status", "Status", status, [["open", "open"], ["assigned", "assigned"], ["", "all"]], "status")),
    h("div", { class: "scroll" }, table([
      ["Received", (u) => u.received_at],
      ["From", (u) => `${u.provider} ${u.provider_tx_id}${u.payer_phone ? ` · ${u.payer_phone}` : ""}`],
      ["Serial sent", (u) => fmt(u.serial)],
      ["Amount", (u) => `${u.amount} ${u.currency}`, "num"],
      ["Status", (u) => (u.status === "assigned" ? `assigned (payment ${fmt(u.payment_id)})` : u.status)],
      ["", (u) => (u.status === "open" ? h("button", { type: "button", class: "assign", onclick: () => assign(u) }, "Assign to device") : "")],
    ], waiting.items || [], { id: "unmatched-table" })),
    h("h2", {}, "Conflicts"),
    h("p", { class: "hint" }, "A delivery whose money disagreed with what was announced: nothing was credited until you decide."),
    h("p", {}, filter("conflicts", "Conflict status", conflictStatus, [["open", "open"], ["resolved", "resolved"], ["", "all"]], "conflicts")),
    h("div", { class: "scroll" }, table([
      ["Created", (c) => c.created_at],
      ["From", (c) => `${c.provider} ${c.provider_tx_id}`],
      ["Reason", (c) => c.reason],
      ["Announced", (c) => (c.announced ? receivedText(c.announced) : "—")],
      ["Received", (c) => receivedText(c.received)],
      ["Decision", (c) => (c.status === "open"
        ? h("span", { class: "actions" },
          h("button", { type: "button", onclick: () => resolve(c, { credit: true }, `Credited ${c.provider_tx_id}.`) }, "Credit"), " ",
          h("button", { type: "button", class: "secondary", onclick: () => credit(c) }, "Credit to…"), " ",
          h("button", { type: "button", class: "secondary", onclick: () => resolve(c, { credit: false }, `Dismissed ${c.provider_tx_id}.`) }, "Dismiss"))
        : `${fmt(c.resolution)}${c.payment_id ? ` (payment ${c.payment_id})` : ""}`)],
    ], conflicts.items || [], { id: "conflicts-table" })),
    panelBox);
}

// ---- the refused log and API keys ---------------------------------------------------------------------------------

async function refusedView() {
  const data = await api("/v1/payments/refused?limit=200");
  main.replaceChildren(h("h1", {}, "Refused payments"),
    h("p", { class: "hint" }, "Payments refused before any money moved, newest first."),
    h("div", { class: "scroll" }, table([
      ["When", (r) => r.created_at],
      ["From", (r) => `${r.provider} ${r.provider_tx_id}`],
      ["For", (r) => (r.serial ? r.serial : r.plan_id ? `plan ${r.plan_id}` : "—")],
      ["Amount", (r) => `${r.amount} ${r.currency}`, "num"],
      ["Why", (r) => `${r.code}: ${r.message}`],
    ], data.items || [], { id: "refused-table" })));
}

async function keysView() {
  const data = await api("/v1/api-keys?limit=500");
  const created = h("div", { id: "key-created" });
  const expiresError = h("p", { class: "field-error", hidden: true });
  const form = h("form", { id: "key-form", class: "card", novalidate: true },
    h("h2", {}, "New key"),
    h("div", { class: "grid" },
      h("label", {}, "Label", h("input", { name: "label", autocomplete: "off" })),
      h("label", {}, "Role", h("select", { name: "role" }, options([["viewer", "viewer (reads)"], ["operator", "operator (reads and writes)"], ["admin", "admin (also keys and providers)"]]))),
      h("label", {}, "Expires (optional)", h("input", { name: "expires_at", type: "datetime-local" }), expiresError)),
    h("p", {}, h("button", { type: "submit" }, "Create key")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const el = form.elements;
    expiresError.hidden = true;
    const body = { role: el.role.value };
    if (el.label.value.trim()) body.label = el.label.value.trim();
    if (el.expires_at.value) body.expires_at = new Date(el.expires_at.value).toISOString();
    try {
      const key = await api("/v1/api-keys", { method: "POST", body });
      await keysView();
      showOk(`Created a ${key.role} key. Copy it now: it is not shown again.`);
      document.getElementById("key-created").replaceChildren(h("div", { class: "card preview" },
        h("p", {}, "The new key (shown once):"), h("p", { class: "token", id: "new-key" }, key.key)));
    } catch (e) {
      if (e.details && e.details.field === "expires_at") { expiresError.hidden = false; expiresError.textContent = `${e.code}: ${e.message}`; } else showError(e);
    }
  });
  const revoke = async (k) => {
    if (!confirm(`Revoke the key "${k.label || k.id}"? Requests with it are refused at once.`)) return;
    try {
      await api(`/v1/api-keys/${encodeURIComponent(k.id)}`, { method: "DELETE" });
      await keysView();
      showOk(`Revoked "${k.label || k.id}".`);
    } catch (e) { showError(e); }
  };
  main.replaceChildren(h("h1", {}, "API keys"), created, form,
    h("div", { class: "scroll" }, table([
      ["Label", (k) => k.label || "—"], ["Role", (k) => k.role], ["Created", (k) => k.created_at],
      ["Last used", (k) => fmt(k.last_used_at)], ["Expires", (k) => fmt(k.expires_at)],
      ["", (k) => (k.revoked_at ? `revoked ${k.revoked_at}` : h("button", { type: "button", class: "secondary", onclick: () => revoke(k) }, "Revoke"))],
    ], data.items || [], { id: "keys-table" })));
}

// ---- registration with the schedule preview -------------------------------------------------------------------

/** `<option>`s from `[value, text]` pairs, the first one blank with `blank` as its text when given. */
function options(pairs, blank) {
  return [...(blank ? [h("option", { value: "" }, blank)] : []), ...pairs.map(([value, text]) => h("option", { value }, text))];
}

/** Every page of a paged list (`{items, next_cursor}`), up to `max` items. */
async function all(path, max = 2000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** The villages as "Village — Area, Cluster", for a `<select>`. */
async function villageChoices() {
  const [clusters, areas, places] = await Promise.all(["/v1/clusters", "/v1/areas", "/v1/villages"].map((path) => all(path)));
  const clusterName = new Map(clusters.map((c) => [c.id, c.name]));
  const areaOf = new Map(areas.map((a) => [a.id, a]));
  return places.map((v) => {
    const a = areaOf.get(v.area_id);
    return [v.id, a ? `${v.name} — ${a.name}, ${clusterName.get(a.cluster_id) || ""}` : v.name];
  });
}

const KINDS = [["solar_home_system", "Solar home system"], ["meter", "Meter"], ["e_bike", "E-bike"]];
const PERIODS = [["weekly", "weekly"], ["monthly", "monthly"], ["every_14_days", "every 14 days"]];

// The form fields each of the core's registration checks speaks of: its message shows once one of them was
// touched, or after a submit. A check not listed here shows after a submit only.
const CHECK_FIELDS = {
  "customer.name": ["name"], "customer.surname": ["surname"], "customer.village_id": ["village_id"],
  "customer.phone": ["phone"], "device.serial": ["serial"], "device.manufacturer_id": ["manufacturer_id"],
  device: ["kind", "tariff_id", "appliance_type_id"], "device.openpaygo": ["secret_key", "starting_code"],
  "plan.appliance": ["appliance", "appliance_type_id"],
  plan: ["appliance_type_id", "currency", "total_cost", "down_payment", "installments", "period", "start_date",
    "plan_kind", "price_per_day", "minimum_payable"],
};

async function registerView() {
  // Started before the form's data arrives: the phone rules load while the server answers.
  const phoneReady = loadFull();
  const [villages, makers, tariffs, types] = await Promise.all([
    villageChoices(), all("/v1/manufacturers"), all("/v1/tariffs"), all("/v1/appliance-types")]);
  const input = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, ...attrs }));
  const select = (name, label, choices, blank) => h("label", {}, label, h("select", { name }, options(choices, blank)));
  const schedule = h("div", { id: "schedule" });
  const checks = h("div", { id: "field-errors" });
  const tariffBox = select("tariff_id", "Tariff (meters)",
    tariffs.map((t) => [t.id, `${t.name} — ${t.price_per_kwh} ${t.currency}/kWh`]), "Choose a tariff");
  const installmentBox = h("div", { class: "grid", id: "installment-terms" },
    input("total_cost", "Total cost", { inputmode: "decimal" }), input("down_payment", "Down payment", { value: "0", inputmode: "decimal" }),
    input("installments", "Installments", { type: "number", min: "1", value: "3" }),
    select("period", "Period", PERIODS),
    input("start_date", "Start date", { type: "date", value: today() }));
  const eaasBox = h("div", { class: "grid", id: "eaas-terms", hidden: true },
    input("price_per_day", "Price per day", { inputmode: "decimal" }),
    input("minimum_payable", "Minimum payable", { inputmode: "decimal", value: "0" }));
  const form = h("form", { id: "register-form", class: "card", novalidate: true },
    h("h2", {}, "Customer"),
    h("div", { class: "grid" },
      input("name", "Name", { required: true }), input("surname", "Surname", { required: true }),
      input("phone", "Phone", { placeholder: "+255…", required: true, autocomplete: "off" }),
      select("village_id", "Village", villages)),
    h("h2", {}, "Device"),
    h("div", { class: "grid" },
      input("serial", "Serial", { required: true }),
      select("kind", "Kind", KINDS),
      select("manufacturer_id", "Manufacturer", [], "Choose a manufacturer"),
      tariffBox,
      input("secret_key", "OpenPAYGO secret key (32 hex)", { autocomplete: "off" }),
      input("starting_code", "OpenPAYGO starting code", { inputmode: "numeric" }),
      input("registered_on", "Registered on", { type: "date", value: today() })),
    h("h2", {}, "Appliance sold with the device (optional)"),
    h("div", { class: "grid" },
      select("appliance_type_id", "Appliance type",
        types.map((t) => [t.id, `${t.name} — ${t.price} ${t.currency}`]), "None (type the terms)"),
      input("appliance", "Appliance"), input("currency", "Currency", { value: "TZS" }),
      select("plan_kind", "Plan", [["installments", "Installments"], ["eaas", "Energy as a service"]])),
    installmentBox, eaasBox,
    h("h2", {}, "Schedule preview"), schedule, checks,
    h("p", {}, h("button", { type: "submit" }, "Register")));

  const el = form.elements;
  const value = (name) => el[name].value.trim();
  // Meters choose a tariff; each kind its makers.
  const fitKind = () => {
    const kind = el.kind.value;
    tariffBox.hidden = kind !== "meter";
    const chosen = el.manufacturer_id.value;
    el.manufacturer_id.replaceChildren(...options(makers
      .filter((m) => !m.device_kinds || m.device_kinds.includes(kind))
      .map((m) => [m.id, m.name]), "Choose a manufacturer"));
    el.manufacturer_id.value = chosen;
    if (el.manufacturer_id.value !== chosen) el.manufacturer_id.value = "";
  };
  const fitPlanKind = () => {
    const eaas = el.plan_kind.value === "eaas";
    eaasBox.hidden = !eaas;
    installmentBox.hidden = eaas;
  };
  // A catalog type fills the plan from its price and default terms; every field stays editable.
  const applyType = () => {
    const t = types.find((x) => x.id === el.appliance_type_id.value);
    if (!t) return;
    el.appliance.value = t.name;
    el.currency.value = t.currency;
    const terms = t.default_terms || {};
    if (terms.eaas) {
      el.plan_kind.value = "eaas";
      el.price_per_day.value = terms.eaas.price_per_day ?? "";
      el.minimum_payable.value = terms.eaas.minimum_payable ?? "0";
    } else {
      el.plan_kind.value = "installments";
      el.total_cost.value = t.price;
      el.down_payment.value = terms.down_payment ?? "0";
      if (terms.installments) el.installments.value = terms.installments;
      if (terms.period) {
        if (![...el.period.options].some((o) => o.value === terms.period)) el.period.append(h("option", { value: terms.period }, terms.period));
        el.period.value = terms.period;
      }
    }
    fitPlanKind();
  };
  const request = () => {
    const device = { serial: value("serial"), kind: value("kind"), manufacturer_id: value("manufacturer_id") };
    if (device.kind === "meter" && value("tariff_id")) device.tariff_id = value("tariff_id");
    if (value("secret_key")) {
      device.openpaygo = { secret_key: value("secret_key"), count: 0 };
      if (value("starting_code")) device.openpaygo.starting_code = Number(value("starting_code"));
    }
    const body = {
      customer: { name: value("name"), surname: value("surname"), phone: value("phone"), village_id: value("village_id") },
      device, registered_on: value("registered_on") || today(),
    };
    const eaas = value("plan_kind") === "eaas";
    if (value("appliance_type_id") || value("appliance") || (eaas ? value("price_per_day") : value("total_cost"))) {
      body.plan = { appliance: value("appliance"), currency: value("currency") };
      if (eaas) {
        body.plan.eaas = { price_per_day: value("price_per_day"), minimum_payable: value("minimum_payable") || "0" };
      } else {
        Object.assign(body.plan, {
          total_cost: value("total_cost"), down_payment: value("down_payment") || "0",
          installments: Number(value("installments")), period: value("period"), start_date: value("start_date"),
        });
      }
      if (value("appliance_type_id")) body.plan.appliance_type_id = value("appliance_type_id");
    }
    return body;
  };
  const touched = new Set();
  let submitted = false;
  const shown = (field) => submitted || (CHECK_FIELDS[field] || []).some((name) => touched.has(name));
  // The core's offline checks; an empty list when the phone rules are not loaded yet.
  const errorsOf = (body) => {
    if (!phone) return [];
    const { appliance_type_id: _type, ...plan } = body.plan || {};
    try {
      return phone.registrationFieldErrors(body.plan ? { ...body, plan } : body);
    } catch (e) {
      return [{ field: e.code, message: e.message }];
    }
  };
  const refresh = () => {
    const body = request();
    if (body.plan && body.plan.eaas) {
      schedule.replaceChildren(h("p", { class: "hint" }, `Energy as a service: ${body.plan.eaas.price_per_day || "…"} ${body.plan.currency} a day.`));
    } else if (body.plan) {
      const { appliance: _appliance, appliance_type_id: _type, currency, ...terms } = body.plan;
      try {
        schedule.replaceChildren(table([
          ["#", (i) => i.number], ["Due", (i) => i.due_date], ["Amount", (i) => `${i.amount} ${currency}`, "num"],
        ], core.installmentSchedule(terms, currency), { id: "schedule-table" }));
      } catch (e) {
        schedule.replaceChildren(touched.size || submitted ? h("p", { class: "field-error" }, `${e.name}: ${e.message}`) : h("p", { class: "hint" }, "Fill in the terms."));
      }
    } else {
      schedule.replaceChildren(h("p", { class: "hint" }, "No appliance sold with the device."));
    }
    if (!phone) { checks.replaceChildren(h("p", { class: "hint", id: "phone-loading" }, "Loading the phone rules…")); return []; }
    const errors = errorsOf(body);
    checks.replaceChildren(...errors.filter((f) => shown(f.field))
      .map((f) => h("div", { class: "field-error" }, `${f.field}: ${f.message}`)));
    return errors;
  };
  const touch = (ev) => { if (ev.target.name) touched.add(ev.target.name); };
  form.addEventListener("input", (ev) => { touch(ev); refresh(); });
  form.addEventListener("change", (ev) => {
    touch(ev);
    if (ev.target === el.kind) fitKind();
    if (ev.target === el.plan_kind) fitPlanKind();
    if (ev.target === el.appliance_type_id) applyType();
    refresh();
  });
  form.addEventListener("focusout", (ev) => { touch(ev); refresh(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submitted = true;
    if (refresh().length) { showError({ message: "Some fields need attention (listed above the Register button)." }); return; }
    try {
      const answer = await api("/v1/registrations", { method: "POST", body: request() });
      carried = () => showOk(`Registered ${answer.customer.name} ${answer.customer.surname} with device ${answer.device.serial}.`);
      location.hash = `#/device/${encodeURIComponent(answer.device.serial)}`;
    } catch (e) {
      showError(e);
    }
  });
  fitKind();
  fitPlanKind();
  let phone = null;
  main.replaceChildren(h("h1", {}, "Register a customer with a device"), form);
  performance.mark("register-shown");
  refresh();
  try {
    phone = await phoneReady;
  } catch (e) {
    checks.replaceChildren(h("p", { class: "field-error" }, `The phone rules could not load: ${e.message}`));
    return;
  }
  if (!form.isConnected) return;
  performance.mark("phone-ready");
  form.dataset.phoneReady = "true";
  refresh();
}

// ---- reports ------------------------------------------------------------------------------------------------

async function reportsView() {
  const to = today();
  const from = `${Number(to.slice(0, 4)) - 1}${to.slice(4)}`;
  const revenueCanvas = h("canvas", { id: "revenue-chart" });
  const debtCanvas = h("canvas", { id: "debt-chart" });
  const revenueBox = h("div", { class: "card" }, h("h2", {}, "Revenue by month"), revenueCanvas);
  const debtBox = h("div", { class: "card" }, h("h2", {}, `Debt aging on ${to}`), debtCanvas);
  const by = ["cluster", "area", "village"].includes(query().get("by")) ? query().get("by") : "area";
  const bySelect = h("select", { name: "by" }, options([["cluster", "cluster"], ["area", "area"], ["village", "village"]]));
  bySelect.value = by;
  bySelect.addEventListener("change", () => { location.hash = `#/reports?by=${bySelect.value}`; });
  const placeCanvas = h("canvas", { id: "place-chart" });
  const placeBox = h("div", { class: "card", id: "by-place" }, h("h2", {}, `Revenue and debt by ${by}`),
    h("p", {}, h("label", { class: "inline" }, "Split by", bySelect)), placeCanvas);
  main.replaceChildren(h("h1", {}, "Reports"), h("div", { class: "charts" }, revenueBox, debtBox, placeBox));
  while (charts.length) charts.pop().destroy();
  const Chart = window.Chart;
  try {
    const revenue = await api(`/v1/reports/revenue?from=${from}&to=${to}&group_by=month`);
    const kinds = ["installment", "access_rate", "energy", "eaas"];
    const colors = ["#1b6ca8", "#f2a541", "#3fa34d", "#8e5ea2"];
    charts.push(new Chart(revenueCanvas, {
      type: "bar",
      data: {
        labels: revenue.rows.map((r) => r.period_start.slice(0, 7)),
        datasets: kinds.map((k, i) => ({ label: k, backgroundColor: colors[i], data: revenue.rows.map((r) => Number(r.by_kind[k])) })),
      },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
    }));
    revenueBox.append(h("p", { class: "hint" }, `Total ${revenue.total} (decimal strings from the core; drawn as numbers).`));
  } catch (e) {
    revenueBox.append(h("p", { class: "field-error" }, `${e.code}: ${e.message}`));
  }
  try {
    const debt = await api("/v1/reports/debt");
    const buckets = [["current", "current"], ["days_1_30", "1–30"], ["days_31_60", "31–60"], ["days_61_90", "61–90"], ["days_over_90", "> 90"]];
    charts.push(new Chart(debtCanvas, {
      type: "bar",
      data: {
        labels: buckets.map(([, label]) => label),
        datasets: [{ label: "owed", backgroundColor: "#c0504d", data: buckets.map(([k]) => Number(debt[k].amount)) }],
      },
      options: { animation: false },
    }));
    // Access-rate fees are owed from the day they fall due, paid or not: their own line, not aged.
    const access = debt.access_rate || { amount: "0", meters: 0 };
    debtBox.append(h("p", { class: "hint" },
      `Outstanding ${debt.outstanding}: ${debt.installments} installments in the buckets above, and access-rate fees of ${access.amount} on ${access.meters} meters.`));
  } catch (e) {
    debtBox.append(h("p", { class: "field-error" }, `${e.code}: ${e.message}`));
  }
  // Split by a place: the server's groups carry {id, name} (the registry's name; null for a place it does not
  // know), so the charts and the table show names, never ids.
  const groupName = (g) => (g ? g.name || g.id : "—");
  try {
    const [revenue, debt, par, collection] = await Promise.all([
      api(`/v1/reports/revenue?from=${from}&to=${to}&group_by=month&by=${by}`),
      api(`/v1/reports/debt?by=${by}`).catch(() => ({ groups: [] })),
      api(`/v1/reports/par?days=30&by=${by}`).catch(() => ({ groups: [] })),
      api(`/v1/reports/collection?from=${from}&to=${to}&by=${by}`).catch(() => ({ groups: [] })),
    ]);
    const months = [...new Set(revenue.rows.map((r) => r.period_start.slice(0, 7)))];
    const places = [...new Map(revenue.rows.map((r) => [r.group.id, r.group])).values()];
    const palette = ["#1b6ca8", "#f2a541", "#3fa34d", "#8e5ea2", "#c0504d", "#4bacc6", "#9bbb59", "#7f6084"];
    charts.push(new Chart(placeCanvas, {
      type: "bar",
      data: {
        labels: months,
        datasets: places.map((g, i) => ({
          label: groupName(g),
          backgroundColor: palette[i % palette.length],
          data: months.map((m) => Number(revenue.rows.find((r) => r.group.id === g.id && r.period_start.startsWith(m))?.total || 0)),
        })),
      },
      options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
    }));
    // One row per place any of the debt reports knows; each figure is the core's for that place.
    const rows = new Map();
    const put = (groups, key) => {
      for (const g of groups || []) rows.set(g.group.id, { group: g.group, ...rows.get(g.group.id), [key]: g });
    };
    put(debt.groups, "debt");
    put(par.groups, "par");
    put(collection.groups, "collection");
    placeBox.append(h("div", { class: "scroll" }, table([
      [by[0].toUpperCase() + by.slice(1), (r) => groupName(r.group)],
      ["Outstanding", (r) => fmt(r.debt?.outstanding), "num"],
      ["Over 90 days", (r) => fmt(r.debt?.days_over_90.amount), "num"],
      ["PAR 30", (r) => (r.par ? `${r.par.ratio} (${r.par.at_risk})` : "—"), "num"],
      ["Collection rate", (r) => fmt(r.collection?.rate), "num"],
    ], [...rows.values()], { id: "place-table" })));
    placeBox.append(h("p", { class: "hint" }, `Revenue by month and ${by} since ${from}; debt, PAR 30 and collection by ${by}.`));
  } catch (e) {
    placeBox.append(h("p", { class: "field-error" }, `${e.code}: ${e.message}`));
  }
}

// ---- statement reconciliation ----------------------------------------------------------------------------------

// A provider's statement against what the server credited (issue 17): the server classifies every line; this
// page only shows its answer and asks it to apply the missing ones.
function reconciliationView(r) {
  const applyButton = h("button", { id: "apply-missing", type: "button", disabled: r.missing_count + r.mismatch_count === 0 },
    `Apply missing (${r.missing_count})`);
  const applied = h("div", { id: "applied" });
  applyButton.addEventListener("click", async () => {
    applyButton.disabled = true;
    try {
      const answer = await api(`/v1/reconciliations/${encodeURIComponent(r.id)}/apply`, { method: "POST" });
      showOk(`Credited ${answer.credited} line(s) now.`);
      applied.replaceChildren(h("h2", {}, "Applied"), table([
        ["Line", (l) => l.line, "num"],
        ["Transaction", (l) => l.provider_tx_id],
        ["Account", (l) => fmt(l.account)],
        ["Amount", (l) => fmt(l.amount), "num"],
        ["Outcome", (l) => `${l.outcome}${l.applied_now ? "" : " (before)"}`],
        ["Payment", (l) => fmt(l.payment_id || l.unmatched_id)],
        ["Tokens", (l) => tokenCodes(l.tokens)],
        ["Detail", (l) => fmt(l.detail)],
      ], answer.lines, { id: "applied-lines" }));
    } catch (e) {
      showError(e);
      applyButton.disabled = false;
    }
  });
  return h("div", { id: "reconciliation", dataset: { id: r.id } },
    h("p", {}, `${r.provider} · ${r.format} · ${fmt(r.period_from)} to ${fmt(r.period_to)} · ${r.line_count} lines: `,
      `${r.recorded_count} recorded, ${r.missing_count} missing, ${r.mismatch_count} mismatch`,
      h("br"), h("span", { class: "hint" }, `SHA-256 ${r.file_sha256}${r.applied_at ? ` · applied ${r.applied_at}` : ""}`)),
    table([
      ["Line", (l) => l.line, "num"],
      ["Status", (l) => h("span", { class: `status-${l.status}` }, l.status)],
      ["Transaction", (l) => l.provider_tx_id],
      ["Date", (l) => fmt(l.occurred_at)],
      ["Account", (l) => fmt(l.account)],
      ["Amount", (l) => fmt(l.amount), "num"],
      ["Server", (l) => (l.server_amount ? `${l.server_amount} to ${fmt(l.server_account)}` : "—")],
      ["Detail", (l) => fmt(l.detail)],
      ["Applied", (l) => fmt(l.outcome)],
    ], r.lines, { id: "reconcile-lines" }),
    h("h2", {}, "The server's payments not on the statement"),
    table([
      ["Payment", (p) => p.payment_id],
      ["Transaction", (p) => p.provider_tx_id],
      ["Serial", (p) => fmt(p.serial || p.plan_id)],
      ["Amount", (p) => `${p.amount} ${p.currency}`, "num"],
      ["Received", (p) => p.received_at],
    ], r.not_on_statement, { id: "not-on-statement" }),
    h("p", {}, applyButton,
      h("span", { class: "hint" }, " Credits each missing line once, as its callback would have (tokens, SMS); a mismatch becomes a conflict.")),
    applied);
}

async function reconcileView(id) {
  const result = h("div", { id: "reconcile-result" });
  const providers = h("datalist", { id: "provider-names" });
  const form = h("form", { id: "reconcile-form", class: "card" },
    h("div", { class: "grid" },
      h("label", {}, "Provider", h("input", { name: "provider", list: "provider-names", required: true, autocomplete: "off" })),
      h("label", {}, "Statement (M-Pesa portal export or generic CSV)", h("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true }))),
    providers,
    h("p", {}, h("button", { type: "submit" }, "Reconcile")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const provider = String(data.get("provider")).trim();
    const upload = new FormData();
    upload.append("file", data.get("file"));
    try {
      const answer = await api(`/v1/reconciliations?provider=${encodeURIComponent(provider)}`, { method: "POST", body: upload });
      clearMessage();
      result.replaceChildren(reconciliationView(answer));
    } catch (e) {
      showError(e);
      const problems = (e.details && e.details.problems) || [];
      result.replaceChildren(table([
        ["Line", (p) => (p.line ? p.line : "file"), "num"],
        ["Column", (p) => fmt(p.column)],
        ["Problem", (p) => `${p.code}: ${p.message}`],
      ], problems, { id: "reconcile-problems" }));
    }
  });
  const earlier = await api("/v1/reconciliations?limit=20");
  main.replaceChildren(h("h1", {}, "Reconcile a statement"), form, result,
    h("h2", {}, "Earlier reconciliations"),
    table([
      ["Uploaded", (r) => h("a", { href: `#/reconcile/${encodeURIComponent(r.id)}` }, r.created_at)],
      ["Provider", (r) => r.provider],
      ["Period", (r) => `${fmt(r.period_from)} to ${fmt(r.period_to)}`],
      ["Missing", (r) => r.missing_count, "num"],
      ["Mismatch", (r) => r.mismatch_count, "num"],
      ["Applied", (r) => fmt(r.applied_at)],
    ], earlier.items || [], { id: "reconciliations-table" }));
  if (id) result.replaceChildren(reconciliationView(await api(`/v1/reconciliations/${encodeURIComponent(id)}`)));
  // Only an administrator may list the providers; anyone else types the name.
  try {
    const listed = await api("/v1/providers");
    providers.replaceChildren(...listed.providers.filter((p) => !p.removed_at).map((p) => h("option", { value: p.name })));
  } catch { /* not an administrator */ }
}

// ---- tariffs --------------------------------------------------------------------------------------------------

async function tariffsView() {
  const data = await api("/v1/tariffs?limit=500");
  main.replaceChildren(h("h1", {}, "Tariffs"),
    h("p", { class: "hint" }, "Prices in force today. A tariff's page lists every version and adds new prices from a day on."),
    table([
      ["Name", (t) => h("a", { href: `#/tariff/${encodeURIComponent(t.id)}` }, t.name)],
      ["Currency", (t) => t.currency],
      ["Price per kWh", (t) => t.price_per_kwh, "num"],
      ["Unit price (with fees)", (t) => t.unit_price, "num"],
      ["Access rate", (t) => (t.access_rate ? `${t.access_rate.amount} every ${t.access_rate.period_days} days` : "—")],
    ], data.items || [], { id: "tariffs-table" }));
}

const feesText = (fees) => ((fees || []).length ? fees.map((f) => `${f.name} ${f.price_per_kwh}`).join(", ") : "—");
const accessText = (a) => (a ? `${a.amount} every ${a.period_days} days` : "—");

function versionsTable(t) {
  return table([
    ["From", (v) => v.effective_from || "the start"],
    ["Price per kWh", (v) => v.price_per_kwh, "num"],
    ["Unit price", (v) => v.unit_price, "num"],
    ["Fees per kWh", (v) => feesText(v.fees)],
    ["Access rate", (v) => accessText(v.access_rate)],
    ["Minimum purchase", (v) => fmt(v.minimum_purchase), "num"],
    ["Energy step (kWh)", (v) => fmt(v.energy_step_kwh), "num"],
    ["Added", (v) => fmt(v.created_at)],
  ], t.versions || [], { id: "versions-table" });
}

/** The rows of a version's per-kWh fees (name and price), each labelled, prefilled from `fees`; a blank row
 * adds one. A row whose name and price are both empty is left out. */
function feeRows(currency, fees) {
  const box = h("div", { id: "fee-rows" });
  const add = (fee = { name: "", price_per_kwh: "" }) => {
    const n = box.children.length + 1;
    box.append(h("div", { class: "grid fee-row" },
      h("label", {}, `Fee ${n} name`, h("input", { name: "fee_name", value: fee.name, autocomplete: "off" })),
      h("label", {}, `Fee ${n} per kWh (${currency})`, h("input", { name: "fee_price", value: fee.price_per_kwh, inputmode: "decimal" }))));
  };
  for (const fee of fees || []) add(fee);
  const more = h("button", { type: "button", class: "secondary", id: "add-fee", onclick: () => add() }, "Add a fee");
  const read = () => [...box.querySelectorAll(".fee-row")]
    .map((row) => ({ name: row.querySelector("[name=fee_name]").value.trim(), price_per_kwh: row.querySelector("[name=fee_price]").value.trim() }))
    .filter((f) => f.name || f.price_per_kwh);
  return { box, more, read, reset: (next) => { box.replaceChildren(); for (const fee of next || []) add(fee); } };
}

async function tariffView(id) {
  const t = await api(`/v1/tariffs/${encodeURIComponent(id)}`);
  const versions = h("div", {}, versionsTable(t));
  const inForce = (tariff) => `Today: ${tariff.price_per_kwh} ${tariff.currency}/kWh (unit price ${tariff.unit_price} with fees). A payment is priced by the version in force on its business day.`;
  const today = h("p", { id: "tariff-today" }, inForce(t));
  // Every field of a version: the form starts from the latest version's values, so only what changes is typed.
  const latest = (t.versions || []).at(-1) || t;
  const fees = feeRows(t.currency, latest.fees);
  const fields = ["effective_from", "price_per_kwh", "fees", "access_rate", "minimum_purchase", "energy_step_kwh"];
  const form = h("form", { id: "version-form", class: "card", novalidate: true });
  const errors = fieldErrors(form, fields);
  const prefill = (v) => ({
    price_per_kwh: v.price_per_kwh, access_amount: v.access_rate ? v.access_rate.amount : "",
    access_days: v.access_rate ? v.access_rate.period_days : "", minimum_purchase: v.minimum_purchase ?? "",
    energy_step_kwh: v.energy_step_kwh ?? "",
  });
  const input = (name, attrs = {}) => h("input", { name, inputmode: "decimal", autocomplete: "off", ...attrs });
  form.append(
    h("div", { class: "grid" },
      h("label", {}, "From (business day)", input("effective_from", { type: "date", inputmode: undefined }), errors.box("effective_from")),
      h("label", {}, `Price per kWh (${t.currency})`, input("price_per_kwh"), errors.box("price_per_kwh")),
      h("label", {}, `Minimum purchase (${t.currency})`, input("minimum_purchase"), errors.box("minimum_purchase")),
      h("label", {}, "Energy step (kWh)", input("energy_step_kwh"), errors.box("energy_step_kwh"))),
    h("fieldset", {}, h("legend", {}, "Fees per kWh (on top of the price)"), fees.box, h("p", {}, fees.more), errors.box("fees")),
    h("fieldset", {}, h("legend", {}, "Access rate (leave the amount empty for none)"),
      h("div", { class: "grid" },
        h("label", {}, `Access rate amount (${t.currency})`, input("access_amount")),
        h("label", {}, "Access rate period (days)", input("access_days", { inputmode: "numeric" }))),
      errors.box("access_rate")),
    h("p", {}, h("button", { type: "submit" }, "Add version")));
  const fill = (v) => {
    for (const [name, value] of Object.entries(prefill(v))) form.elements[name].value = value;
    fees.reset(v.fees);
  };
  fill(latest);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.clear();
    const el = form.elements;
    const value = (name) => el[name].value.trim();
    const body = { effective_from: value("effective_from"), price_per_kwh: value("price_per_kwh"), fees: fees.read() };
    // An empty amount is "no access rate from this day"; the period is the server's (and core's) to check.
    body.access_rate = value("access_amount")
      ? { amount: value("access_amount"), period_days: Number(value("access_days")) }
      : null;
    if (value("minimum_purchase")) body.minimum_purchase = value("minimum_purchase");
    if (value("energy_step_kwh")) body.energy_step_kwh = value("energy_step_kwh");
    try {
      const updated = await api(`/v1/tariffs/${encodeURIComponent(id)}/versions`, { method: "POST", body });
      versions.replaceChildren(versionsTable(updated));
      today.textContent = inForce(updated);
      showOk(`From ${body.effective_from}, ${t.name} sells at ${body.price_per_kwh} ${t.currency}/kWh.`);
      form.reset();
      fill((updated.versions || []).at(-1) || updated);
    } catch (e) {
      // The core names a fee or the access rate by its part ("fees[1].price_per_kwh"): shown under the whole.
      const field = e && e.details && typeof e.details.field === "string" ? e.details.field.split(/[.[]/)[0] : null;
      if (!errors.show(field ? { code: e.code, message: e.message, details: { ...e.details, field } } : e)) showError(e);
    }
  });
  main.replaceChildren(h("h1", {}, t.name),
    today,
    h("h2", {}, "Versions"), versions,
    h("h2", {}, "New prices"), form);
}

// ---- the appliance catalog ------------------------------------------------------------------------------------

const APPLIANCE_KINDS = [["solar_home_system", "Solar home system"], ["e_bike", "E-bike"], ["other", "Other (sold without a device)"]];
const termsText = (t) => (t.eaas
  ? `EaaS ${t.eaas.price_per_day}/day${t.eaas.minimum_payable ? `, minimum ${t.eaas.minimum_payable}` : ""}`
  : `${t.installments} × ${t.period}${t.down_payment && t.down_payment !== "0" ? `, ${t.down_payment} down` : ""}`);

// MPM's "Appliance" menu: what the operator sells, its price and the terms a sale starts from. The registration
// form prefills a plan from a type; this page lists, adds and changes them (plans already sold keep theirs).
async function appliancesView() {
  const items = await all("/v1/appliance-types");
  const fields = ["name", "kind", "price", "currency", "default_terms"];
  const form = h("form", { id: "appliance-form", class: "card", novalidate: true });
  const errors = fieldErrors(form, fields);
  let editing = null; // the type being changed, or null for a new one
  const title = h("h2", {}, "New appliance type");
  const submit = h("button", { type: "submit" }, "Add to the catalog");
  const cancel = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => startNew() }, "Cancel the change");
  const terms = h("select", { name: "terms_kind" }, options([["installments", "Installments"], ["eaas", "Energy as a service"]]));
  const installmentBox = h("div", { class: "grid" },
    h("label", {}, "Down payment", h("input", { name: "down_payment", inputmode: "decimal", value: "0" })),
    h("label", {}, "Installments", h("input", { name: "installments", inputmode: "numeric" })),
    h("label", {}, "Period", h("select", { name: "period" }, options(PERIODS))));
  const eaasBox = h("div", { class: "grid", hidden: true },
    h("label", {}, "Price per day", h("input", { name: "price_per_day", inputmode: "decimal" })),
    h("label", {}, "Minimum payable", h("input", { name: "minimum_payable", inputmode: "decimal" })));
  const showTerms = () => { installmentBox.hidden = terms.value !== "installments"; eaasBox.hidden = terms.value !== "eaas"; };
  terms.addEventListener("change", showTerms);
  form.append(title,
    h("div", { class: "grid" },
      h("label", {}, "Name", h("input", { name: "name", autocomplete: "off" }), errors.box("name")),
      h("label", {}, "Kind", h("select", { name: "kind" }, options(APPLIANCE_KINDS)), errors.box("kind")),
      h("label", {}, "Price", h("input", { name: "price", inputmode: "decimal" }), errors.box("price")),
      h("label", {}, "Currency", h("input", { name: "currency", value: "TZS", autocomplete: "off", maxlength: 3 }), errors.box("currency"))),
    h("fieldset", {}, h("legend", {}, "Default terms of a sale"),
      h("label", {}, "Terms", terms), installmentBox, eaasBox, errors.box("default_terms")),
    h("p", {}, submit, " ", cancel));
  const el = form.elements;
  const startNew = () => {
    editing = null;
    form.reset();
    showTerms();
    errors.clear();
    title.textContent = "New appliance type";
    submit.textContent = "Add to the catalog";
    cancel.hidden = true;
  };
  const startEdit = (t) => {
    editing = t;
    errors.clear();
    el.name.value = t.name; el.kind.value = t.kind; el.price.value = t.price; el.currency.value = t.currency;
    const d = t.default_terms;
    terms.value = d.eaas ? "eaas" : "installments";
    el.down_payment.value = d.down_payment ?? "0"; el.installments.value = d.installments ?? "";
    el.period.value = d.period ?? "weekly";
    el.price_per_day.value = d.eaas ? d.eaas.price_per_day : ""; el.minimum_payable.value = d.eaas?.minimum_payable ?? "";
    showTerms();
    title.textContent = `Change ${t.name}`;
    submit.textContent = "Save the change";
    cancel.hidden = false;
    form.scrollIntoView();
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.clear();
    const value = (name) => el[name].value.trim();
    const default_terms = terms.value === "eaas"
      ? { eaas: { price_per_day: value("price_per_day"), ...(value("minimum_payable") ? { minimum_payable: value("minimum_payable") } : {}) } }
      : { down_payment: value("down_payment") || "0", installments: Number(value("installments")), period: value("period") };
    const body = { name: value("name"), kind: value("kind"), price: value("price"), currency: value("currency").toUpperCase(), default_terms };
    try {
      const saved = editing
        ? await api(`/v1/appliance-types/${encodeURIComponent(editing.id)}`, { method: "PATCH", body })
        : await api("/v1/appliance-types", { method: "POST", body });
      await appliancesView();
      showOk(editing ? `Changed ${saved.name}.` : `Added ${saved.name} to the catalog.`);
    } catch (e) {
      const field = e && e.details && typeof e.details.field === "string" ? e.details.field.split(/[.[]/)[0] : null;
      if (!errors.show(field ? { code: e.code, message: e.message, details: { ...e.details, field } } : e)) showError(e);
    }
  });
  main.replaceChildren(h("h1", {}, "Appliance catalog"),
    h("div", { class: "scroll" }, table([
      ["Name", (t) => t.name],
      ["Kind", (t) => (APPLIANCE_KINDS.find(([k]) => k === t.kind) || [, t.kind])[1]],
      ["Price", (t) => `${t.price} ${t.currency}`, "num"],
      ["Default terms", (t) => termsText(t.default_terms)],
      ["", (t) => h("button", { type: "button", class: "secondary edit", onclick: () => startEdit(t) }, "Edit")],
    ], items, { id: "appliances-table" })),
    form);
}

// ---- bulk registration import ----------------------------------------------------------------------------------

// Issue 17: a spreadsheet of registrations (CSV or XLSX) checked and imported by the server, row by row, through
// the same path as the Register form. The page sends the file, follows the server's progress, and shows its answer.

/** Saves the import template: the route wants the API key, so it is fetched, then saved from a blob. */
async function downloadTemplate(ev) {
  ev.preventDefault();
  try {
    const res = await fetch("/v1/imports/registrations/template.csv",
      { headers: { Authorization: `Bearer ${sessionStorage.getItem("micropower.key")}` } });
    if (!res.ok) {
      if (res.status === 401) logout("Your API key was refused: log in again.");
      throw new ApiError(res.status, { message: `the template could not be fetched (HTTP ${res.status})` });
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: "registrations-template.csv", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    showError(e);
  }
}

/** An id for one import's progress: 32 random hex digits (the server takes 8 to 64 of [A-Za-z0-9_-]). */
function progressId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Asks the server every ~300 ms how far the import `id` is, into `bar` (a <progress>) and `text`, until the
 * returned function is called. Before the server knows the id (404), or from a server without progress, the
 * bar stays indeterminate and says nothing.
 */
function followProgress(id, bar, text) {
  let stopped = false;
  let timer = null;
  const poll = async () => {
    try {
      const res = await fetch(`/v1/imports/registrations/progress/${encodeURIComponent(id)}`,
        { headers: { Authorization: `Bearer ${sessionStorage.getItem("micropower.key")}` } });
      if (res.ok && !stopped) {
        const p = await res.json();
        if (p.rows_total > 0) {
          bar.max = p.rows_total;
          bar.value = p.rows_done;
          text.textContent = `${p.rows_done} of ${p.rows_total} rows`;
        }
      }
    } catch { /* the next poll, or the answer, tells */ }
    if (!stopped) timer = setTimeout(poll, 300);
  };
  timer = setTimeout(poll, 300);
  return () => { stopped = true; clearTimeout(timer); };
}

function importAnswerView(answer, refused) {
  const notOk = answer.rows.filter((r) => r.status !== "ok");
  const would = answer.dry_run || refused;
  let summary;
  let cls = "ok";
  if (answer.dry_run) {
    summary = `Dry run: nothing was written. ${answer.ok} row(s) would be imported, ${answer.unchanged} are already imported, ${answer.errors} would be refused.`;
    if (answer.errors > 0) cls = "error";
  } else if (refused) {
    summary = `Nothing was imported: ${answer.errors} row(s) were refused, and "All or nothing" keeps the other ${answer.ok + answer.unchanged} out. Fix the rows below, or choose "Import the valid rows".`;
    cls = "error";
  } else {
    summary = `Imported: ${answer.created} row(s) created, ${answer.unchanged} unchanged${answer.errors ? `, ${answer.errors} refused and left out` : ""}.`;
  }
  const error = (what) => (r) => r.status === "unchanged" && what === "message"
    ? "already imported with the same data"
    : r.errors.map((e) => h("div", {}, fmt(e[what])));
  return h("div", { id: "import-answer", dataset: { dryRun: String(answer.dry_run), refused: String(refused) } },
    h("p", { id: "import-summary", class: `summary ${cls}`, role: "status" }, summary),
    h("dl", { class: "facts", id: "import-counts" },
      h("dt", {}, would ? "Ok (would be created)" : "Ok"), h("dd", { id: "import-ok" }, answer.ok),
      h("dt", {}, "Unchanged"), h("dd", { id: "import-unchanged" }, answer.unchanged),
      h("dt", {}, "Errors"), h("dd", { id: "import-errors" }, answer.errors),
      h("dt", {}, "Created"), h("dd", { id: "import-created" }, answer.created)),
    h("h2", {}, notOk.length ? `Rows not imported (${notOk.length})` : "Every row is ok"),
    notOk.length ? h("div", { class: "scroll" }, table([
      ["Row", (r) => r.row, "num"],
      ["Status", (r) => h("span", { class: `status-${r.status}` }, r.status)],
      ["Column", error("column")],
      ["Code", error("code")],
      ["Message", error("message")],
    ], notOk, { id: "import-rows" })) : null);
}

function importView() {
  const result = h("div", { id: "import-result" });
  const bar = h("progress", { id: "import-progress" });
  const barText = h("span", { id: "import-progress-text", class: "hint" });
  const progress = h("p", { id: "import-progress-box", hidden: true },
    h("label", { class: "inline" }, "Import progress", bar), " ", barText);
  const fileError = h("p", { id: "import-file-error", class: "field-error", hidden: true });
  const checkButton = h("button", { type: "submit", name: "action", value: "check", class: "secondary" }, "Check (dry run)");
  const importButton = h("button", { type: "submit", name: "action", value: "import" }, "Import");
  const form = h("form", { id: "import-form", class: "card", novalidate: true },
    h("p", {}, "Fill in one row per customer and device: ",
      h("a", { id: "import-template", href: "/v1/imports/registrations/template.csv", onclick: downloadTemplate },
        "download the template (CSV)"),
      ". Villages are written as “Cluster / Area / Village”."),
    h("div", { class: "grid" },
      h("label", {}, "Spreadsheet (CSV or XLSX)", h("input", { name: "file", type: "file",
        accept: ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" })),
      h("fieldset", {}, h("legend", {}, "When some rows are refused"),
        h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "all_or_nothing", checked: true }), "All or nothing"),
        h("label", { class: "check" }, h("input", { type: "radio", name: "mode", value: "valid_rows" }), "Import the valid rows"))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "create_missing" }), "Create missing clusters, areas and villages"),
    fileError,
    h("p", { class: "actions" }, checkButton, " ", importButton),
    progress);
  form.elements.file.addEventListener("change", () => { fileError.hidden = true; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) {
      fileError.textContent = "Choose a CSV or XLSX file first.";
      fileError.hidden = false;
      form.elements.file.focus();
      return;
    }
    const dryRun = ev.submitter === checkButton;
    const id = progressId();
    const params = new URLSearchParams({ progress: id });
    if (dryRun) params.set("dry_run", "true");
    if (form.elements.mode.value === "valid_rows") params.set("mode", "valid_rows");
    if (form.elements.create_missing.checked) params.set("create_missing", "true");
    const upload = new FormData();
    upload.append("file", file, file.name);
    clearMessage();
    result.replaceChildren();
    checkButton.disabled = importButton.disabled = true;
    bar.removeAttribute("value"); // indeterminate until the server tells how far it is
    barText.textContent = "";
    progress.hidden = false;
    const stop = followProgress(id, bar, barText);
    try {
      const answer = await api(`/v1/imports/registrations?${params}`, { method: "POST", body: upload });
      result.replaceChildren(importAnswerView(answer, false));
    } catch (e) {
      // All or nothing refused the file: the same answer, every row with its fate.
      if (e.status === 422 && e.details && Array.isArray(e.details.rows)) result.replaceChildren(importAnswerView(e.details, true));
      else showError(e);
    } finally {
      stop();
      progress.hidden = true;
      checkButton.disabled = importButton.disabled = false;
    }
  });
  main.replaceChildren(h("h1", {}, "Import registrations"), form, result);
}

// ---- field agents ---------------------------------------------------------------------------------------------

/** The areas as "Area — Cluster", for a `<select>`. */
async function areaChoices() {
  const [clusters, areas] = await Promise.all(["/v1/clusters", "/v1/areas"].map((path) => all(path)));
  const clusterName = new Map(clusters.map((c) => [c.id, c.name]));
  return areas.map((a) => [a.id, `${a.name} — ${clusterName.get(a.cluster_id) || ""}`]);
}

/** Agents with the cash each holds and the commission each earned (two sums, never mixed), and a new agent. */
async function agentsView() {
  const [data, areas] = await Promise.all([all("/v1/agents"), areaChoices()]);
  const areaName = new Map(areas);
  const created = h("div", { id: "agent-created" });
  const form = h("form", { id: "agent-form", class: "card", novalidate: true },
    h("h2", {}, "New agent"),
    h("div", { class: "grid" },
      h("label", {}, "Name", h("input", { name: "name", autocomplete: "off", required: true })),
      h("label", {}, "Phone", h("input", { name: "phone", autocomplete: "off", required: true })),
      h("label", {}, "Area", h("select", { name: "area_id", required: true }, options(areas, "Choose an area"))),
      h("label", {}, "Currency", h("input", { name: "currency", autocomplete: "off", value: "TZS", required: true }))),
    h("div", { class: "grid" },
      h("label", {}, "Commission on energy (0.05 = 5 %)", h("input", { name: "energy_rate", inputmode: "decimal", value: "0" })),
      h("label", {}, "Commission on installments", h("input", { name: "appliance_rate", inputmode: "decimal", value: "0" })),
      h("label", {}, "Risk ceiling (most cash held)", h("input", { name: "risk_ceiling", inputmode: "decimal", required: true }))),
    h("p", {}, h("button", { type: "submit" }, "Create agent")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const el = form.elements;
    const body = {
      name: el.name.value.trim(), phone: el.phone.value.trim(), area_id: el.area_id.value,
      currency: el.currency.value.trim(), risk_ceiling: el.risk_ceiling.value.trim(),
      commission: { energy_rate: el.energy_rate.value.trim(), appliance_rate: el.appliance_rate.value.trim() },
    };
    try {
      const agent = await api("/v1/agents", { method: "POST", body });
      await agentsView();
      showOk(`Created agent ${agent.name}. Copy the agent's API key now: it is not shown again.`);
      document.getElementById("agent-created").replaceChildren(h("div", { class: "card preview" },
        h("p", {}, "The agent's API key (shown once; role agent):"), h("p", { class: "token", id: "new-agent-key" }, agent.api_key)));
    } catch (e) { showError(e); }
  });
  main.replaceChildren(h("h1", {}, "Field agents"), created,
    h("div", { class: "scroll" }, table([
      ["Name", (a) => h("a", { href: `#/agent/${encodeURIComponent(a.id)}` }, a.name)],
      ["Area", (a) => areaName.get(a.area_id) || a.area_id],
      ["Cash held", (a) => `${a.balance} ${a.currency}`, "num"],
      ["Risk ceiling", (a) => `${a.risk_ceiling} ${a.currency}`, "num"],
      ["Commission earned", (a) => `${a.commission_earned} ${a.currency}`, "num"],
      ["Last sync", (a) => fmt(a.last_sync_at)],
    ], data, { id: "agents-table" })), form);
}

/** One agent: its sums, a handover to record (with its receipt) and every line of its ledger. */
async function agentView(id) {
  const path = `/v1/agents/${encodeURIComponent(id)}`;
  const [agent, ledger] = await Promise.all([api(path), all(`${path}/ledger`)]);
  const receiptBox = h("div", { id: "receipt-box", class: "card receipt", hidden: true });
  const cur = agent.currency;
  const form = h("form", { id: "handover-form", class: "card", novalidate: true },
    h("h2", {}, "Record a handover"),
    h("p", { class: "hint" }, "Cash the agent hands over to the office: it lowers the cash held, never the commission earned."),
    h("div", { class: "grid" },
      h("label", {}, `Amount (${cur})`, h("input", { name: "amount", inputmode: "decimal", autocomplete: "off", required: true })),
      h("label", {}, "Received by", h("input", { name: "received_by", autocomplete: "off", required: true }))),
    h("p", {}, h("button", { type: "submit" }, "Record handover")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const el = form.elements;
    try {
      const done = await api(`${path}/handovers`, { method: "POST", body: { amount: el.amount.value.trim(), received_by: el.received_by.value.trim() } });
      await agentView(id);
      showOk(`Recorded a handover of ${done.amount} ${done.currency}; the agent now holds ${done.balance} ${done.currency}.`);
      await showPrintable(done.receipt, document.getElementById("receipt-box"));
    } catch (e) { showError(e); }
  });
  const receiptOf = (line) => (line.kind === "handover"
    ? h("button", { type: "button", class: "secondary", onclick: () => showPrintable(`${path}/handovers/${encodeURIComponent(line.id)}/receipt`, receiptBox).catch(showError) }, "Receipt")
    : "");
  main.replaceChildren(h("h1", {}, `Agent ${agent.name}`),
    h("dl", { class: "facts card", id: "agent-facts" },
      h("dt", {}, "Phone"), h("dd", {}, agent.phone),
      h("dt", {}, "Cash held"), h("dd", { id: "agent-balance" }, `${agent.balance} ${cur}`),
      h("dt", {}, "Risk ceiling"), h("dd", {}, `${agent.risk_ceiling} ${cur}`),
      h("dt", {}, "Commission earned"), h("dd", { id: "agent-commission" }, `${agent.commission_earned} ${cur}`),
      h("dt", {}, "Commission rates"), h("dd", {}, `energy ${agent.commission.energy_rate}, installments ${agent.commission.appliance_rate}`),
      h("dt", {}, "Last sync"), h("dd", {}, fmt(agent.last_sync_at))),
    form, receiptBox,
    h("h2", {}, "Ledger"),
    h("div", { class: "scroll" }, table([
      ["When", (l) => l.created_at],
      ["Kind", (l) => l.kind],
      ["Amount", (l) => `${l.amount} ${l.currency}`, "num"],
      ["Payment", (l) => (l.payment_id ? l.payment_id : fmt(l.received_by && `received by ${l.received_by}`))],
      ["", receiptOf],
    ], ledger, { id: "ledger-table" })));
}

// ---- routing ------------------------------------------------------------------------------------------------

async function route() {
  const hash = location.hash.split("?")[0] || "#/customers";
  if (!sessionStorage.getItem("micropower.key")) { loginView(); return; }
  nav.hidden = false;
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", hash.startsWith(a.getAttribute("href")));
  const [, page, arg] = hash.split("/");
  try {
    switch (page) {
      case "device": await deviceView(decodeURIComponent(arg)); break;
      case "customer": await customerView(decodeURIComponent(arg)); break;
      case "devices": await devicesView(); break;
      case "payments": await paymentsView(); break;
      case "register": await registerView(); break;
      case "cash": await cashView(arg && decodeURIComponent(arg)); break;
      case "unmatched": await unmatchedView(); break;
      case "refused": await refusedView(); break;
      case "keys": await keysView(); break;
      case "import": importView(); break;
      case "reports": await reportsView(); break;
      case "reconcile": await reconcileView(arg && decodeURIComponent(arg)); break;
      case "tariffs": await tariffsView(); break;
      case "tariff": await tariffView(decodeURIComponent(arg)); break;
      case "appliances": await appliancesView(); break;
      case "agents": await agentsView(); break;
      case "agent": await agentView(decodeURIComponent(arg)); break;
      case "login": location.hash = "#/customers"; break;
      default: await customersView();
    }
    document.body.dataset.view = page || "customers";
  } catch (e) {
    showError(e);
  }
}

document.getElementById("logout").addEventListener("click", () => logout());
window.addEventListener("hashchange", () => {
  clearMessage();
  if (carried) { carried(); carried = null; }
  route();
});
try {
  await init({ module_or_path: "/pkg/micropower_bg.wasm" });
  window.micropower = core; // for the console and the browser test
  document.body.dataset.ready = "true";
  await route();
} catch (e) {
  main.replaceChildren(h("p", { class: "field-error" }, `The core could not start in this browser: ${e.message}`));
}
