// A POS written as a POS team would write it: the types come from
// openapi-typescript run on the box's openapi.yaml (api.ts, generated,
// never edited), the client is openapi-fetch. TestTypeScriptClient
// (agent/posapi/tsclient_test.go) generates api.ts, type-checks this file
// with tsc --strict and runs it against a real box:
//
//	node pos.js BASE_URL TOKEN QR_CODE
//
// Each check prints "ok NAME: what"; the first that fails prints
// "FAIL NAME: why" and exits 1. The last line is "tsclient: N checks passed".
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Sale = components["schemas"]["Sale"];
type State = components["schemas"]["State"];
type Event = components["schemas"]["Event"];
type Line = components["schemas"]["Line"];

const [baseUrl, token, qrCode] = process.argv.slice(2);
if (!baseUrl || !token || !qrCode) {
  console.error("usage: node pos.js BASE_URL TOKEN QR_CODE");
  process.exit(2);
}

const box = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

let passed = 0;

function fail(name: string, why: string): never {
  console.log(`FAIL ${name}: ${why}`);
  process.exit(1);
}

// need stops the program unless ok holds; check also reports it.
function need(name: string, ok: unknown, what: string): asserts ok {
  if (!ok) {
    fail(name, what);
  }
}

function check(name: string, ok: unknown, what: string): asserts ok {
  need(name, ok, what);
  console.log(`ok ${name}: ${what}`);
  passed++;
}

const show = (v: unknown): string => JSON.stringify(v);

// The POS's stored position in the event log: the seq of the last event it
// handled. Every event it handled, in order.
let position = 0;
let start = 0; // where this run began
const handled: Event[] = [];

// waitForEvent handles the events after position until one says the sale is
// in state want, and returns that sale.
async function waitForEvent(reference: string, want: State): Promise<Sale> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { data, error, response } = await box.GET("/api/v1/events", {
      params: { query: { after: position, wait: 5 } },
    });
    if (error) {
      fail("events", `${response.status} ${show(error)}`);
    }
    for (const ev of data.events) {
      if (ev.seq !== position + 1) {
        fail("events", `event ${ev.seq} after ${position}: a gap`);
      }
      position = ev.seq;
      handled.push(ev);
      if (ev.reference === reference && ev.state === want) {
        return ev.sale;
      }
    }
  }
  fail("events", `no event says ${reference} is ${want} after 20 s`);
}

// The document itself, as a POS checks which API its box speaks (YAML: read
// as text, and without a token).
{
  const plain = createClient<paths>({ baseUrl });
  const { data, error, response } = await plain.GET("/api/openapi.yaml", { parseAs: "text" });
  need("document", data, `${response.status} ${show(error)}`);
  const version = /^ {2}version: "?([^"\n]+)"?$/m.exec(data)?.[1];
  check("document", data.startsWith("openapi: 3.") && version !== undefined, `${response.headers.get("Content-Type")}, version ${version}`);
}

// A POS without a stored position starts after the newest event.
{
  const { data, error, response } = await box.GET("/api/v1/status");
  need("status", data, `${response.status} ${show(error)}`);
  position = start = data.lastSeq;
  check("status", data.online !== undefined, `online ${data.online}, queued ${data.queued}, lastSeq ${data.lastSeq}`);
}

// A sale with receipt lines and no taxRate, paid by the customer's QR code.
const ref = "ts-sale-0001";
const lines: Line[] = [
  { id: "7038010000010", name: "Coffee", quantity: "1", unitPrice: 4990, amount: 4990 },
  { name: "Bun", quantity: "2", unitPrice: 2500, amount: 5000 },
];
const saleRequest: components["schemas"]["SaleRequest"] = {
  reference: ref,
  amount: 9990,
  currency: "NOK",
  description: "Coffee and buns",
  customer: { personalQr: qrCode },
  lines,
};
{
  const { data, error, response } = await box.POST("/api/v1/sales", { body: saleRequest });
  need("create", response.status === 201 && data, `${response.status} ${show(data ?? error)}`);
  check(
    "create",
    data.reference === ref && data.amount === 9990 && response.headers.get("Location") === `/api/v1/sales/${ref}`,
    `201 ${data.reference} ${data.state}, Location ${response.headers.get("Location")}`,
  );
}
{
  // The till lost the answer and sends the same sale again.
  const { data, error, response } = await box.POST("/api/v1/sales", { body: saleRequest });
  check("create repeated", response.status === 200 && data?.reference === ref, `${response.status} ${data?.state ?? show(error)}`);
}

// The result comes from the event log.
{
  const sale = await waitForEvent(ref, "completed");
  check("event completed", sale.aggregate.captured === 9990 && sale.outcome, `seq ${position}: ${sale.state}, captured ${sale.aggregate.captured}`);
}
{
  const { data, error, response } = await box.GET("/api/v1/sales/{reference}", { params: { path: { reference: ref } } });
  need("get sale", data?.state === "completed", `${response.status} ${show(data ?? error)}`);
  check("get sale", data.customer?.type === "personalQr" && data.aggregate.captured === 9990, `${data.state}, captured ${data.aggregate.captured}, customer ${data.customer?.type}`);
}

