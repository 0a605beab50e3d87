//! The store against fixtures of the sync contract: sync answers as the server writes them, previews by the
//! core, the queue and its body, the batch answer, idempotence, and a write killed half-way.

use std::cell::Cell;

use serde_json::{json, Value};

use super::*;
use crate::records::{Billing, DeviceKind};
use crate::registration::{CustomerInput, DeviceInput, PlanInput, PlanTerms};
use crate::{FieldError, InstallmentTerms, OpenPaygoDevice};

thread_local! {
    static CRASH_AFTER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The byte count after which the next write of this thread is "killed" (see `write_synced`).
pub(super) fn crash_after() -> Option<usize> {
    CRASH_AFTER.with(Cell::get)
}

/// A fresh folder for one test's store, removed when the test ends.
struct Folder(PathBuf);

impl std::ops::Deref for Folder {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn folder() -> Folder {
    let dir = std::env::temp_dir().join(format!("mp-agent-store-{}", uuid::Uuid::now_v7().simple()));
    fs::create_dir_all(&dir).unwrap();
    Folder(dir)
}

fn open(dir: &Path) -> Arc<AgentStore> {
    AgentStore::open(dir.join("agent.json").to_string_lossy().into_owned()).unwrap()
}

fn agent(balance: &str, ceiling: &str) -> Value {
    json!({
        "id": "A1", "name": "Baraka", "phone": "+255754000111", "area_id": "AREA1", "currency": "TZS",
        "commission": {"energy_rate": "0.05", "appliance_rate": "0.1"},
        "risk_ceiling": ceiling, "balance": balance, "commission_earned": "0",
        "last_sync_at": null, "created_at": "2026-12-01T08:00:00Z", "updated_at": "2026-12-01T08:00:00Z"
    })
}

fn customer(id: &str, surname: &str) -> Value {
    json!({"id": id, "name": "Amina", "surname": surname, "phones": ["+255712300001"], "village_id": "V1",
           "geo": null, "national_id": null, "devices": [], "plans": [], "credit_balance": {}})
}

fn installments(id: &str, amounts: &[&str]) -> Value {
    let lines: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"number": i + 1, "due_date": format!("2026-12-{:02}", 8 + 7 * i), "amount": a, "paid": "0"}))
        .collect();
    json!({"id": id, "currency": "TZS", "period": "weekly", "start_date": "2026-12-01", "installments": lines})
}

/// A full sync: an SHS on a 3 x 700 plan, a meter at 500 TZS/kWh, and a TV sold without a device.
fn full_sync(balance: &str, ceiling: &str) -> Value {
    json!({
        "cursor": "c-1", "full": true, "as_of": "2026-12-07",
        "agent": agent(balance, ceiling),
        "customers": [customer("C1", "Juma"), customer("C2", "Mushi")],
        "devices": [
            {"serial": "SHS0001", "kind": "solar_home_system", "customer_id": "C1", "token_scheme": "openpaygo",
             "tariff_id": null, "plan_id": "P1", "offline_token": false,
             "snapshot": {
                "device": {"serial": "SHS0001", "kind": "solar_home_system", "registered_on": "2026-12-01",
                           "owner": {"id": "C1", "name": "Amina", "surname": "Juma"}},
                "billing": {"kind": "installments", "plan": installments("P1", &["700", "700", "700"])},
                "credit_balance": "0"}},
            {"serial": "MTR0001", "kind": "meter", "customer_id": "C2", "token_scheme": "external",
             "tariff_id": "T1", "plan_id": null, "offline_token": false,
             "snapshot": {
                "device": {"serial": "MTR0001", "kind": "meter", "registered_on": "2026-12-01",
                           "owner": {"id": "C2", "name": "Amina", "surname": "Mushi"}},
                "billing": {"kind": "meter", "tariff": {"currency": "TZS", "price_per_kwh": "500", "fees": [],
                                                        "access_rate": null, "minimum_purchase": "0"}},
                "credit_balance": "0"}}
        ],
        "plans": [
            {"id": "P1", "customer_id": "C1", "serial": "SHS0001", "kind": "installments", "appliance": "SHS 80W",
             "currency": "TZS", "plan": installments("P1", &["700", "700", "700"]), "credit_balance": "0"},
            {"id": "TV1", "customer_id": "C2", "serial": null, "kind": "installments", "appliance": "TV",
             "currency": "TZS", "plan": installments("TV1", &["500", "500"]), "credit_balance": "0"}
        ],
        "tariffs": [{"id": "T1", "name": "Flat", "currency": "TZS",
                     "tariff": {"id": "T1", "currency": "TZS", "price_per_kwh": "500", "fees": [], "minimum_purchase": "0"}}]
    })
}

