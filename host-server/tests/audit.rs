//! Issue 19's audit log over a real socket, on SQLite and on PostgreSQL: every write that moves money or
//! changes a secret is listed by `GET /v1/audit` with who made it, its entity, before and after; payments come
//! from the payment journal; a refused write leaves nothing; only admins read it; it pages and filters like
//! every list; and no secret or key is ever in it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    writes_are_audited_with_their_actor,
    payments_appear_with_who_recorded_them,
    refused_writes_leave_no_entry,
    only_admins_read_the_audit,
    pages_and_filters,
);

/// Every entry of the audit, newest first, walking its pages.
async fn audit(s: &TestServer, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = format!("/v1/audit?limit=7{query}");
    loop {
        let (code, page) = s.get(&url).await;
        assert_eq!(code, 200, "{url}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("/v1/audit?limit=7{query}&cursor={cursor}"),
            None => return items,
        }
    }
}

fn of<'a>(items: &'a [Value], action: &str) -> Vec<&'a Value> {
    items.iter().filter(|e| e["action"] == action).collect()
}

fn admin_key_id(items: &[Value]) -> String {
    let first = of(items, "api_key.created").into_iter().find(|e| e["actor"]["kind"] == "system").unwrap();
    first["entity"]["id"].as_str().unwrap().to_owned()
}

async fn daraja(s: &TestServer) -> Value {
    s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "TZS"}), 201).await
}

fn c2b(trans_id: &str, bill_ref: &str, amount: &str, shortcode: &str) -> Value {
    json!({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260102081325", "TransAmount": amount,
        "BusinessShortCode": shortcode, "BillRefNumber": bill_ref, "InvoiceNumber": "", "OrgAccountBalance": "",
        "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": ""
    })
}

async fn hook(s: &TestServer, path: &str, body: Value) -> u16 {
    let resp = s.client.post(format!("{}{path}", s.base)).json(&body).send().await.unwrap();
    resp.status().as_u16()
}

