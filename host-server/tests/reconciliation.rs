//! Statement reconciliation (issue 17 §2) on SQLite and PostgreSQL: an M-Pesa portal export or a generic CSV,
//! as a `text/csv` body or a multipart form's `file`, set against what the server credited; applying it
//! credits each missing line once through the provider's payment path, whatever repeats or races it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use std::sync::Arc;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    five_lines_three_recorded_apply_once,
    mpesa_portal_export,
    generic_csv_as_a_multipart_upload,
    bad_files_and_requests_are_refused,
    concurrent_applies_credit_once,
);

const SHORTCODE: &str = "600123";

/// Uploads a statement; answers status and JSON.
async fn upload(s: &TestServer, provider: &str, content_type: &str, body: Vec<u8>, key: &str) -> (u16, Value) {
    let response = s
        .client
        .post(format!("{}/v1/reconciliations?provider={provider}", s.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn upload_csv(s: &TestServer, provider: &str, file: &str) -> (u16, Value) {
    upload(s, provider, "text/csv", file.as_bytes().to_vec(), &s.key).await
}

/// A browser form's body with the file in the field `file`.
fn multipart(file: &str) -> (String, Vec<u8>) {
    let boundary = "----micropower7MA4YWxkTrZu0gW";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nJanuary\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"statement.csv\"\r\n\
         Content-Type: application/vnd.ms-excel\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

/// A Daraja provider in TZS (the test plans' currency); answers its confirmation hook path.
async fn mpesa(s: &TestServer) -> String {
    let provider = s
        .ok(
            "/v1/providers",
            json!({"kind": "daraja_c2b", "shortcode": SHORTCODE, "currency": "TZS", "name": "mpesa"}),
            201,
        )
        .await;
    provider["hook_paths"]["confirmation"].as_str().unwrap().to_owned()
}

/// Safaricom's confirmation of a paybill payment on 15 January 2026.
async fn confirm(s: &TestServer, path: &str, trans_id: &str, serial: &str, amount: &str) {
    let body = json!({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260115101500", "TransAmount": amount,
        "BusinessShortCode": SHORTCODE, "BillRefNumber": serial, "InvoiceNumber": "", "OrgAccountBalance": "",
        "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "JOHN", "MiddleName": "", "LastName": ""
    });
    let response = s
        .client
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["ResultCode"], 0, "{answer}");
}

/// The portal export's description block and header row, then `rows`.
fn portal_export(rows: &[&str]) -> String {
    let mut file = String::from(
        "\u{feff}Account Holder:,600123 - SUNCO SOLAR\nShort Code:,600123\nAccount:,Utility Account\n\
         Time Period:,From 01-01-2026 00:00:00 To 31-01-2026 23:59:59\n\n\
         Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,\
         Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n",
    );
    for row in rows {
        file.push_str(row);
        file.push('\n');
    }
    file
}

/// A completed paybill line of the portal export.
fn paid_in(receipt: &str, time: &str, amount: &str, account: &str) -> String {
    format!("{receipt},{time},{time},Pay Bill from 2547****126 - JOHN DOE Acc. {account},Completed,\"{amount}\",,10000.00,true,Pay Bill,2547****126 - JOHN DOE,,{account}")
}

async fn payments_of(s: &TestServer, serial: &str) -> Vec<Value> {
    let (code, list) = s.get(&format!("/v1/payments?serial={serial}")).await;
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// How many tokens a device has been given.
async fn token_count(s: &TestServer, serial: &str) -> usize {
    let (code, tokens) = s.get(&format!("/v1/devices/{serial}/tokens")).await;
    assert_eq!(code, 200, "{tokens}");
    tokens["items"].as_array().unwrap().len()
}

async fn apply(s: &TestServer, id: &str) -> Value {
    let (code, answer) = s.send(Method::POST, &format!("/v1/reconciliations/{id}/apply"), None, Some(&s.key)).await;
    assert_eq!(code, 200, "{answer}");
    answer
}

/// Status of each line, by the file's line number.
fn statuses(answer: &Value) -> Vec<(u64, String)> {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// Issue 17's "done when": 5 lines, 3 recorded by the server (one with another amount): 2 missing, 1 mismatch;
/// applied once, and neither a second apply nor a late callback credits anything more.
async fn five_lines_three_recorded_apply_once(s: TestServer) {
    let r = registry(&s).await;
    for serial in ["SHS-1", "SHS-2", "SHS-3", "SHS-4"] {
        register_shs(&s, &r, serial).await;
    }
    let hook = mpesa(&s).await;
    confirm(&s, &hook, "RA10000001", "SHS-1", "700.00").await;
    confirm(&s, &hook, "RA10000002", "SHS-2", "700.00").await;
    confirm(&s, &hook, "RA10000003", "SHS-3", "500.00").await;
    // Recorded in the period but absent from the statement.
    confirm(&s, &hook, "RA10000009", "SHS-2", "100.00").await;
    let file = portal_export(&[
        &paid_in("RA10000001", "2026-01-15 10:15:00", "700.00", "SHS-1"),
        &paid_in("RA10000002", "2026-01-15 10:15:00", "700.00", "shs-2"),
        &paid_in("RA10000003", "2026-01-15 10:15:00", "700.00", "SHS-3"),
        &paid_in("RA10000004", "2026-01-16 08:00:00", "700.00", "SHS-1"),
        &paid_in("RA10000005", "2026-01-16 09:30:00", "1,400.00", "SHS-4"),
    ]);
    let before = (token_count(&s, "SHS-1").await, token_count(&s, "SHS-4").await);
    let (code, reconciled) = upload_csv(&s, "mpesa", &file).await;
    assert_eq!(code, 201, "{reconciled}");
    let lines: Vec<(u64, String)> =
        [(7, "recorded"), (8, "recorded"), (9, "mismatch"), (10, "missing"), (11, "missing")]
            .into_iter()
            .map(|(n, status)| (n, status.to_owned()))
            .collect();
    assert_eq!(statuses(&reconciled), lines);
    assert_eq!(reconciled["format"], "mpesa_portal");
    assert_eq!((reconciled["missing_count"].as_u64(), reconciled["mismatch_count"].as_u64()), (Some(2), Some(1)));
    assert_eq!(reconciled["lines"][2]["server_amount"], "500");
    assert_eq!(reconciled["lines"][4]["amount"], "1400");
    assert_eq!(
        (reconciled["period_from"].as_str(), reconciled["period_to"].as_str()),
        (Some("2026-01-15"), Some("2026-01-16"))
    );
    let not_listed: Vec<&str> = reconciled["not_on_statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_tx_id"].as_str().unwrap())
        .collect();
    assert_eq!(not_listed, ["RA10000009"]);
    use sha2::Digest;
    assert_eq!(reconciled["file_sha256"], hex::encode(sha2::Sha256::digest(file.as_bytes())));
    let id = reconciled["id"].as_str().unwrap().to_owned();

    let applied = apply(&s, &id).await;
    assert_eq!(applied["credited"], 2, "{applied}");
    let outcomes: Vec<(&str, &str, bool)> = applied["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["provider_tx_id"].as_str().unwrap(), l["outcome"].as_str().unwrap(), l["applied_now"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        outcomes,
        [("RA10000003", "conflict", true), ("RA10000004", "credited", true), ("RA10000005", "credited", true)]
    );
    assert_eq!(applied["lines"][1]["tokens"].as_array().unwrap().len(), 1, "a token, as a callback makes: {applied}");
    assert_eq!((token_count(&s, "SHS-1").await, token_count(&s, "SHS-4").await), (before.0 + 1, before.1 + 1));
    assert_eq!(payments_of(&s, "SHS-4").await.len(), 1);
    assert_eq!(payments_of(&s, "SHS-4").await[0]["amount"], "1400");
    // The mismatch is a conflict for an operator; nothing of it was credited.
    let conflicts = s.get("/v1/payments/conflicts").await.1;
    let reasons: Vec<(&str, &str)> = conflicts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["provider_tx_id"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons, [("RA10000003", "statement_mismatch")]);
    assert_eq!(payments_of(&s, "SHS-3").await.len(), 1);
    // The customer's SMS is queued as for a callback.
    let sms: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE kind = 'payment'")
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap();
    assert_eq!(sms.0, 6, "four callbacks and two applied lines");

    // Again: nothing more.
    let again = apply(&s, &id).await;
    assert_eq!(again["credited"], 0, "{again}");
    assert!(again["lines"].as_array().unwrap().iter().all(|l| l["applied_now"] == false));
    assert_eq!(again["lines"][1]["outcome"], "credited");
    // The callback that was lost arrives late: acknowledged, credited nothing more.
    confirm(&s, &hook, "RA10000004", "SHS-1", "700.00").await;
    assert_eq!(payments_of(&s, "SHS-1").await.len(), 2);
    assert_eq!((token_count(&s, "SHS-1").await, token_count(&s, "SHS-4").await), (before.0 + 1, before.1 + 1));

    // Kept: the reconciliation, its file's hash, what was applied, and one audit entry for the apply.
    let (_, listed) = s.get("/v1/reconciliations?limit=10").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["next_cursor"].is_null());
    assert!(listed["items"][0]["applied_at"].is_string());
    let (_, kept) = s.get(&format!("/v1/reconciliations/{id}")).await;
    assert_eq!(kept["lines"][3]["outcome"], "credited");
    assert!(kept["lines"][3]["outcome_payment_id"].is_string());
    assert_eq!(kept["lines"][2]["outcome"], "conflict");
    assert_eq!(kept["not_on_statement"].as_array().unwrap().len(), 1);
    let (_, audit) = s.get("/v1/audit?action=reconciliation.applied").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["entity"]["id"], id.as_str());
    assert_eq!(audit["items"][0]["after"]["lines"].as_array().unwrap().len(), 3, "{audit}");
}

/// The portal export with its description lines, a failed payment and a withdrawal, `;`-separated.
async fn mpesa_portal_export(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-M1").await;
    mpesa(&s).await;
    let file = "\u{feff}Account Holder:;600123 - SUNCO SOLAR\nTime Period:;From 01-01-2026 To 31-01-2026\n\
        Operator:;Statement export\n\n\
        a/c no.;RECEIPT NO.;completion time;Transaction Status;Paid In;Withdrawn;Details;Other Party Info\n\
        SHS-M1;RB1;15-01-2026 10:15:00;Completed;700,00;;Pay Bill;2547****1 - A\n\
        SHS-M1;RB2;15-01-2026 11:00:00;Failed;700,00;;Pay Bill;2547****1 - A\n\
        ;RB3;16-01-2026 12:00:00;Completed;;-2500,00;Business Payment to Bank;BANK\n\
        ;RB4;16-01-2026 12:01:00;Completed;;25,00;Charge;\n";
    let (code, answer) = upload_csv(&s, "mpesa", file).await;
    assert_eq!(code, 201, "{answer}");
    let expected: Vec<(u64, String)> = [(6, "missing"), (7, "not_completed"), (8, "not_paid_in"), (9, "not_paid_in")]
        .into_iter()
        .map(|(n, st)| (n, st.to_owned()))
        .collect();
    assert_eq!(statuses(&answer), expected);
    assert_eq!(answer["lines"][0]["amount"], "700");
    assert_eq!(answer["lines"][0]["occurred_at"], "2026-01-15T10:15:00+03:00");
    assert_eq!(answer["lines"][0]["payer"], "2547****1 - A");
    let applied = apply(&s, answer["id"].as_str().unwrap()).await;
    assert_eq!(applied["credited"], 1);
    assert_eq!(applied["lines"].as_array().unwrap().len(), 1, "skipped lines are not applied");
    let paid = payments_of(&s, "SHS-M1").await;
    assert_eq!(paid.len(), 1);
}

/// A generic export (any column order, `;`, a phone), sent as a browser's form; an unknown account goes to
/// the unmatched queue as a callback's would. Bulk tokens take their CSV as a form too.
async fn generic_csv_as_a_multipart_upload(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-G1").await;
    // Recorded before the provider was configured (once it is, its payments arrive through its hooks only).
    let mut recorded = payment("AM-1", "SHS-G1", "700", "2026-02-01T09:00:00Z");
    recorded["provider"] = json!("airtel");
    s.ok("/v1/payments", recorded, 201).await;
    s.ok(
        "/v1/providers",
        json!({"kind": "generic_hmac", "currency": "TZS", "name": "airtel", "secret": "0123456789abcdef0123"}),
        201,
    )
    .await;
    let file = "Transaction ID;Date;Account;Amount;Currency;Phone\n\
                AM-1;2026-02-01 09:00:00;SHS-G1;700;TZS;+255712000001\n\
                AM-2;2026-02-02;SHS-G1;700.00;tzs;+255712000001\n\
                AM-3;2026-02-02T10:00:00+03:00;NO-SUCH-1;300;TZS;+255712000002\n";
    let (content_type, body) = multipart(file);
    let (code, answer) = upload(&s, "airtel", &content_type, body, &s.key).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["format"], "generic");
    assert_eq!(answer["file_name"], "statement.csv");
    let expected: Vec<(u64, String)> =
        [(2, "recorded"), (3, "missing"), (4, "missing")].into_iter().map(|(n, st)| (n, st.to_owned())).collect();
    assert_eq!(statuses(&answer), expected);
    assert_eq!(answer["lines"][1]["occurred_at"], "2026-02-02T12:00:00+00:00");
    let applied = apply(&s, answer["id"].as_str().unwrap()).await;
    let outcomes: Vec<&str> =
        applied["lines"].as_array().unwrap().iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["credited", "unmatched"]);
    let unmatched = s.get("/v1/payments/unmatched").await.1;
    assert_eq!(unmatched["items"][0]["provider_tx_id"], "AM-3");
    assert_eq!(unmatched["items"][0]["provider"], "airtel");
    let paid = payments_of(&s, "SHS-G1").await;
    assert_eq!(paid.len(), 2);

    // The bulk tokens' CSV path reads the same form.
    let (content_type, body) = multipart("serial\nSHS-G1\n");
    let response = s
        .client
        .post(format!("{}/v1/tokens/bulk?kind=add_time&days=2&reason=outage", s.base))
        .bearer_auth(&s.key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with("serial,code,count\nSHSG1,"), "{csv}");
}

