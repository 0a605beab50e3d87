//! Issue 16's lists and edits over a real socket, on SQLite and on PostgreSQL: one pagination for every
//! list (limit, cursor, refusals), the registry's lists and reads by id, customer and name edits, and API
//! keys listed, revoked and expiring.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use std::collections::BTreeSet;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    pages_walk_every_item_once,
    bad_limits_and_cursors_are_refused,
    registry_lists_and_reads,
    customers_are_created_edited_and_found,
    devices_show_their_owner,
    status_and_date_filters,
    api_keys_are_listed_and_revoked,
    api_keys_expire,
);

/// Walks a list with `limit`, answering every item in order and the number of pages.
async fn walk(s: &TestServer, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = format!("{path}{sep}limit={limit}");
    loop {
        let (code, page) = s.get(&url).await;
        assert_eq!(code, 200, "{url}: {page}");
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{url}: more than the limit");
        items.extend(got.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(got.len(), limit, "only a full page says more follow");
                url = format!("{path}{sep}limit={limit}&cursor={cursor}");
            }
            None => break,
        }
        assert!(pages < 1000, "the walk does not end");
    }
    (items, pages)
}

async fn pages_walk_every_item_once(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-PG").await;
    // 23 payments recorded in order; the list is newest first.
    let mut ids = Vec::new();
    for i in 0..23 {
        let paid = s.ok("/v1/payments", payment(&format!("pg{i}"), "SHS-PG", "100", "2026-01-02T08:00:00Z"), 201).await;
        ids.push(paid["payment_id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    for limit in [1, 5, 22, 23, 50] {
        let (items, pages) = walk(&s, "/v1/payments", limit).await;
        let got: Vec<&str> = items.iter().map(|p| p["payment_id"].as_str().unwrap()).collect();
        assert_eq!(got, ids, "limit {limit}: every payment once, newest first");
        assert_eq!(pages, 23usize.div_ceil(limit), "limit {limit}");
    }
    // The default page is 50 items: all 23 here, with no cursor.
    let (_, first) = s.get("/v1/payments").await;
    assert_eq!((first["items"].as_array().unwrap().len(), &first["next_cursor"]), (23, &Value::Null));

    // A payment recorded while a client walks shows on no later page of that walk, and nothing repeats.
    let (_, page1) = s.get("/v1/payments?limit=10").await;
    s.ok("/v1/payments", payment("pg-late", "SHS-PG", "100", "2026-01-02T08:00:00Z"), 201).await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = s.get(&format!("/v1/payments?limit=10&cursor={cursor}")).await;
    assert_eq!(page2["items"][0]["payment_id"], ids[10].as_str());

    // The token history pages the same way.
    let (tokens, _) = walk(&s, "/v1/devices/SHS-PG/tokens", 4).await;
    let unique: BTreeSet<&str> = tokens.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), tokens.len(), "no token twice");
    let (_, whole) = s.get("/v1/devices/SHS-PG/tokens?limit=500").await;
    assert_eq!(&tokens, whole["items"].as_array().unwrap(), "walked in pages, as in one page");
    assert!(tokens.len() > 4, "{}", tokens.len());
}