/// Each audited write with its actor, action, entity, before and after; the secrets it touched are not there.
async fn writes_are_audited_with_their_actor(s: TestServer) {
    let r = registry(&s).await;
    let registered = register_shs(&s, &r, "SHS-A1").await;
    let plan_id = registered["plan"]["id"].as_str().unwrap().to_owned();
    let customer_id = registered["customer"]["id"].as_str().unwrap().to_owned();

    let operator = s.ok("/v1/api-keys", json!({"role": "operator", "label": "desk"}), 201).await;
    let operator_key = operator["key"].as_str().unwrap().to_owned();
    let operator_id = operator["id"].as_str().unwrap().to_owned();
    // A sale by the operator's key, with its down payment.
    let (code, sold) = s
        .send(
            Method::POST,
            &format!("/v1/customers/{customer_id}/plans"),
            Some(json!({"appliance": "Radio", "currency": "TZS", "total_cost": "1000", "down_payment": "200",
                        "installments": 2, "period": "weekly", "start_date": "2026-01-01"})),
            Some(&operator_key),
        )
        .await;
    assert_eq!(code, 201, "{sold}");
    let (code, _) = s.put(&format!("/v1/plans/{plan_id}/total"), json!({"total_cost": "2400"})).await;
    assert_eq!(code, 200);
    let token = s.ok("/v1/devices/SHS-A1/tokens", json!({"kind": "add_time", "days": "3"}), 201).await;
    let (code, _) = s.put("/v1/sms-templates/meter_token", json!({"text": "Asante {name}: {token}, {kwh} kWh."})).await;
    assert_eq!(code, 200);
    let provider = daraja(&s).await;
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    s.ok(&format!("/v1/providers/{provider_id}/rotate"), json!({"grace_seconds": 60}), 200).await;
    let (code, _) = s.send(Method::DELETE, &format!("/v1/providers/{provider_id}"), None, Some(ADMIN_KEY)).await;
    assert_eq!(code, 200);
    let (code, _) = s.send(Method::DELETE, &format!("/v1/providers/{provider_id}"), None, Some(ADMIN_KEY)).await;
    assert_eq!(code, 200, "a repeated removal changes nothing");
    let (code, _) = s.send(Method::DELETE, &format!("/v1/api-keys/{operator_id}"), None, Some(ADMIN_KEY)).await;
    assert_eq!(code, 200);

    let items = audit(&s, "").await;
    let admin = admin_key_id(&items);
    let by_admin = |e: &Value| e["actor"]["kind"] == "api_key" && e["actor"]["id"] == admin.as_str();

    let reg = of(&items, "registration.created");
    assert_eq!(reg.len(), 1);
    assert!(by_admin(reg[0]));
    assert_eq!(reg[0]["entity"], json!({"kind": "device", "id": "SHSA1"}));
    assert_eq!(reg[0]["after"]["openpaygo_key"], true);
    assert_eq!(reg[0]["after"]["plan"]["id"], plan_id.as_str());

    let sale = of(&items, "sale.created");
    assert_eq!(sale.len(), 1);
    assert_eq!(sale[0]["actor"], json!({"kind": "api_key", "id": operator_id, "label": "desk"}));
    assert_eq!(sale[0]["entity"]["id"], sold["id"]);
    assert_eq!(sale[0]["after"]["down_payment_id"], sold["down_payment"]["payment_id"]);
    // The down payment is in the journal, recorded by the same key.
    let down = items.iter().find(|e| e["entity"]["id"] == sold["down_payment"]["payment_id"]).unwrap();
    assert_eq!((down["action"].as_str(), &down["actor"]["id"]), (Some("payment.recorded"), &json!(operator_id)));

    let edit = of(&items, "plan.edited");
    assert_eq!(edit.len(), 1);
    assert!(by_admin(edit[0]));
    assert_eq!(
        (edit[0]["before"]["total_cost"].as_str(), edit[0]["after"]["total_cost"].as_str()),
        (Some("2100"), Some("2400"))
    );

    let issued = of(&items, "token.issued");
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["after"]["kind"], "add_time");
    assert_eq!(issued[0]["entity"], json!({"kind": "device", "id": "SHSA1"}));

    let created = of(&items, "provider.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["entity"], json!({"kind": "provider", "id": provider_id}));
    assert_eq!(of(&items, "provider.rotated").len(), 1);
    assert_eq!(of(&items, "provider.rotated")[0]["after"]["grace_seconds"], 60);
    let deleted = of(&items, "provider.deleted");
    assert_eq!(deleted.len(), 1, "the repeat recorded nothing");
    assert_eq!(
        (deleted[0]["before"]["removed_at"].is_null(), deleted[0]["after"]["removed_at"].is_string()),
        (true, true)
    );

    let keys = of(&items, "api_key.created");
    assert!(keys
        .iter()
        .any(|e| by_admin(e) && e["entity"]["id"] == operator_id.as_str() && e["after"]["role"] == "operator"));
    let revoked = of(&items, "api_key.revoked");
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0]["before"]["revoked_at"].is_null() && revoked[0]["after"]["revoked_at"].is_string());
    // A revoked key keeps its label in the audit.
    let sale = audit(&s, "&action=sale.created").await;
    assert_eq!(sale[0]["actor"]["label"], "desk");

    let templates = of(&items, "sms_template.changed");
    assert_eq!(templates.len(), 1);
    assert_eq!(
        (templates[0]["before"]["customised"].as_bool(), templates[0]["after"]["customised"].as_bool()),
        (Some(false), Some(true))
    );
    let text = serde_json::to_string(&items).unwrap();
    for secret in [KEY, ADMIN_KEY, operator_key.as_str(), token["code"].as_str().unwrap()] {
        assert!(!text.contains(secret), "the audit holds a secret: {secret}");
    }
    for path in provider["hook_paths"].as_object().unwrap().values() {
        let segment = path.as_str().unwrap().split('/').nth(3).unwrap();
        assert!(!text.contains(segment), "the audit holds a hook path");
    }
}