fn sale(serial: Option<&str>, plan_id: Option<&str>, amount: &str) -> SaleDraft {
    SaleDraft {
        serial: serial.map(str::to_owned),
        plan_id: plan_id.map(str::to_owned),
        amount: amount.to_owned(),
        currency: "TZS".to_owned(),
        taken_at: Some("2026-12-07T10:00:00+03:00".to_owned()),
    }
}

fn on_disk(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("agent.json")).unwrap()).unwrap()
}

/// The server's answer for one sale item, as the contract writes it.
fn applied(item: &QueuedItem, commission: &str, lines: Value, status: &str) -> Value {
    let body: Value = serde_json::from_str(&item.body_json).unwrap();
    json!({"client_tx_id": item.client_tx_id, "type": "sale", "status": status,
           "http_status": if status == "applied" { 201 } else { 200 },
           "answer": {"payment_id": format!("pay-{}", item.client_tx_id), "status": "completed",
                      "serial": body.get("serial"), "amount": body["amount"], "currency": "TZS",
                      "allocations": lines, "credit_used": "0", "tokens": [], "credit_balance": "0",
                      "no_token_reason": null,
                      "ledger": [{"kind": "sale", "amount": body["amount"]}, {"kind": "commission", "amount": commission}]}})
}

fn registration_form(serial: &str) -> RegistrationForm {
    RegistrationForm {
        customer: CustomerInput::New {
            name: "Neema".into(),
            surname: "Kimaro".into(),
            phones: vec!["0712 345 679".into()],
            village_id: "V1".into(),
            geo: None,
            national_id: None,
        },
        device: DeviceInput {
            serial: serial.into(),
            kind: DeviceKind::SolarHomeSystem,
            manufacturer_id: "M1".into(),
            tariff_id: None,
            openpaygo: Some(OpenPaygoDevice {
                secret_key: "a29ab82edc5fbbc41ec9530f6dac86b1".into(),
                starting_code: Some(123456789),
                count: 0,
                time_divider: 1,
                restricted_digits: false,
                extended: false,
            }),
        },
        plan: Some(PlanInput {
            appliance: "SHS 80W".into(),
            currency: "TZS".into(),
            terms: PlanTerms::Installments {
                terms: InstallmentTerms {
                    total_cost: "2100".into(),
                    down_payment: "0".into(),
                    installments: 3,
                    period: "weekly".into(),
                    start_date: "2026-12-07".into(),
                    minimum_payment: None,
                },
            },
        }),
        registered_on: "2026-12-07".into(),
        phone_region: Some("TZ".into()),
        down_payment_paid: true,
    }
}

#[test]
fn a_sync_fills_the_store_and_survives_reopening() {
    let dir = folder();
    let store = open(&dir);
    assert_eq!(store.cursor(), None);
    assert_eq!(store.agent().unwrap(), None);
    let summary = store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    assert_eq!((summary.cursor.as_str(), summary.full, summary.devices, summary.plans), ("c-1", true, 2, 2));
    assert_eq!(store.cursor().as_deref(), Some("c-1"));

    let store = open(&dir);
    assert_eq!(store.as_of().as_deref(), Some("2026-12-07"));
    let customers = store.customers().unwrap();
    assert_eq!(customers.iter().map(|c| c.surname.as_str()).collect::<Vec<_>>(), ["Juma", "Mushi"]);
    let devices = store.devices().unwrap();
    assert_eq!(
        devices.iter().map(|d| (d.serial.as_str(), d.kind)).collect::<Vec<_>>(),
        [("MTR0001", DeviceKind::Meter), ("SHS0001", DeviceKind::SolarHomeSystem)]
    );
    assert!(devices.iter().all(|d| !d.offline_token));
    assert!(matches!(devices[1].snapshot.billing, Billing::Installments { .. }));
    let plans = store.plans().unwrap();
    assert_eq!(plans[1].plan.as_ref().map(|p| p.installments.len()), Some(2));
    assert_eq!(store.tariffs().unwrap()[0].tariff.price_per_kwh, "500");
    let agent = store.agent().unwrap().unwrap();
    assert_eq!((agent.risk_ceiling.as_str(), agent.balance_with_queue.as_str()), ("20000", "0"));
}