async fn bad_limits_and_cursors_are_refused(s: TestServer) {
    for path in [
        "/v1/payments",
        "/v1/payments/refused",
        "/v1/payments/unmatched",
        "/v1/payments/conflicts",
        "/v1/notifications",
        "/v1/clusters",
        "/v1/areas",
        "/v1/villages",
        "/v1/manufacturers",
        "/v1/tariffs",
        "/v1/appliance-types",
        "/v1/customers",
        "/v1/devices",
        "/v1/api-keys",
    ] {
        for limit in ["0", "501", "ten", "-3", "2.5", ""] {
            let (code, body) = s.get(&format!("{path}?limit={limit}")).await;
            if limit.is_empty() {
                assert_eq!(code, 200, "{path} with an empty limit: {body}");
                continue;
            }
            assert_eq!(
                (code, &body["code"], &body["field"]),
                (422, &json!("invalid_input"), &json!("limit")),
                "{path}?limit={limit}: {body}"
            );
        }
        let (code, body) = s.get(&format!("{path}?limit=500")).await;
        assert_eq!(code, 200, "{path}: {body}");
        assert!(body["items"].is_array() && body.get("next_cursor").is_some(), "{path}: {body}");
        for cursor in ["garbage", "eyJ4IjoxfQ", "%21%21"] {
            let (code, body) = s.get(&format!("{path}?cursor={cursor}")).await;
            assert_eq!((code, &body["field"]), (422, &json!("cursor")), "{path}?cursor={cursor}: {body}");
        }
    }
    // A cursor of one list is not a cursor of another.
    s.ok("/v1/clusters", json!({"name": "A"}), 201).await;
    s.ok("/v1/clusters", json!({"name": "B"}), 201).await;
    let (_, page) = s.get("/v1/clusters?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (code, body) = s.get(&format!("/v1/manufacturers?cursor={cursor}")).await;
    assert_eq!((code, &body["field"]), (422, &json!("cursor")), "{body}");
    let (code, _) = s.get(&format!("/v1/clusters?cursor={cursor}")).await;
    assert_eq!(code, 200);
}

async fn registry_lists_and_reads(s: TestServer) {
    let north = s.ok("/v1/clusters", json!({"name": "North"}), 201).await;
    let south = s.ok("/v1/clusters", json!({"name": "South"}), 201).await;
    let lake = s.ok("/v1/areas", json!({"name": "Lake", "cluster_id": north["id"]}), 201).await;
    let coast = s.ok("/v1/areas", json!({"name": "Coast", "cluster_id": south["id"]}), 201).await;
    let kijiji = s.ok("/v1/villages", json!({"name": "Kijiji", "area_id": lake["id"]}), 201).await;
    let bagamoyo = s.ok("/v1/villages", json!({"name": "Bagamoyo", "area_id": coast["id"]}), 201).await;
    let maker = s
        .ok(
            "/v1/manufacturers",
            json!({"name": "SunCo", "device_kinds": ["solar_home_system"], "token_scheme": "openpaygo"}),
            201,
        )
        .await;
    let tariff = s.ok("/v1/tariffs", json!({"name": "Home", "currency": "TZS", "price_per_kwh": "500"}), 201).await;

    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&s.get("/v1/clusters").await.1), ["North", "South"], "by name");
    assert_eq!(names(&s.get("/v1/areas").await.1), ["Coast", "Lake"]);
    assert_eq!(names(&s.get(&format!("/v1/areas?cluster_id={}", north["id"].as_str().unwrap())).await.1), ["Lake"]);
    assert_eq!(names(&s.get("/v1/villages").await.1), ["Bagamoyo", "Kijiji"]);
    assert_eq!(names(&s.get(&format!("/v1/villages?area_id={}", lake["id"].as_str().unwrap())).await.1), ["Kijiji"]);
    let (_, makers) = s.get("/v1/manufacturers").await;
    assert_eq!(makers["items"], json!([maker]));
    let (code, tariffs) = s.get("/v1/tariffs").await;
    assert_eq!(code, 200, "GET /v1/tariffs is a list now: {tariffs}");
    assert_eq!(tariffs["items"], json!([tariff]), "listed as created, with its unit price");

    for (path, created) in
        [("clusters", &north), ("areas", &lake), ("villages", &kijiji), ("manufacturers", &maker), ("tariffs", &tariff)]
    {
        let id = created["id"].as_str().unwrap();
        let (code, mut got) = s.get(&format!("/v1/{path}/{id}")).await;
        if path == "tariffs" {
            // One tariff also lists its versions: here only its first prices.
            let versions = got.as_object_mut().unwrap().remove("versions").unwrap();
            assert_eq!(versions[0]["price_per_kwh"], created["price_per_kwh"], "{versions}");
            assert_eq!((versions.as_array().unwrap().len(), &versions[0]["effective_from"]), (1, &Value::Null));
        }
        assert_eq!((code, &got), (200, created), "GET /v1/{path}/{{id}}");
        let (code, missing) = s.get(&format!("/v1/{path}/no-such-id")).await;
        assert_eq!((code, &missing["code"]), (404, &json!("not_found")), "{path}: {missing}");
    }

    // Renames: names only, not empty, no other field.
    for (path, created) in [("clusters", &north), ("areas", &lake), ("villages", &bagamoyo), ("manufacturers", &maker)]
    {
        let id = created["id"].as_str().unwrap();
        let url = format!("{}/v1/{path}/{id}", s.base);
        let patch = |body: Value| s.client.patch(&url).bearer_auth(&s.key).json(&body).send();
        let answer = patch(json!({"name": "  Renamed  "})).await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let renamed: Value = answer.json().await.unwrap();
        assert_eq!(renamed["name"], "Renamed");
        assert_eq!(s.get(&format!("/v1/{path}/{id}")).await.1["name"], "Renamed");
        for bad in [json!({"name": ""}), json!({"name": "   "}), json!({"name": "x", "cluster_id": "y"}), json!({})] {
            let status = patch(bad.clone()).await.unwrap().status().as_u16();
            assert!((400..500).contains(&status), "{path} {bad}: {status}");
        }
        let missing =
            s.client.patch(format!("{}/v1/{path}/nope", s.base)).bearer_auth(&s.key).json(&json!({"name": "x"}));
        assert_eq!(missing.send().await.unwrap().status(), 404);
    }
}