// Part of it back, safe to repeat with refundId.
{
  const { data, error, response } = await box.POST("/api/v1/sales/{reference}/refund", {
    params: { path: { reference: ref } },
    body: { amount: 5000, refundId: "ts-refund-1" },
  });
  need("partial refund", response.status === 202 && data, `${response.status} ${show(data ?? error)}`);
  const sale = await waitForEvent(ref, "partially_refunded");
  check("partial refund", sale.aggregate.refunded === 5000, `${sale.state}, refunded ${sale.aggregate.refunded}`);
}

// More than is left: a 400 that names the field and why.
{
  const { data, error, response } = await box.POST("/api/v1/sales/{reference}/refund", {
    params: { path: { reference: ref } },
    body: { amount: 5000 },
  });
  need("refund too much", response.status === 400 && error, `${response.status} ${show(data ?? error)}`);
  check(
    "refund too much",
    error.error === "invalid_request" && error.field === "amount" && error.reason === "at most 4 990 can be refunded (captured 9 990, refunded 5 000)",
    `400 ${error.error} field ${error.field}: ${error.reason}`,
  );
}

// The rest: a refund without an amount (and without a body).
{
  const { data, error, response } = await box.POST("/api/v1/sales/{reference}/refund", {
    params: { path: { reference: ref } },
  });
  need("refund the rest", response.status === 202 && data, `${response.status} ${show(data ?? error)}`);
  const sale = await waitForEvent(ref, "refunded");
  check("refund the rest", sale.aggregate.refunded === 9990, `${sale.state}, refunded ${sale.aggregate.refunded}`);
}

// A captured sale cannot be cancelled: 409 wrong_state, refund instead.
{
  const { error, response } = await box.POST("/api/v1/sales/{reference}/cancel", {
    params: { path: { reference: ref } },
    body: {},
  });
  check("cancel captured", response.status === 409 && error?.error === "wrong_state", `${response.status} ${error?.error ?? ""}: ${error?.message}`);
}

// A sale waiting for the customer's scan, cancelled, and cancelled again by
// a till that lost the first answer.
const waiting = "ts-sale-0002";
{
  const { data, error, response } = await box.POST("/api/v1/sales", {
    body: { reference: waiting, amount: 1000, currency: "NOK" },
  });
  check("create waiting", response.status === 201 && data?.state === "waiting_for_customer", `${response.status} ${data?.state ?? show(error)}`);
}
{
  const { data, error, response } = await box.POST("/api/v1/sales/{reference}/cancel", {
    params: { path: { reference: waiting } },
    body: {},
  });
  check("cancel", response.status === 202 && data?.state === "cancelled", `${response.status} ${data?.state ?? show(error)}`);
}
{
  const { data, error, response } = await box.POST("/api/v1/sales/{reference}/cancel", {
    params: { path: { reference: waiting } },
  });
  check("cancel repeated", response.status === 200 && data?.state === "cancelled", `${response.status} ${data?.state ?? show(error)}`);
  const sale = await waitForEvent(waiting, "cancelled");
  check("cancel repeated", sale.outcome, `seq ${position}: ${sale.state}`);
}

// A product barcode where the customer's code belongs: 400, nothing taken.
{
  const { data, error, response } = await box.POST("/api/v1/sales", {
    body: { reference: "ts-sale-0003", amount: 1000, currency: "NOK", customer: { personalQr: "7038010055690" } },
  });
  need("EAN as personalQr", response.status === 400 && error, `${response.status} ${show(data ?? error)}`);
  check("EAN as personalQr", error.field === "customer.personalQr" && error.reason !== undefined && error.reason !== "", `400 field ${error.field}: ${error.reason}`);
}

// A stored position from another database (a backup restored on the box).
{
  const { data, error, response } = await box.GET("/api/v1/events", { params: { query: { after: position + 1000 } } });
  check("events ahead", response.status === 409 && error?.error === "events_ahead", `${response.status} ${error?.error ?? show(data)}: ${error?.message}`);
}

// The sales the box keeps: the two taken, not the refused one.
{
  const { data, error, response } = await box.GET("/api/v1/sales", { params: { query: { limit: 10 } } });
  need("list sales", data, `${response.status} ${show(error)}`);
  const refs = data.sales.map((s) => `${s.reference} ${s.state}`);
  check("list sales", show(refs) === show([`${ref} refunded`, `${waiting} cancelled`]), refs.join(", "));
}

// Every event handled once, in order, up to the newest.
{
  const { data, error, response } = await box.GET("/api/v1/events", { params: { query: { after: position } } });
  need("event log", data, `${response.status} ${show(error)}`);
  for (const ev of data.events) {
    need("event log", ev.seq === position + 1, `event ${ev.seq} after ${position}`);
    position = ev.seq;
    handled.push(ev);
  }
  const status = await box.GET("/api/v1/status");
  check(
    "event log",
    status.data?.lastSeq === position && data.next === position && handled.length === position - start,
    `${handled.length} events, position ${position}, next ${data.next}, lastSeq ${status.data?.lastSeq}`,
  );
}

console.log(`tsclient: ${passed} checks passed`);