#[test]
fn the_same_sync_answer_twice_leaves_the_same_store() {
    let dir = folder();
    let store = open(&dir);
    let answer = full_sync("0", "20000").to_string();
    store.apply_sync(answer.clone()).unwrap();
    let once = fs::read(dir.join("agent.json")).unwrap();
    store.apply_sync(answer).unwrap();
    assert_eq!(fs::read(dir.join("agent.json")).unwrap(), once);

    // An incremental answer upserts by key, a row sent twice included; the rest stays.
    let changes = json!({"cursor": "c-2", "full": false, "as_of": "2026-12-07", "agent": agent("0", "20000"),
                         "customers": [customer("C2", "Mushi-Kweka"), customer("C2", "Mushi-Kweka"), customer("C3", "Lyimo")]});
    store.apply_sync(changes.to_string()).unwrap();
    let after_changes = fs::read(dir.join("agent.json")).unwrap();
    store.apply_sync(changes.to_string()).unwrap();
    assert_eq!(fs::read(dir.join("agent.json")).unwrap(), after_changes);
    let surnames: Vec<String> = store.customers().unwrap().into_iter().map(|c| c.surname).collect();
    assert_eq!(surnames, ["Juma", "Mushi-Kweka", "Lyimo"]);
    assert_eq!(store.devices().unwrap().len(), 2);
    assert_eq!(store.cursor().as_deref(), Some("c-2"));

    // A full answer replaces: a customer no longer sent is gone.
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    assert_eq!(store.customers().unwrap().len(), 2);
}

#[test]
fn a_malformed_sync_answer_is_refused_whole() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let before = fs::read(dir.join("agent.json")).unwrap();
    let mut bad = full_sync("0", "20000");
    bad["cursor"] = json!("c-9");
    bad["devices"][1]["snapshot"]["billing"]["tariff"]["price_per_kwh"] = json!("5OO");
    let e = store.apply_sync(bad.to_string()).unwrap_err();
    let details: Value = serde_json::from_str(e.details()).unwrap();
    assert_eq!(e.code(), "invalid_input");
    assert!(details["field"].as_str().unwrap().starts_with("sync.devices[1].snapshot"), "{details}");
    assert_eq!(fs::read(dir.join("agent.json")).unwrap(), before);
    assert_eq!(store.cursor().as_deref(), Some("c-1"));
    assert!(store.apply_sync("not json".into()).is_err());
    let mut other = full_sync("0", "20000");
    other["agent"]["id"] = json!("A2");
    let e = store.apply_sync(other.to_string()).unwrap_err();
    assert!(e.reason().contains("belongs to agent A1"), "{e:?}");
    assert_eq!(fs::read(dir.join("agent.json")).unwrap(), before);
}

#[test]
fn previews_are_the_cores_allocation_and_commission() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("1000", "20000").to_string()).unwrap();

    let shs = store.preview_sale(sale(Some("shs-0001"), None, "800")).unwrap();
    assert_eq!(shs.serial.as_deref(), Some("SHS0001"));
    assert_eq!(shs.customer_name.as_deref(), Some("Amina Juma"));
    assert_eq!(shs.received_on, "2026-12-07");
    assert_eq!(shs.allocation.lines.iter().map(|l| l.amount.as_str()).collect::<Vec<_>>(), ["700", "100"]);
    assert_eq!(
        (shs.commission.as_str(), shs.balance_before.as_str(), shs.balance_after.as_str()),
        ("80", "1000", "1800")
    );
    assert!(shs.allocation.token.is_some());
    assert!(shs.token_note.contains("server"));

    let meter = store.preview_sale(sale(Some("MTR0001"), None, "1000")).unwrap();
    assert_eq!(meter.commission, "50");
    assert_eq!(meter.allocation.token.as_ref().map(|t| t.quantity.as_str()), Some("2"));

    let tv = store.preview_sale(sale(None, Some("TV1"), "500")).unwrap();
    assert_eq!((tv.plan_id.as_deref(), tv.commission.as_str()), (Some("TV1"), "50"));
    assert_eq!(tv.customer_name.as_deref(), Some("Amina Mushi"));

    // The core's refusals, as the core's variants.
    assert!(matches!(store.preview_sale(sale(Some("NOPE1"), None, "500")), Err(MicropowerError::UnknownSerial { .. })));
    assert!(matches!(
        store.preview_sale(SaleDraft { currency: "KES".into(), ..sale(Some("SHS0001"), None, "500") }),
        Err(MicropowerError::CurrencyMismatch { .. })
    ));
    assert!(matches!(store.preview_sale(sale(None, Some("NOPE"), "500")), Err(MicropowerError::NotFound { .. })));
    assert!(matches!(
        store.preview_sale(sale(Some("SHS0001"), Some("TV1"), "500")),
        Err(MicropowerError::InvalidInput { .. })
    ));
    // A preview writes nothing.
    assert!(store.queue().unwrap().is_empty());
}