async fn customers_are_created_edited_and_found(s: TestServer) {
    let r = registry(&s).await;
    let other_village = {
        let (_, villages) = s.get("/v1/villages").await;
        let area = villages["items"][0]["area_id"].as_str().unwrap().to_owned();
        s.ok("/v1/villages", json!({"name": "Second", "area_id": area}), 201).await["id"].as_str().unwrap().to_owned()
    };
    let created = s
        .ok(
            "/v1/customers",
            json!({"name": " Neema ", "surname": "Mollel", "phones": ["0712 000 111", "+255 754 000 222"],
                   "phone_region": "TZ", "village_id": r.village, "national_id": "NID-77"}),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Neema");
    assert_eq!(created["phones"], json!(["+255712000111", "+255754000222"]), "normalised by the core, primary first");
    let (_, got) = s.get(&format!("/v1/customers/{id}")).await;
    assert_eq!((&got["devices"], &got["national_id"]), (&json!([]), &json!("NID-77")), "a customer without a device");

    // Refusals: unknown fields, empty names, no phone, a bad phone, an unknown village, a phone taken.
    for (body, status) in [
        (json!({"name": "A", "surname": "B", "phones": ["+255712000333"], "village_id": r.village, "age": 3}), 400),
        (json!({"name": " ", "surname": "B", "phones": ["+255712000333"], "village_id": r.village}), 400),
        (json!({"name": "A", "surname": "B".repeat(201), "phones": ["+255712000333"], "village_id": r.village}), 400),
        (json!({"name": "A", "surname": "B", "phones": [], "village_id": r.village}), 400),
        (json!({"name": "A", "surname": "B", "phones": ["12"], "village_id": r.village}), 400),
        (json!({"name": "A", "surname": "B", "phones": ["+255712000333"], "village_id": "nowhere"}), 404),
        (json!({"name": "A", "surname": "B", "phones": ["+255712000111"], "village_id": r.village}), 409),
    ] {
        let (code, answer) = s.post("/v1/customers", body.clone()).await;
        assert_eq!(code, status, "{body}: {answer}");
    }

    // Found by name, surname, phone (as typed or stored), national id.
    for query in ["neema", "MOLLEL", "754000222", "0712000111&phone_region=TZ", "nid-77"] {
        let (code, found) = s.get(&format!("/v1/customers?query={query}")).await;
        assert_eq!(code, 200);
        let ids: Vec<&str> = found["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [id.as_str()], "query {query}");
    }

    // Edits: phones (one primary, the old ones freed), names, village, national id removed.
    let url = format!("{}/v1/customers/{id}", s.base);
    let patch = |body: Value| s.client.patch(&url).bearer_auth(&s.key).json(&body).send();
    let answer = patch(json!({"phones": ["+255754000222", "+255699000444"], "surname": "Mollel-Kimaro",
                              "village_id": other_village, "national_id": null}))
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    let edited: Value = answer.json().await.unwrap();
    assert_eq!(edited["phones"], json!(["+255754000222", "+255699000444"]));
    assert_eq!(
        (&edited["surname"], &edited["village_id"], &edited["national_id"]),
        (&json!("Mollel-Kimaro"), &json!(other_village), &Value::Null)
    );
    assert_eq!(edited["name"], "Neema", "fields not sent stay");
    assert_eq!(s.get(&format!("/v1/customers/{id}")).await.1["phones"], edited["phones"]);
    let (_, by_new) = s.get("/v1/customers?query=699000444").await;
    assert_eq!(by_new["items"].as_array().unwrap().len(), 1);
    let (_, by_old) = s.get("/v1/customers?query=712000111").await;
    assert!(by_old["items"].as_array().unwrap().is_empty(), "{by_old}");
    // The freed number can be someone else's now; a taken one cannot be added.
    s.ok(
        "/v1/customers",
        json!({"name": "Baraka", "surname": "S", "phone": "+255712000111", "village_id": r.village}),
        201,
    )
    .await;
    assert_eq!(patch(json!({"phones": ["+255712000111"]})).await.unwrap().status(), 409);
    for bad in [json!({"name": ""}), json!({"phones": []}), json!({"village_id": "nowhere"}), json!({"email": "x"})] {
        let status = patch(bad.clone()).await.unwrap().status().as_u16();
        assert!((400..500).contains(&status), "{bad}: {status}");
    }
    let missing =
        s.client.patch(format!("{}/v1/customers/nope", s.base)).bearer_auth(&s.key).json(&json!({"name": "x"}));
    assert_eq!(missing.send().await.unwrap().status(), 404);
    // A device can be registered for the customer made without one.
    let registered = s
        .ok(
            "/v1/registrations",
            json!({"customer": {"id": id}, "device": {"serial": "SHS-NEW", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                   "plan": {"appliance": "SHS", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                            "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
                   "registered_on": "2026-01-01"}),
            201,
        )
        .await;
    assert_eq!(registered["new_customer"], false);
}

async fn devices_show_their_owner(s: TestServer) {
    let r = registry(&s).await;
    let mut serials = Vec::new();
    for i in 0..7 {
        let serial = format!("SHS-OWN{i}");
        register_shs(&s, &r, &serial).await;
        serials.push(serial.replace('-', ""));
    }
    let (items, pages) = walk(&s, "/v1/devices?query=shs-own", 3).await;
    assert_eq!(pages, 3);
    let got: Vec<&str> = items.iter().map(|d| d["serial"].as_str().unwrap()).collect();
    assert_eq!(got, serials, "by serial, each once");
    for d in &items {
        let owner = &d["customer"];
        assert_eq!(owner["id"], d["customer_id"]);
        assert_eq!(owner["name"], "Amina");
        assert!(owner["surname"].as_str().unwrap().starts_with("Juma"), "{owner}");
        assert!(owner["phone"].as_str().unwrap().starts_with("+2557123"), "{owner}");
    }
}

async fn status_and_date_filters(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-F").await;
    s.ok("/v1/payments", payment("f1", "SHS-F", "100", "2026-01-02T08:00:00Z"), 201).await;
    // Unknown serials queue money; one is assigned.
    for (tx, serial) in [("u1", "NOPE-1"), ("u2", "NOPE-2")] {
        let mut body = payment(tx, serial, "700", "2026-01-02T08:00:00Z");
        body["money_moved"] = json!(true);
        s.ok("/v1/payments", body, 202).await;
    }
    let (_, open) = s.get("/v1/payments/unmatched?status=open").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 2);
    let first = open["items"][0]["id"].as_str().unwrap().to_owned();
    s.ok(&format!("/v1/payments/unmatched/{first}/assign"), json!({"serial": "SHS-F"}), 201).await;
    let (_, open) = s.get("/v1/payments/unmatched?status=open").await;
    let (_, assigned) = s.get("/v1/payments/unmatched?status=assigned").await;
    let (_, all) = s.get("/v1/payments/unmatched").await;
    assert_eq!([&open, &assigned, &all].map(|p| p["items"].as_array().unwrap().len()), [1, 1, 2], "{open} {assigned}");
    assert_eq!(assigned["items"][0]["id"], first.as_str());
    for path in ["/v1/payments/unmatched?status=done", "/v1/payments/conflicts?status=x", "/v1/notifications?status=x"]
    {
        let (code, body) = s.get(path).await;
        assert_eq!((code, &body["field"]), (422, &json!("status")), "{path}");
    }
    assert_eq!(s.get("/v1/payments/conflicts?status=open").await.0, 200);
    assert_eq!(s.get("/v1/notifications?status=pending").await.0, 200);

    // Dates bound the business day the server recorded the payment on (UTC here): today holds them all.
    let today = s.state.today().to_string();
    let tomorrow = s.state.today().succ_opt().unwrap().to_string();
    let yesterday = s.state.today().pred_opt().unwrap().to_string();
    let count = |page: &Value| page["items"].as_array().unwrap().len();
    let (_, on_today) = s.get(&format!("/v1/payments?from={today}&to={today}")).await;
    assert_eq!(count(&on_today), 2, "{on_today}");
    let (_, until_yesterday) = s.get(&format!("/v1/payments?to={yesterday}")).await;
    assert_eq!(count(&until_yesterday), 0);
    let (_, from_tomorrow) = s.get(&format!("/v1/payments?from={tomorrow}")).await;
    assert_eq!(count(&from_tomorrow), 0);
    let (_, with_serial) = s.get(&format!("/v1/payments?serial=shs-f&from={today}")).await;
    assert_eq!(count(&with_serial), 2);
    for path in [
        "/v1/payments?from=2026-13-01".to_owned(),
        "/v1/payments?to=yesterday".to_owned(),
        format!("/v1/payments?from={today}&to={yesterday}"),
    ] {
        let (code, body) = s.get(&path).await;
        assert_eq!(code, 422, "{path}: {body}");
    }
}

async fn api_keys_are_listed_and_revoked(s: TestServer) {
    let created = s.ok("/v1/api-keys", json!({"role": "operator", "label": "office"}), 201).await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let (code, _) = s.send(Method::GET, "/v1/clusters", None, Some(&key)).await;
    assert_eq!(code, 200);

    // The use is recorded off the request's path: wait for it.
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (code, keys) = s.get("/v1/api-keys").await;
        assert_eq!(code, 200);
        listed = keys["items"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).unwrap().clone();
        if listed["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (&listed["label"], &listed["role"], &listed["revoked_at"]),
        (&json!("office"), &json!("operator"), &Value::Null)
    );
    assert!(listed["created_at"].is_string() && listed["last_used_at"].is_string(), "{listed}");
    let text = s.get("/v1/api-keys").await.1.to_string();
    assert!(!text.contains(&key) && !text.contains("hash"), "never the key nor its hash: {text}");

    // Only an admin lists or revokes.
    let (code, _) = s.send(Method::GET, "/v1/api-keys", None, Some(&key)).await;
    assert_eq!(code, 403);
    let (code, _) = s.send(Method::DELETE, &format!("/v1/api-keys/{id}"), None, Some(&key)).await;
    assert_eq!(code, 403);

    let (code, revoked) = s.send(Method::DELETE, &format!("/v1/api-keys/{id}"), None, Some(&s.key)).await;
    assert_eq!(code, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (code, body) = s.send(Method::GET, "/v1/clusters", None, Some(&key)).await;
    assert_eq!((code, &body["code"]), (401, &json!("unauthorized")), "revoked at once");
    let (code, _) = s.send(Method::DELETE, "/v1/api-keys/nope", None, Some(&s.key)).await;
    assert_eq!(code, 404);

    // The last admin key stays: nobody could make another.
    let (_, keys) = s.get("/v1/api-keys").await;
    let admin = keys["items"].as_array().unwrap().iter().find(|k| k["role"] == "admin").unwrap()["id"].clone();
    let (code, body) =
        s.send(Method::DELETE, &format!("/v1/api-keys/{}", admin.as_str().unwrap()), None, Some(&s.key)).await;
    assert_eq!(code, 409, "{body}");
    // With a second admin it can go, and the server answers the old key with 401.
    let second = s.ok("/v1/api-keys", json!({"role": "admin", "label": "second"}), 201).await;
    let (code, _) =
        s.send(Method::DELETE, &format!("/v1/api-keys/{}", admin.as_str().unwrap()), None, Some(&s.key)).await;
    assert_eq!(code, 200);
    let (code, _) = s.send(Method::GET, "/v1/api-keys", None, Some(&s.key)).await;
    assert_eq!(code, 401);
    let (code, keys) = s.send(Method::GET, "/v1/api-keys", None, Some(second["key"].as_str().unwrap())).await;
    assert_eq!((code, keys["items"].as_array().unwrap().len()), (200, 3));
}

fn utc_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from(std::time::SystemTime::now())
}

async fn api_keys_expire(s: TestServer) {
    let at = |seconds: i64| {
        (utc_now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (code, body) = s.post("/v1/api-keys", json!({"role": "operator", "expires_at": at(-1)})).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("expires_at")), "{body}");
    let (code, body) = s.post("/v1/api-keys", json!({"role": "operator", "expires_at": "next week"})).await;
    assert_eq!(code, 400, "{body}");

    // A key that works until its expiry, also while the server remembers it, then answers 401.
    let expires_at = at(2);
    let created = s.ok("/v1/api-keys", json!({"role": "operator", "expires_at": expires_at}), 201).await;
    assert_eq!(created["expires_at"], json!(expires_at));
    let key = created["key"].as_str().unwrap().to_owned();
    let (code, _) = s.send(Method::GET, "/v1/clusters", None, Some(&key)).await;
    assert_eq!(code, 200);
    let (_, keys) = s.get("/v1/api-keys").await;
    let listed = keys["items"].as_array().unwrap().iter().find(|k| k["id"] == created["id"]).unwrap().clone();
    assert_eq!(listed["expires_at"], json!(expires_at));
    let until = chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap();
    let wait = (until.with_timezone(&chrono::Utc) - utc_now()).num_milliseconds() + 100;
    tokio::time::sleep(std::time::Duration::from_millis(wait.max(0).unsigned_abs())).await;
    let (code, body) = s.send(Method::GET, "/v1/clusters", None, Some(&key)).await;
    assert_eq!((code, &body["code"]), (401, &json!("unauthorized")), "expired");

    // An admin key that will expire does not keep the server administrable: the one that never expires
    // stays the last admin key.
    s.ok("/v1/api-keys", json!({"role": "admin", "expires_at": at(3600)}), 201).await;
    let (_, keys) = s.get("/v1/api-keys").await;
    let lasting =
        keys["items"].as_array().unwrap().iter().find(|k| k["role"] == "admin" && k["expires_at"].is_null()).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let (code, body) = s.send(Method::DELETE, &format!("/v1/api-keys/{lasting}"), None, Some(&s.key)).await;
    assert_eq!(code, 409, "{body}");
}
