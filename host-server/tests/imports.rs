//! `POST /v1/imports/registrations` on SQLite and PostgreSQL: a spreadsheet of registrations checked row by
//! row by the registration path (dry run), imported all or nothing or row by row, re-uploaded without
//! effect, read whatever its headers' order, case, BOM and separator; and its template.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use serde_json::{json, Value};

on_both_databases!(
    fifty_rows_checked_imported_and_reuploaded,
    valid_rows_takes_the_good_rows,
    headers_in_any_order_case_bom_and_semicolons,
    missing_villages_created_on_request,
    a_serial_registered_with_other_data_is_refused,
    the_template_imports,
    a_form_upload_for_operators_only,
);

const HEADER: &str = "name,surname,phone,village,serial,device_kind,manufacturer,openpaygo_key,\
                      openpaygo_starting_code,registered_on,appliance,currency,total_cost,down_payment,installments,\
                      period,start_date";

/// One row of [`HEADER`]: an OpenPAYGO SHS of SunCo in Kijiji on a weekly 3 × 700 TZS plan.
fn row(n: usize, phone: &str, manufacturer: &str) -> String {
    format!(
        "Amina,Juma{n},{phone},North / Lake grid / Kijiji,IMP-{n:03},solar_home_system,{manufacturer},{KEY},\
         123456789,2026-01-01,SHS 80W,TZS,2100,0,3,weekly,2026-01-01"
    )
}

fn phone(n: usize) -> String {
    format!("+25576800{n:04}")
}