#[test]
fn a_store_that_never_synced_refuses_a_sale() {
    let dir = folder();
    let store = open(&dir);
    let e = store.preview_sale(sale(Some("SHS0001"), None, "800")).unwrap_err();
    assert_eq!(e.code(), "invalid_input");
}

#[test]
fn queued_sales_count_toward_the_ceiling() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("5000", "20000").to_string()).unwrap();
    let first = store.record_sale(sale(Some("SHS0001"), None, "5000")).unwrap();
    assert_eq!((first.kind, first.status), (ItemKind::Sale, ItemStatus::Pending));
    assert_eq!(first.commission.as_deref(), Some("210"));
    assert!(first.receipt.contains(&first.client_tx_id) && first.receipt.contains("5000 TZS"), "{}", first.receipt);
    store.record_sale(sale(Some("MTR0001"), None, "5000")).unwrap();
    assert_eq!(store.agent().unwrap().unwrap().balance_with_queue, "15000");

    let e = store.record_sale(sale(None, Some("TV1"), "6000")).unwrap_err();
    let MicropowerError::RiskCeilingExceeded { code, details, .. } = &e else { panic!("{e:?}") };
    assert_eq!(code, "risk_ceiling_exceeded");
    let details: Value = serde_json::from_str(details).unwrap();
    assert_eq!((details["balance"].as_str(), details["risk_ceiling"].as_str()), (Some("15000"), Some("20000")));
    assert_eq!(store.queue().unwrap().len(), 2, "a refused sale is not queued");
    assert!(store.record_sale(sale(None, Some("TV1"), "1000")).is_ok());
}

#[test]
fn the_sync_body_is_the_pending_items_in_order() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let a = store.record_sale(sale(Some("shs-0001"), None, "800")).unwrap();
    let b = store.record_registration(registration_form("shs-0077")).unwrap();
    let c = store.record_sale(sale(None, Some("TV1"), "500.00")).unwrap();
    let body: Value = serde_json::from_str(&store.sync_body().unwrap()).unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(
        items.iter().map(|i| i["client_tx_id"].as_str().unwrap()).collect::<Vec<_>>(),
        [a.client_tx_id.as_str(), b.client_tx_id.as_str(), c.client_tx_id.as_str()]
    );
    assert_eq!(
        items[0],
        json!({"type": "sale", "client_tx_id": a.client_tx_id, "serial": "SHS0001", "amount": "800", "currency": "TZS",
               "taken_at": "2026-12-07T10:00:00+03:00"})
    );
    assert_eq!((items[2]["plan_id"].as_str(), items[2]["amount"].as_str()), (Some("TV1"), Some("500")));
    assert_eq!(items[1]["type"], "registration");
    assert_eq!(items[1]["device"]["serial"], "shs-0077");
    assert_eq!(items[1]["customer"]["name"], "Neema");
    assert_ne!(a.client_tx_id, c.client_tx_id);
}