/// Unknown header rows, bad amounts (with their line), another currency, unknown providers, a form without
/// its file, a viewer's key: each a clear refusal, nothing stored.
async fn bad_files_and_requests_are_refused(s: TestServer) {
    mpesa(&s).await;
    let (code, answer) = upload_csv(&s, "mpesa", "name,serial,money\nA,SHS-1,700\n").await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["problems"][0]["code"], "unknown_format");
    assert!(answer["message"].as_str().unwrap().contains("Receipt No."));

    let file = portal_export(&[
        &paid_in("RC1", "2026-01-15 10:15:00", "seven hundred", "SHS-1"),
        &paid_in("RC2", "2026-01-15 99:15:00", "700", "SHS-1"),
    ]);
    let (code, answer) = upload_csv(&s, "mpesa", &file).await;
    assert_eq!(code, 422, "{answer}");
    let problems: Vec<(u64, &str, &str)> = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["column"].as_str().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(problems, [(7, "Paid In", "invalid_amount"), (8, "Completion Time", "invalid_date")]);

    let other_currency = "date,transaction_id,account,amount,currency\n2026-01-15,T1,SHS-1,700,KES\n";
    let (code, answer) = upload_csv(&s, "mpesa", other_currency).await;
    assert_eq!(code, 422);
    assert_eq!(answer["problems"][0]["code"], "currency_mismatch");
    let twice = "date,transaction_id,account,amount\n2026-01-15,T1,SHS-1,700\n2026-01-15,T1,SHS-1,700\n";
    assert_eq!(upload_csv(&s, "mpesa", twice).await.1["problems"][0]["code"], "listed_twice");
    assert_eq!(upload_csv(&s, "mpesa", "").await.0, 422);
    assert_eq!(upload_csv(&s, "mpesa", "date,transaction_id,account,amount\n").await.1["problems"][0]["code"], "empty");

    let good = "date,transaction_id,account,amount\n2026-01-15,T1,SHS-1,700\n";
    let (code, answer) = upload_csv(&s, "nobody", good).await;
    assert_eq!((code, answer["field"].as_str()), (422, Some("provider")), "{answer}");
    let (code, answer) = s.send(Method::POST, "/v1/reconciliations", None, Some(&s.key)).await;
    assert_eq!((code, answer["field"].as_str()), (422, Some("provider")), "{answer}");
    let boundary = "xyz";
    let form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{boundary}--\r\n");
    let (code, answer) =
        upload(&s, "mpesa", &format!("multipart/form-data; boundary={boundary}"), form.into_bytes(), &s.key).await;
    assert_eq!((code, answer["field"].as_str()), (422, Some("file")), "{answer}");
    let (code, _) = s.get("/v1/reconciliations/no-such-id").await;
    assert_eq!(code, 404);
    let (code, _) = s.send(Method::POST, "/v1/reconciliations/no-such-id/apply", None, Some(&s.key)).await;
    assert_eq!(code, 404);

    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer"}), 201).await;
    let (code, _) = upload(&s, "mpesa", "text/csv", good.as_bytes().to_vec(), viewer["key"].as_str().unwrap()).await;
    assert_eq!(code, 403);
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let (code, answer) =
        upload(&s, "mpesa", "text/csv", good.as_bytes().to_vec(), operator["key"].as_str().unwrap()).await;
    assert_eq!(code, 201, "{answer}");
    let (_, listed) = s.get("/v1/reconciliations").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "refused uploads store nothing");
    let (_, doc) = s.get("/v1/openapi.json").await;
    assert!(doc["paths"]["/v1/reconciliations"]["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
}

/// Two applies of the same reconciliation at once: each missing line credited once.
async fn concurrent_applies_credit_once(s: TestServer) {
    let s = Arc::new(s);
    let r = registry(&s).await;
    for serial in ["SHS-C1", "SHS-C2", "SHS-C3"] {
        register_shs(&s, &r, serial).await;
    }
    mpesa(&s).await;
    let file = portal_export(&[
        &paid_in("RD1", "2026-01-15 10:15:00", "700.00", "SHS-C1"),
        &paid_in("RD2", "2026-01-15 10:16:00", "700.00", "SHS-C2"),
        &paid_in("RD3", "2026-01-15 10:17:00", "700.00", "SHS-C3"),
    ]);
    let (code, answer) = upload_csv(&s, "mpesa", &file).await;
    assert_eq!(code, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(apply(&s, &id), apply(&s, &id));
    let credited = a["credited"].as_u64().unwrap() + b["credited"].as_u64().unwrap();
    assert_eq!(credited, 3, "{a}\n{b}");
    for serial in ["SHS-C1", "SHS-C2", "SHS-C3"] {
        assert_eq!(payments_of(&s, serial).await.len(), 1, "{serial}");
        assert_eq!(token_count(&s, serial).await, 1, "{serial}");
    }
    let (_, kept) = s.get(&format!("/v1/reconciliations/{id}")).await;
    assert!(kept["lines"].as_array().unwrap().iter().all(|l| l["outcome"] == "credited"), "{kept}");
}