/// A payment posted with a key and one delivered by a provider's hook are listed from the journal with who
/// recorded them; assigning money that waited and resolving a conflict are the operator's entries.
async fn payments_appear_with_who_recorded_them(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-P1").await;
    let paid = s.ok("/v1/payments", payment("k1", "SHS-P1", "700", "2026-01-02T08:00:00Z"), 201).await;
    let provider = daraja(&s).await;
    let confirmation = provider["hook_paths"]["confirmation"].as_str().unwrap();
    assert_eq!(hook(&s, confirmation, c2b("RKA1", "SHS-P1", "700.00", "600984")).await, 200);
    // Another shortcode: a conflict, credited by nobody until an admin decides.
    assert_eq!(hook(&s, confirmation, c2b("RKA2", "SHS-P1", "100.00", "999999")).await, 200);
    let mut lost = payment("k2", "NO-SUCH-1", "700", "2026-01-02T08:00:00Z");
    lost["money_moved"] = json!(true);
    let queued = s.ok("/v1/payments", lost, 202).await;
    let unmatched_id = queued["unmatched_id"].as_str().unwrap();
    let assigned =
        s.ok(&format!("/v1/payments/unmatched/{unmatched_id}/assign"), json!({"serial": "SHS-P1"}), 201).await;
    let (_, conflicts) = s.get("/v1/payments/conflicts").await;
    let conflict_id = conflicts["items"][0]["id"].as_str().unwrap().to_owned();
    s.ok(&format!("/v1/payments/conflicts/{conflict_id}/resolve"), json!({"credit": false}), 200).await;

    let items = audit(&s, "").await;
    let admin = admin_key_id(&items);
    let payments = of(&items, "payment.recorded");
    let posted = payments.iter().find(|e| e["entity"]["id"] == paid["payment_id"]).unwrap();
    assert_eq!((&posted["actor"]["kind"], &posted["actor"]["id"]), (&json!("api_key"), &json!(admin)));
    assert_eq!(posted["entity"]["kind"], "payment");
    assert_eq!((posted["after"]["amount"].as_str(), posted["after"]["serial"].as_str()), (Some("700"), Some("SHSP1")));
    assert!(!posted["after"]["allocations"].as_array().unwrap().is_empty());
    let hooked = payments.iter().find(|e| e["after"]["provider_tx_id"] == "RKA1").unwrap();
    assert_eq!(hooked["actor"], json!({"kind": "provider", "id": provider["id"], "label": "daraja_c2b"}));

    let assign = of(&items, "unmatched.assigned");
    assert_eq!(assign.len(), 1);
    assert_eq!(assign[0]["entity"], json!({"kind": "unmatched_payment", "id": unmatched_id}));
    assert_eq!(assign[0]["after"]["payment_id"], assigned["payment_id"]);
    assert_eq!(
        (assign[0]["before"]["status"].as_str(), assign[0]["after"]["status"].as_str()),
        (Some("open"), Some("assigned"))
    );
    let resolved = of(&items, "conflict.resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["entity"], json!({"kind": "payment_conflict", "id": conflict_id}));
    assert_eq!(resolved[0]["after"]["resolution"], "dismissed");
    // Newest first: the dismissal was the last write.
    assert_eq!(items[0]["action"], "conflict.resolved");
    let times: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

/// A write the server refuses records nothing.
async fn refused_writes_leave_no_entry(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-R1").await;
    let before = audit(&s, "").await.len();
    // The last admin key cannot be revoked; the same serial cannot be registered twice; a plan is not edited
    // below what was paid; a provider needs its secret.
    let admin = admin_key_id(&audit(&s, "").await);
    let (code, _) = s.send(Method::DELETE, &format!("/v1/api-keys/{admin}"), None, Some(ADMIN_KEY)).await;
    assert_eq!(code, 409);
    let (code, _) = s
        .post(
            "/v1/registrations",
            json!({"customer": new_customer(&r.village),
                   "device": {"serial": "SHS-R1", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                              "openpaygo": {"secret_key": KEY, "starting_code": 1, "count": 0}}}),
        )
        .await;
    assert!((400..500).contains(&code), "{code}");
    let (code, _) = s.post("/v1/providers", json!({"kind": "wave", "currency": "TZS"})).await;
    assert!((400..500).contains(&code), "{code}");
    let (code, _) = s.put("/v1/sms-templates/meter_token", json!({"text": "{nope}"})).await;
    assert!((400..500).contains(&code), "{code}");
    assert_eq!(audit(&s, "").await.len(), before, "refused writes recorded nothing");
}

/// Only an admin reads the audit.
async fn only_admins_read_the_audit(s: TestServer) {
    for role in ["operator", "viewer"] {
        let key = s.ok("/v1/api-keys", json!({"role": role}), 201).await;
        let (code, body) = s.send(Method::GET, "/v1/audit", None, key["key"].as_str()).await;
        assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")), "{role}");
    }
    let (code, _) = s.send(Method::GET, "/v1/audit", None, None).await;
    assert_eq!(code, 401);
    let (code, _) = s.get("/v1/audit").await;
    assert_eq!(code, 200);
}

/// Pages walk every entry once; filters narrow; bad filters, limits and cursors are refused.
async fn pages_and_filters(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-F1").await;
    for i in 0..9 {
        s.ok("/v1/payments", payment(&format!("f{i}"), "SHS-F1", "100", "2026-01-02T08:00:00Z"), 201).await;
        s.ok("/v1/api-keys", json!({"role": "viewer", "label": format!("v{i}")}), 201).await;
    }
    let all = audit(&s, "").await;
    let ids: std::collections::BTreeSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "no entry twice");
    let (_, big) = s.get("/v1/audit?limit=500").await;
    assert_eq!(big["items"].as_array().unwrap().len(), all.len());
    assert_eq!(big["next_cursor"], Value::Null);

    assert_eq!(audit(&s, "&action=payment.recorded").await.len(), 9);
    assert_eq!(audit(&s, "&action=api_key.created").await.len(), 10, "nine and the first admin key");
    let one = &all.iter().find(|e| e["action"] == "payment.recorded").unwrap()["entity"]["id"];
    let found = audit(&s, &format!("&entity_kind=payment&entity_id={}", one.as_str().unwrap())).await;
    assert_eq!(found.len(), 1);
    assert_eq!(audit(&s, "&entity_kind=device&entity_id=SHSF1").await.len(), 1, "its registration");
    assert_eq!(audit(&s, "&from=2000-01-01&to=2999-12-31").await.len(), all.len());
    assert!(audit(&s, "&to=2000-01-01").await.is_empty());
    let newest = all[0]["at"].as_str().unwrap();
    let since = audit(&s, &format!("&from={}", newest.replace('+', "%2B"))).await;
    assert!(!since.is_empty() && since.iter().all(|e| e["at"].as_str().unwrap() >= newest));

    for bad in [
        "limit=0",
        "limit=501",
        "cursor=abc",
        "action=payment.stolen",
        "from=yesterday",
        "from=2026-02-01&to=2026-01-01",
    ] {
        let (code, body) = s.get(&format!("/v1/audit?{bad}")).await;
        assert_eq!(code, 422, "{bad}: {body}");
    }
    let (_, payments) = s.get("/v1/payments?limit=1").await;
    let foreign = payments["next_cursor"].as_str().unwrap();
    let (code, _) = s.get(&format!("/v1/audit?cursor={foreign}")).await;
    assert_eq!(code, 422, "a cursor of another list");
}