#[test]
fn a_registration_with_field_errors_is_not_queued() {
    let dir = folder();
    let store = open(&dir);
    let mut form = registration_form("shs_0001");
    form.customer = CustomerInput::New {
        name: " ".into(),
        surname: "Kimaro".into(),
        phones: vec!["+255 1".into()],
        village_id: "V1".into(),
        geo: None,
        national_id: None,
    };
    let expected: Vec<FieldError> = crate::validate_registration(form.clone());
    let e = store.record_registration(form).unwrap_err();
    let MicropowerError::InvalidInput { details, .. } = &e else { panic!("{e:?}") };
    let details: Value = serde_json::from_str(details).unwrap();
    let fields: Vec<&str> =
        details["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, expected.iter().map(|e| e.field.as_str()).collect::<Vec<_>>());
    assert!(fields.contains(&"device.serial") && fields.contains(&"customer.phone"), "{fields:?}");
    assert!(store.queue().unwrap().is_empty());
}

#[test]
fn the_servers_answer_wins_and_a_resent_batch_changes_nothing() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let a = store.record_sale(sale(Some("SHS0001"), None, "800")).unwrap();
    let b = store.record_sale(sale(Some("MTR0001"), None, "1000")).unwrap();
    let c = store.record_sale(sale(None, Some("TV1"), "500")).unwrap();
    let r = store.record_registration(registration_form("shs-0077")).unwrap();
    let body = store.sync_body().unwrap();

    let agent_after = agent("1800", "20000");
    let answer = json!({"items": [
        applied(&a, "80", json!([{"kind": "installment", "amount": "700"}, {"kind": "installment", "amount": "100"}]), "applied"),
        // The server saw it otherwise (e.g. a payment since the sync): its answer is kept and flagged.
        applied(&b, "40", json!([{"kind": "access_rate", "amount": "200"}, {"kind": "energy", "amount": "800"}]), "applied"),
        {"client_tx_id": c.client_tx_id, "type": "sale", "status": "refused", "http_status": 422,
         "error": {"code": "risk_ceiling_exceeded", "message": "past the ceiling", "balance": "1800"}},
        {"client_tx_id": r.client_tx_id, "type": "registration", "status": "applied", "http_status": 201,
         "answer": {"customer": {"id": "C9"}, "device": {"serial": "SHS0077"}}},
        {"client_tx_id": "from-another-phone", "type": "sale", "status": "applied", "http_status": 201, "answer": {}}
    ], "agent": agent_after});

    let outcomes = store.apply_sync_answer(answer.to_string()).unwrap();
    assert_eq!(outcomes.len(), 4, "an item not in this queue is left out");
    let status: Vec<(SyncStatus, bool)> = outcomes.iter().map(|o| (o.status, o.differs_from_preview)).collect();
    assert_eq!(
        status,
        [
            (SyncStatus::Applied, false),
            (SyncStatus::Applied, true),
            (SyncStatus::Refused, true),
            (SyncStatus::Applied, false)
        ]
    );
    assert_eq!(outcomes[2].code.as_deref(), Some("risk_ceiling_exceeded"));
    assert!(outcomes[1].differences.iter().any(|d| d == "commission: preview 50, server 40"), "{:?}", outcomes[1]);

    let queue = store.queue().unwrap();
    assert_eq!(
        queue.iter().map(|i| i.status).collect::<Vec<_>>(),
        [ItemStatus::Applied, ItemStatus::Applied, ItemStatus::Refused, ItemStatus::Applied]
    );
    assert_eq!(queue[1].commission.as_deref(), Some("40"), "the phone shows the server's commission");
    assert_eq!(queue[2].commission, None);
    assert_eq!(queue[2].code.as_deref(), Some("risk_ceiling_exceeded"));
    assert_eq!(store.sync_body().unwrap(), json!({"items": []}).to_string());
    let agent = store.agent().unwrap().unwrap();
    assert_eq!((agent.balance.as_str(), agent.queued_sales.as_str()), ("1800", "0"));

    // The same batch sent again (its answer was lost): every item duplicate, nothing changes on the phone.
    let mut again = answer.clone();
    for item in again["items"].as_array_mut().unwrap() {
        if item["status"] == "applied" {
            item["status"] = json!("duplicate");
            item["http_status"] = json!(200);
        }
    }
    let before = on_disk(&dir);
    let outcomes = store.apply_sync_answer(again.to_string()).unwrap();
    assert!(outcomes.iter().all(|o| o.status != SyncStatus::Applied));
    assert_eq!(on_disk(&dir)["queue"], before["queue"]);
    assert_eq!(store.queue().unwrap(), queue);
    assert!(!body.is_empty());
}

#[test]
fn a_lost_answer_leaves_the_items_pending_and_the_duplicate_answer_settles_them() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let a = store.record_sale(sale(Some("SHS0001"), None, "800")).unwrap();
    let body = store.sync_body().unwrap();
    // The answer never arrived: the same body goes again, and the server answers duplicate.
    assert_eq!(store.sync_body().unwrap(), body);
    let lines = json!([{"kind": "installment", "amount": "700"}, {"kind": "installment", "amount": "100"}]);
    let answer = json!({"items": [applied(&a, "80", lines, "duplicate")], "agent": agent("800", "20000")});
    let outcomes = store.apply_sync_answer(answer.to_string()).unwrap();
    assert_eq!((outcomes[0].status, outcomes[0].differs_from_preview), (SyncStatus::Duplicate, false));
    assert_eq!(store.queue().unwrap()[0].status, ItemStatus::Duplicate);
    assert_eq!(store.agent().unwrap().unwrap().balance_with_queue, "800");
}

