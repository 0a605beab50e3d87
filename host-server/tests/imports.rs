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
    workbooks_with_date_cells_and_excel_day_numbers,
    migrated_plans_open_with_what_was_paid,
    a_serial_registered_one_at_a_time_with_the_same_data_is_unchanged,
    progress_is_readable_under_the_clients_id,
    concurrent_imports_create_a_missing_village_once,
    a_village_created_by_a_refused_row_is_created_again,
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
    upload(s, csv.as_bytes().to_vec(), "text/csv", query).await
}

async fn upload(s: &TestServer, body: Vec<u8>, content_type: &str, query: &str) -> (u16, Value) {
    let response = s
        .client
        .post(format!("{}/v1/imports/registrations{query}", s.base))
        .bearer_auth(&s.key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

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

/// An Excel workbook of [`HEADER`] with rows 1 and 2 of [`row`], its days as date cells and its amounts and
/// codes as number cells, as Excel saves a sheet typed by hand.
fn workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("d/m/yyyy");
    for (column, header) in HEADER.split(',').enumerate() {
        sheet.write_string(0, column as u16, header).unwrap();
    }
    for n in 1..=2u32 {
        let line = row(n as usize, &phone(n as usize), "SunCo");
        for (column, (header, cell)) in HEADER.split(',').zip(line.split(',')).enumerate() {
            let column = column as u16;
            match header {
                "registered_on" | "start_date" => {
                    let day = rust_xlsxwriter::ExcelDateTime::parse_from_str(cell).unwrap();
                    sheet.write_datetime_with_format(n, column, &day, &date).unwrap();
                }
                "openpaygo_starting_code" | "total_cost" | "down_payment" | "installments" => {
                    sheet.write_number(n, column, cell.parse::<f64>().unwrap()).unwrap();
                }
                _ => {
                    sheet.write_string(n, column, cell).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

async fn workbooks_with_date_cells_and_excel_day_numbers(s: TestServer) {
    registry(&s).await;
    let (status, answer) = upload(&s, workbook(), XLSX, "?dry_run=true").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"],
        json!([{"row": 2, "status": "ok", "errors": []}, {"row": 3, "status": "ok", "errors": []}])
    );
    let (status, answer) = upload(&s, workbook(), XLSX, "").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["created"], 2);
    let (_, device) = s.get("/v1/devices/IMP-002").await;
    assert_eq!(device["registered_on"], "2026-01-01", "{device}");
    let (_, plan) = s.get(&format!("/v1/plans/{}", device["plan_id"].as_str().unwrap())).await;
    assert_eq!(plan["installments"][0]["due_date"], "2026-01-08", "weekly from 2026-01-01: {plan}");
    assert_eq!(plan["total_cost"], "2100", "{plan}");

    // The same workbook again, as a browser's form sends it: nothing new.
    let boundary = "----micropowerXlsx";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"customers.xlsx\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    form.extend(workbook());
    form.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let (status, answer) = upload(&s, form, &format!("multipart/form-data; boundary={boundary}"), "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["unchanged"], 2, "{answer}");

    // A CSV whose day cells lost their format on the way: Excel's day numbers (46023 is 2026-01-01).
    let csv = format!("{HEADER}\n{}\n", row(3, &phone(3), "SunCo").replace("2026-01-01", "46023"));
    let (status, answer) = import(&s, &csv, "").await;
    assert_eq!(status, 201, "{answer}");
    let (_, device) = s.get("/v1/devices/IMP-003").await;
    assert_eq!(device["registered_on"], "2026-01-01", "{device}");

    let (status, answer) = upload(&s, b"PK\x03\x04 not a workbook".to_vec(), XLSX, "").await;
    assert_eq!(status, 422, "{answer}");
    let (_, doc) = s.get("/v1/openapi.json").await;
    assert!(doc["paths"]["/v1/imports/registrations"]["post"]["requestBody"]["content"][XLSX].is_object());
}

/// [`HEADER`] with the opening balance columns.
fn migrated(n: usize, paid_to_date: &str, opening_credit: &str) -> String {
    format!("{HEADER},paid_to_date,opening_credit\n{},{paid_to_date},{opening_credit}\n", row(n, &phone(n), "SunCo"))
}

async fn migrated_plans_open_with_what_was_paid(s: TestServer) {
    registry(&s).await;
    let (status, answer) = import(&s, &migrated(1, "2200", ""), "?dry_run=true").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        not_ok(&answer),
        [(2, "error".to_owned(), vec![("paid_to_date".to_owned(), "invalid_input".to_owned())])]
    );
    s.ok("/v1/tariffs", json!({"name": "Flat Rate", "currency": "TZS", "price_per_kwh": "500"}), 201).await;
    let meter =
        "Neema,Mwita,+255768009999,North / Lake grid / Kijiji,MTR-1,meter,MeterCo,,,2026-01-01,,,,,,,,Flat Rate,100,";
    let (status, answer) = import(&s, &format!("{HEADER},tariff,paid_to_date,opening_credit\n{meter}\n"), "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(not_ok(&answer)[0].2, [("paid_to_date".to_owned(), "invalid_input".to_owned())]);

    // 800 paid before micropower on a 3 × 700 plan, and 150 of credit.
    let file = migrated(1, "800", "150");
    let (status, answer) = import(&s, &file, "").await;
    assert_eq!(status, 201, "{answer}");
    let (_, device) = s.get("/v1/devices/IMP-001").await;
    let (_, plan) = s.get(&format!("/v1/plans/{}", device["plan_id"].as_str().unwrap())).await;
    let paid: Vec<&str> =
        plan["installments"].as_array().unwrap().iter().map(|i| i["paid"].as_str().unwrap()).collect();
    assert_eq!(paid, ["700", "100", "0"], "{plan}");
    let (_, customer) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(customer["credit_balance"], json!({"TZS": "150"}), "{customer}");

    // Not revenue of any day: no payment was made.
    let (_, payments) = s.get("/v1/payments").await;
    assert_eq!(payments["items"], json!([]), "{payments}");
    let (status, revenue) = s.get("/v1/reports/revenue?currency=TZS").await;
    assert_eq!(status, 200, "{revenue}");
    assert_eq!(revenue["total"], "0", "{revenue}");
    let (_, audit) = s.get("/v1/audit?action=opening_balance.recorded").await;
    let kinds: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["after"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{audit}");
    assert!(kinds.contains(&"plan_paid") && kinds.contains(&"credit"), "{audit}");

    // The statement opens with what was paid and held before micropower.
    let (status, statement) =
        s.get(&format!("/v1/customers/{}/statement", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{statement}");
    let kinds: Vec<&str> = statement["lines"].as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..3], ["plan_sold", "opening_paid", "opening_credit"], "{statement}");
    assert_eq!(statement["closing"], json!({"owed": "1300", "access_rate": "0", "credit": "150"}), "{statement}");

    // Uploaded again: unchanged, nothing applied twice.
    let (status, answer) = import(&s, &file, "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["unchanged"], 1);
    let (_, customer) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(customer["credit_balance"], json!({"TZS": "150"}), "{customer}");
}

/// Row 2 creates its village, then is refused after its registration (it paid more than its plan costs), so
/// its savepoint takes the village away again: row 3, in the same village, must create it anew, not find
/// what the import read during row 2.
async fn a_village_created_by_a_refused_row_is_created_again(s: TestServer) {
    registry(&s).await;
    let mlima = |line: String| line.replace("North / Lake grid / Kijiji", "South / Hill grid / Mlima");
    let csv = format!(
        "{HEADER},paid_to_date\n{},9999\n{},\n",
        mlima(row(1, &phone(1), "SunCo")),
        mlima(row(2, &phone(2), "SunCo")),
    );
    let (status, answer) = import(&s, &csv, "?create_missing=true&mode=valid_rows").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        not_ok(&answer),
        [(2, "error".to_owned(), vec![("paid_to_date".to_owned(), "invalid_input".to_owned())])]
    );
    let (_, villages) = s.get("/v1/villages").await;
    let mlima: Vec<&Value> = villages["items"].as_array().unwrap().iter().filter(|v| v["name"] == "Mlima").collect();
    assert_eq!(mlima.len(), 1, "{villages}");
    let (_, device) = s.get("/v1/devices/IMP-002").await;
    let (_, customer) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(customer["village_id"], mlima[0]["id"], "{customer}");
    let (status, _) = s.get("/v1/devices/IMP-001").await;
    assert_eq!(status, 404);
}

async fn a_serial_registered_one_at_a_time_with_the_same_data_is_unchanged(s: TestServer) {
    let r = registry(&s).await;
    let customer = json!({"name": "Amina", "surname": "Juma1", "phone": phone(1), "village_id": r.village});
    register_shs_for(&s, &r, "IMP-001", customer).await;
    let csv = format!("{HEADER}\n{}\n", row(1, &phone(1), "SunCo"));
    let (status, answer) = import(&s, &csv, "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], json!([{"row": 2, "status": "unchanged", "errors": []}]));
    // Another surname for the same serial is other data.
    let csv = format!("{HEADER}\n{}\n", row(1, &phone(1), "SunCo").replace("Juma1", "Juma9"));
    let (status, answer) = import(&s, &csv, "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(not_ok(&answer)[0].2, [("serial".to_owned(), "serial_taken_with_other_data".to_owned())]);
}

async fn progress_is_readable_under_the_clients_id(s: TestServer) {
    registry(&s).await;
    let (status, _) = s.get("/v1/imports/registrations/progress/import-0001").await;
    assert_eq!(status, 404);
    let (status, answer) = import(&s, &file(3, &[]), "?progress=import-0001").await;
    assert_eq!(status, 201, "{answer}");
    let (status, progress) = s.get("/v1/imports/registrations/progress/import-0001").await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress, json!({"rows_total": 3, "rows_done": 3, "finished": true}));
    let (status, answer) = import(&s, &file(3, &[]), "?progress=a%20b").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "progress", "{answer}");
}

async fn concurrent_imports_create_a_missing_village_once(s: TestServer) {
    registry(&s).await;
    let place = |csv: String| csv.replace("North / Lake grid / Kijiji", "South / Hill grid / Mlima");
    let first = place(format!("{HEADER}\n{}\n{}\n", row(1, &phone(1), "SunCo"), row(2, &phone(2), "SunCo")));
    let second = place(format!("{HEADER}\n{}\n{}\n", row(3, &phone(3), "SunCo"), row(4, &phone(4), "SunCo")));
    let (a, b) = tokio::join!(import(&s, &first, "?create_missing=true"), import(&s, &second, "?create_missing=true"));
    assert_eq!((a.0, b.0), (201, 201), "{} {}", a.1, b.1);
    let (_, villages) = s.get("/v1/villages").await;
    let names: Vec<&str> = villages["items"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Kijiji", "Mlima"], "{villages}");
    let (_, clusters) = s.get("/v1/clusters").await;
    assert_eq!(clusters["items"].as_array().unwrap().len(), 2, "{clusters}");
}