/// A file of `count` rows; `bad` maps a row's index (from 0) to its (phone, manufacturer).
fn file(count: usize, bad: &[(usize, &str, &str)]) -> String {
    let mut text = format!("{HEADER}\n");
    for n in 0..count {
        let line = match bad.iter().find(|(i, _, _)| *i == n) {
            Some((_, phone, maker)) => row(n, phone, maker),
            None => row(n, &phone(n), "SunCo"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

async fn import(s: &TestServer, csv: &str, query: &str) -> (u16, Value) {
    let response = s
        .client
        .post(format!("{}/v1/imports/registrations{query}", s.base))
        .bearer_auth(&s.key)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn device_count(s: &TestServer) -> usize {
    let (status, page) = s.get("/v1/devices?limit=500").await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

/// A row that is not `ok`: `(row, status, [(column, code)])`.
type NotOk = (u64, String, Vec<(String, String)>);

/// Every row of an answer that is not `ok`.
fn not_ok(answer: &Value) -> Vec<NotOk> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "ok")
        .map(|r| {
            let errors = r["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["column"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                .collect();
            (r["row"].as_u64().unwrap(), r["status"].as_str().unwrap().to_owned(), errors)
        })
        .collect()
}

async fn fifty_rows_checked_imported_and_reuploaded(s: TestServer) {
    registry(&s).await;
    // Rows 13 and 31 of the spreadsheet (the header is row 1).
    let broken = file(50, &[(11, "12ab", "SunCo"), (29, &phone(29), "NoSuchCo")]);
    let (status, answer) = import(&s, &broken, "?dry_run=true").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"].as_array().unwrap().len(), 50);
    assert_eq!((&answer["errors"], &answer["ok"], &answer["created"]), (&json!(2), &json!(48), &json!(0)));
    let refused = not_ok(&answer);
    assert_eq!(refused.len(), 2, "{answer}");
    assert_eq!((refused[0].0, refused[0].1.as_str()), (13, "error"));
    assert_eq!(refused[0].2[0].0, "phone", "{answer}");
    assert_eq!(refused[1], (31, "error".to_owned(), vec![("manufacturer".to_owned(), "not_found".to_owned())]));
    assert_eq!(device_count(&s).await, 0, "a dry run writes nothing");

    // All or nothing: the two bad rows keep the 48 good ones out.
    let (status, answer) = import(&s, &broken, "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!((&answer["errors"], &answer["created"]), (&json!(2), &json!(0)));
    assert_eq!(not_ok(&answer).iter().map(|r| r.0).collect::<Vec<_>>(), [13, 31]);
    assert_eq!(device_count(&s).await, 0);

    let fixed = file(50, &[]);
    let (status, answer) = import(&s, &fixed, "").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!((&answer["created"], &answer["unchanged"], &answer["errors"]), (&json!(50), &json!(0), &json!(0)));
    assert_eq!(device_count(&s).await, 50);
    let (_, device) = s.get("/v1/devices/IMP-007").await;
    assert_eq!(device["token_count"], 0, "{device}");
    let (_, customer) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(customer["surname"], "Juma7", "{customer}");

    let (status, answer) = import(&s, &fixed, "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((&answer["created"], &answer["unchanged"], &answer["errors"]), (&json!(0), &json!(50), &json!(0)));
    assert!(answer["rows"].as_array().unwrap().iter().all(|r| r["status"] == "unchanged"));
    assert_eq!(device_count(&s).await, 50);
}

async fn valid_rows_takes_the_good_rows(s: TestServer) {
    registry(&s).await;
    let csv = file(3, &[(1, &phone(1), "NoSuchCo")]);
    let (status, answer) = import(&s, &csv, "?mode=valid_rows").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!((&answer["created"], &answer["errors"]), (&json!(2), &json!(1)));
    assert_eq!(not_ok(&answer), [(3, "error".to_owned(), vec![("manufacturer".to_owned(), "not_found".to_owned())])]);
    assert_eq!(device_count(&s).await, 2);
    let (status, _) = s.get("/v1/devices/IMP-001").await;
    assert_eq!(status, 404);
}

async fn headers_in_any_order_case_bom_and_semicolons(s: TestServer) {
    registry(&s).await;
    s.ok("/v1/tariffs", json!({"name": "Flat Rate", "currency": "TZS", "price_per_kwh": "500"}), 201).await;
    let csv = "\u{feff}Serial ; MANUFACTURER;Device Kind;Tariff;Village;Phone;Surname;Name;Registered On\n\
               mtr-77;meterco;meter;flat rate;north / lake grid / kijiji;+255768009999;Mwita;Neema;2026-02-01\n";
    let (status, answer) = import(&s, csv, "").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["rows"], json!([{"row": 2, "status": "ok", "errors": []}]));
    let (status, device) = s.get("/v1/devices/MTR-77").await;
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["registered_on"], "2026-02-01", "{device}");

    let (status, answer) = import(&s, "serial,surname,colour\nX,Y,Z\n", "").await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("colour"), "{answer}");
}

async fn missing_villages_created_on_request(s: TestServer) {
    registry(&s).await;
    let csv = format!(
        "{HEADER}\n{}\n{}\n",
        row(1, &phone(1), "SunCo").replace("North / Lake grid / Kijiji", "South / Hill grid / Mlima"),
        row(2, &phone(2), "SunCo").replace("North / Lake grid / Kijiji", "South / Hill grid / Mlima"),
    );
    let (status, answer) = import(&s, &csv, "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(not_ok(&answer)[0].2, [("village".to_owned(), "not_found".to_owned())]);

    let (status, answer) = import(&s, &csv, "?create_missing=true").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["created"], 2);
    let (_, villages) = s.get("/v1/villages").await;
    let names: Vec<&str> = villages["items"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Kijiji", "Mlima"], "both rows live in the one village created");
    let (_, clusters) = s.get("/v1/clusters").await;
    assert_eq!(clusters["items"].as_array().unwrap().len(), 2);
}

async fn a_serial_registered_with_other_data_is_refused(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "IMP-001").await;
    let csv = format!("{HEADER}\n{}\n", row(1, &phone(1), "SunCo"));
    let (status, answer) = import(&s, &csv, "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(not_ok(&answer)[0].2, [("serial".to_owned(), "serial_taken_with_other_data".to_owned())]);

    // Imported once, then the same serial with another phone: refused, never overwritten.
    let csv = format!("{HEADER}\n{}\n", row(2, &phone(2), "SunCo"));
    assert_eq!(import(&s, &csv, "").await.0, 201);
    let changed = format!("{HEADER}\n{}\n", row(2, &phone(3), "SunCo"));
    let (status, answer) = import(&s, &changed, "?mode=valid_rows").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(not_ok(&answer)[0].2, [("serial".to_owned(), "serial_taken_with_other_data".to_owned())]);
    let (_, device) = s.get("/v1/devices/IMP-002").await;
    let (_, customer) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(customer["phones"], json!([phone(2)]), "{customer}");
}

async fn the_template_imports(s: TestServer) {
    let response = s
        .client
        .get(format!("{}/v1/imports/registrations/template.csv", s.base))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let template = response.text().await.unwrap();
    assert_eq!(template.lines().count(), 2, "{template}");
    assert!(template.starts_with("name,surname,phone,"), "{template}");
    s.ok(
        "/v1/manufacturers",
        json!({"name": "SunKing", "device_kinds": ["solar_home_system"], "token_scheme": "openpaygo"}),
        201,
    )
    .await;
    let (status, answer) = import(&s, &template, "?dry_run=true&create_missing=true").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], json!([{"row": 2, "status": "ok", "errors": []}]));
    assert_eq!(device_count(&s).await, 0);
    let (_, clusters) = s.get("/v1/clusters").await;
    assert_eq!(clusters["items"], json!([]), "a dry run creates no village either");
}

async fn a_form_upload_for_operators_only(s: TestServer) {
    registry(&s).await;
    let boundary = "----micropowerImportBoundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"customers.csv\"\r\n\
         Content-Type: application/vnd.ms-excel\r\n\r\n{}\r\n--{boundary}--\r\n",
        file(2, &[])
    );
    let send = |key: String, body: String| {
        s.client
            .post(format!("{}/v1/imports/registrations", s.base))
            .bearer_auth(key)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
    };
    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer"}), 201).await;
    let response = send(viewer["key"].as_str().unwrap().to_owned(), form.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(device_count(&s).await, 0);

    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let response = send(operator["key"].as_str().unwrap().to_owned(), form).await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["created"], 2, "{answer}");

    let (_, doc) = s.get("/v1/openapi.json").await;
    let post = &doc["paths"]["/v1/imports/registrations"]["post"];
    assert!(post["requestBody"]["content"]["multipart/form-data"].is_object(), "{post}");
    let template = &doc["paths"]["/v1/imports/registrations/template.csv"]["get"];
    assert!(template["responses"]["200"]["content"]["text/csv"].is_object(), "{template}");
}