#[test]
fn an_item_the_server_kept_no_outcome_for_stays_pending() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let a = store.record_sale(sale(Some("SHS0001"), None, "800")).unwrap();
    let answer = json!({"items": [{"client_tx_id": a.client_tx_id, "type": "sale", "status": "refused", "http_status": 503,
                                   "error": {"code": "unavailable", "message": "try again"}}]});
    let outcomes = store.apply_sync_answer(answer.to_string()).unwrap();
    assert_eq!((outcomes[0].status, outcomes[0].code.as_deref()), (SyncStatus::Refused, Some("unavailable")));
    assert_eq!(store.queue().unwrap()[0].status, ItemStatus::Pending);
    assert!(store.sync_body().unwrap().contains(&a.client_tx_id));

    // A device the server does not know yet (its registration may sync later): pending, the refusal shown.
    let unknown = json!({"items": [{"client_tx_id": a.client_tx_id, "type": "sale", "status": "refused", "http_status": 422,
                                    "error": {"code": "unknown_serial", "message": "no device SHS0001"}}]});
    store.apply_sync_answer(unknown.to_string()).unwrap();
    let item = &store.queue().unwrap()[0];
    assert_eq!((item.status, item.code.as_deref()), (ItemStatus::Pending, Some("unknown_serial")));
    assert_eq!(store.agent().unwrap().unwrap().queued_sales, "800");

    // Any other refusal settles it: not sent again.
    let refused = json!({"items": [{"client_tx_id": a.client_tx_id, "type": "sale", "status": "refused", "http_status": 400,
                                    "error": {"code": "invalid_input", "message": "amount", "field": "amount"}}]});
    store.apply_sync_answer(refused.to_string()).unwrap();
    assert_eq!(store.queue().unwrap()[0].status, ItemStatus::Refused);
    assert_eq!(store.sync_body().unwrap(), json!({"items": []}).to_string());
}

#[test]
fn a_write_killed_half_way_keeps_the_old_file() {
    let dir = folder();
    let store = open(&dir);
    store.apply_sync(full_sync("0", "20000").to_string()).unwrap();
    let first = store.record_sale(sale(Some("SHS0001"), None, "800")).unwrap();
    let before = fs::read(dir.join("agent.json")).unwrap();

    CRASH_AFTER.with(|c| c.set(Some(100)));
    let e = store.record_sale(sale(Some("MTR0001"), None, "1000"));
    CRASH_AFTER.with(|c| c.set(None));
    assert!(matches!(e, Err(MicropowerError::InvalidInput { .. })), "{e:?}");
    // Neither the file nor the store in memory has the sale the app was told failed.
    assert_eq!(fs::read(dir.join("agent.json")).unwrap(), before);
    assert_eq!(store.queue().unwrap().len(), 1);

    // A process killed between writing the temporary file and the rename leaves a half file next to the
    // store: opening reads the old store whole and clears the leftover.
    let stray = dir.join(".agent.json.tmp-killed");
    fs::write(&stray, &before[..before.len() / 2]).unwrap();
    let reopened = open(&dir);
    assert!(!stray.exists());
    let queue = reopened.queue().unwrap();
    assert_eq!(queue.iter().map(|i| i.client_tx_id.as_str()).collect::<Vec<_>>(), [first.client_tx_id.as_str()]);
    assert_eq!(reopened.cursor().as_deref(), Some("c-1"));
    assert!(reopened.record_sale(sale(Some("MTR0001"), None, "1000")).is_ok());
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = folder();
    let path = dir.join("agent.json");
    fs::write(&path, b"{\"format\": 99}").unwrap();
    assert!(AgentStore::open(path.to_string_lossy().into_owned()).is_err());
    fs::write(&path, b"garbage").unwrap();
    assert!(AgentStore::open(path.to_string_lossy().into_owned()).is_err());
    assert_eq!(fs::read(&path).unwrap(), b"garbage");
    let missing = dir.join("no-such-folder").join("agent.json");
    assert!(AgentStore::open(missing.to_string_lossy().into_owned()).is_err());
}
