//! Concurrency guarantees, on SQLite and on PostgreSQL: 100 copies of one delivery at once credit once;
//! 100 different payments at once on one device apply one after the other (the device ends exactly as if
//! they had arrived in turn); 100 payments and 100 edits of the same plans at once lose neither; and two
//! servers on one PostgreSQL database keep these guarantees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use micropower_core::api::{InstallmentPlan, TotalEdit};
use micropower_server::config::EngineKind;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const COPIES: usize = 100;

macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let s = super::TestServer::start(super::Db::Sqlite, super::EngineKind::Wasm).await.unwrap();
                let s = std::sync::Arc::new(s);
                super::$scenario(s.clone(), s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(s) = super::TestServer::start(super::Db::Postgres, super::EngineKind::Wasm).await {
                    let s = std::sync::Arc::new(s);
                    super::$scenario(s.clone(), s).await;
                }
            }
            /// The same scenario with its requests spread over two servers sharing one database.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn two_servers_on_postgres() {
                match super::TestServer::pair_on_postgres(super::EngineKind::Wasm).await {
                    Some((a, b)) => super::$scenario(std::sync::Arc::new(a), std::sync::Arc::new(b)).await,
                    None => assert!(std::env::var("CI").is_err(), "MICROPOWER_TEST_POSTGRES_URL must be set in CI"),
                }
            }
        }
    )*};
}

on_both_databases!(
    copies_of_one_delivery_credit_once,
    different_payments_on_one_device_apply_in_turn,
    payments_and_plan_edits_keep_each_other,
);

/// Posts every body at once, alternating between the two servers; returns the answers in posting order.
async fn post_all_at_once(a: &Arc<TestServer>, b: &Arc<TestServer>, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let start = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                server.post("/v1/payments", body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn plan_paid(s: &TestServer, serial: &str) -> Value {
    let (_, device) = s.get(&format!("/v1/devices/{serial}")).await;
    let (_, plan) = s.get(&format!("/v1/plans/{}", device["plan_id"].as_str().unwrap())).await;
    plan["paid"].clone()
}

/// One payment delivered 100 times at once: one 201, 99 × 200 with the identical answer, one credit.
async fn copies_of_one_delivery_credit_once(a: Arc<TestServer>, b: Arc<TestServer>) {
    let r = registry(&a).await;
    register_shs(&a, &r, "SHS-C").await;
    let body = payment("copy-1", "SHS-C", "700", "2026-01-02T08:00:00Z");
    let answers = post_all_at_once(&a, &b, vec![body; COPIES]).await;
    let applied = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(applied, 1, "exactly one copy applies: {:?}", answers.iter().map(|(s, _)| s).collect::<Vec<_>>());
    assert!(answers.iter().all(|(status, _)| *status == 200 || *status == 201));
    assert!(answers.iter().all(|(_, answer)| answer == &answers[0].1), "every copy gets the same answer");
    assert_eq!(plan_paid(&a, "SHS-C").await, "700");
    let (_, list) = b.get("/v1/payments?serial=SHS-C").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, tokens) = b.get("/v1/devices/SHS-C/tokens").await;
    assert_eq!(tokens["items"].as_array().unwrap().len(), answers[0].1["tokens"].as_array().unwrap().len());
}

/// 100 different payments of 100 TZS at once on one device, and the same 100 posted one by one on a twin
/// device (same plan, same OpenPAYGO key and starting code): both end with the same plan balance, credit,
/// token count and token codes. The payments are identical in amount, so any serial order gives that end
/// state, and a lost update or a reused OpenPAYGO count would not.
async fn different_payments_on_one_device_apply_in_turn(a: Arc<TestServer>, b: Arc<TestServer>) {
    let r = registry(&a).await;
    register_shs(&a, &r, "SHS-P").await;
    register_shs(&a, &r, "SHS-Q").await;
    let bodies = |serial: &str| -> Vec<Value> {
        (0..COPIES).map(|i| payment(&format!("{serial}-{i}"), serial, "100", "2026-01-02T08:00:00Z")).collect()
    };

    let answers = post_all_at_once(&a, &b, bodies("SHS-P")).await;
    assert!(answers.iter().all(|(status, _)| *status == 201), "{:?}", answers.iter().find(|(s, _)| *s != 201));
    for body in bodies("SHS-Q") {
        let (status, answer) = a.post("/v1/payments", body).await;
        assert_eq!(status, 201, "{answer}");
    }

    let device_state = |device: Value| {
        (device["credit_balance"].clone(), device["token_count"].clone(), device["access_rate_debt"].clone())
    };
    assert_eq!(
        device_state(a.get("/v1/devices/SHS-P").await.1),
        device_state(a.get("/v1/devices/SHS-Q").await.1),
        "balances after concurrent = after sequential"
    );
    assert_eq!(plan_paid(&a, "SHS-P").await, "2100");
    assert_eq!(plan_paid(&a, "SHS-Q").await, "2100");

    let tokens = |history: Value| {
        let mut list: Vec<(i64, Value, Value, Value)> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["count"].as_i64().unwrap_or(-1), t["kind"].clone(), t["quantity"].clone(), t["code"].clone()))
            .collect();
        list.sort_by_key(|t| t.0);
        list
    };
    let concurrent = tokens(b.get("/v1/devices/SHS-P/tokens?limit=500").await.1);
    let sequential = tokens(b.get("/v1/devices/SHS-Q/tokens?limit=500").await.1);
    assert!(!concurrent.is_empty());
    let mut counts: Vec<i64> = concurrent.iter().map(|t| t.0).collect();
    counts.dedup();
    assert_eq!(counts.len(), concurrent.len(), "no OpenPAYGO count is used twice");
    assert_eq!(concurrent, sequential, "same tokens, counts and codes as one by one");

    let (_, list) = b.get("/v1/payments?serial=SHS-P&limit=500").await;
    assert_eq!(list["items"].as_array().unwrap().len(), COPIES);
}

/// A plan's installments as `(number, due date, amount, paid)`, from the core's plan or the API's view.
fn schedule(installments: &Value) -> Vec<(u64, String, Decimal, Decimal)> {
    let dec = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    installments
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["number"].as_u64().unwrap(),
                i["due_date"].as_str().unwrap().to_owned(),
                dec(&i["amount"]),
                dec(&i["paid"]),
            )
        })
        .collect()
}

fn of_plan(plan: &InstallmentPlan) -> Vec<(u64, String, Decimal, Decimal)> {
    schedule(&serde_json::to_value(plan).unwrap()["installments"])
}

/// Books a payment's journal lines on a plan, as the payment did; a line can never pay more than is owed.
fn book(plan: &mut InstallmentPlan, lines: &[(u32, Decimal)], payment: &str) {
    for (number, amount) in lines {
        let i = plan.installments.iter_mut().find(|i| i.number == *number).unwrap();
        i.paid += *amount;
        assert!(i.paid <= i.amount, "payment {payment} overpaid installment {number}: {i:?}");
    }
}

fn total_paid(plan: &InstallmentPlan) -> Decimal {
    plan.installments.iter().map(|i| i.paid).sum()
}

/// 100 payments and 100 total edits of three plans at once: two SHS plans paid through their devices, a TV
/// sold without a device paid by its id and through its owner's meter. Each plan must end as its sale, its
/// edits and its payments' journal lines replayed in the order they committed — the edits in the order of
/// the plan versions they answered, the payments in the order of their ids (made under the owner's lock, so
/// in commit order) — with every edit's answer equal to the core's edit of the plan as the payments before it
/// left it. A lost edit (a payment writing back the plan it read before the edit) or lost paid amounts (an
/// edit writing back the plan it read before a payment) cannot be replayed. No payment's money is missing:
/// its lines and credit add up to its amount, and each owner's credit is the sum of its payments' credit.
async fn payments_and_plan_edits_keep_each_other(a: Arc<TestServer>, b: Arc<TestServer>) {
    let r = registry(&a).await;
    let terms = json!({"appliance": "Kit", "currency": "TZS", "total_cost": "10000", "down_payment": "0",
                       "installments": 20, "period": "weekly", "start_date": "2026-01-01"});
    let mut plans = Vec::new();
    let mut owners = Vec::new();
    for serial in ["SHS-EA", "SHS-EB"] {
        let reg = a
            .ok(
                "/v1/registrations",
                json!({"customer": new_customer(&r.village),
                       "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                                  "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                       "plan": terms, "registered_on": "2026-01-01"}),
                201,
            )
            .await;
        plans.push(reg["plan"]["id"].as_str().unwrap().to_owned());
        owners.push(reg["customer"]["id"].as_str().unwrap().to_owned());
    }
    let meter =
        register_meter(&a, &r, "MTR-EC", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let tv_owner = meter["customer"]["id"].as_str().unwrap().to_owned();
    let tv = a.ok(&format!("/v1/customers/{tv_owner}/plans"), terms.clone(), 201).await;
    plans.push(tv["id"].as_str().unwrap().to_owned());
    owners.push(tv_owner);
    let mut sold: HashMap<String, InstallmentPlan> = HashMap::new();
    for plan in &plans {
        let (_, view) = a.get(&format!("/v1/plans/{plan}")).await;
        let installments: Vec<Value> = schedule(&view["installments"])
            .into_iter()
            .map(|(number, due_date, amount, paid)| {
                json!({"number": number, "due_date": due_date, "amount": amount.to_string(), "paid": paid.to_string()})
            })
            .collect();
        let body = json!({"id": plan, "currency": "TZS", "period": "weekly", "start_date": "2026-01-01",
                          "installments": installments});
        sold.insert(plan.clone(), serde_json::from_value(body).unwrap());
    }

    // 100 payments of 100 TZS and 100 edits of the totals, all at once, spread over both servers.
    let mut requests: Vec<(Option<String>, Value)> = Vec::new();
    for i in 0..100 {
        let tx = format!("pe-{i}");
        let body = match i % 10 {
            0..=2 => payment(&tx, "SHS-EA", "100", "2026-01-02T08:00:00Z"),
            3..=5 => payment(&tx, "SHS-EB", "100", "2026-01-02T08:00:00Z"),
            6 | 7 => json!({"provider": "test", "provider_tx_id": tx, "plan_id": plans[2], "amount": "100",
                            "currency": "TZS", "received_at": "2026-01-02T08:00:00Z"}),
            // Through the meter: the TV's installments due by 20 January first, then energy.
            _ => payment(&tx, "MTR-EC", "100", "2026-01-20T08:00:00Z"),
        };
        requests.push((None, body));
        let plan = plans[i % 3].clone();
        requests.push((Some(plan), json!({"total_cost": (10000 + 50 * (i % 7)).to_string()})));
    }
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, (plan, body))| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let answer = match &plan {
                    Some(id) => server.put(&format!("/v1/plans/{id}/total"), body.clone()).await,
                    None => server.post("/v1/payments", body.clone()).await,
                };
                (plan, body, answer)
            })
        })
        .collect();
    let mut edits: HashMap<String, Vec<(i64, TotalEdit, Value)>> = HashMap::new();
    // Per plan: each payment's id and the (installment, amount) lines it paid.
    type PaidLines = Vec<(String, Vec<(u32, Decimal)>)>;
    let mut paid_lines: HashMap<String, PaidLines> = HashMap::new();
    let mut credit: HashMap<String, Decimal> = HashMap::new();
    let mut refused_edits: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (plan, body, (status, answer)) = task.await.unwrap();
        match plan {
            Some(plan) => {
                // An edit keeps each touched installment at what it paid and spreads the rest over the
                // untouched ones; when payments and edits alternate tightly, every installment can be touched
                // and the core refuses the next edit of the total. A refusal changes nothing: counted, not
                // replayed.
                if status == 422 && answer["code"] == "no_untouched_installments" {
                    *refused_edits.entry(plan).or_default() += 1;
                    continue;
                }
                assert_eq!(status, 200, "edit {body}: {answer}");
                let edit: TotalEdit = serde_json::from_value(body).unwrap();
                edits.entry(plan).or_default().push((answer["version"].as_i64().unwrap(), edit, answer));
            }
            None => {
                assert_eq!(status, 201, "payment {body}: {answer}");
                let id = answer["payment_id"].as_str().unwrap().to_owned();
                let dec = |v: &Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
                let lines = answer["allocations"].as_array().unwrap();
                let booked: Decimal = lines.iter().map(|l| dec(&l["amount"])).sum();
                assert_eq!(
                    booked - dec(&answer["credit_used"]),
                    dec(&answer["amount"]),
                    "payment {id} adds up: {answer}"
                );
                let owner = match answer["serial"].as_str() {
                    Some("SHSEA") => &owners[0],
                    Some("SHSEB") => &owners[1],
                    _ => &owners[2],
                };
                let added: Decimal = lines.iter().filter(|l| l["kind"] == "credit").map(|l| dec(&l["amount"])).sum();
                *credit.entry(owner.clone()).or_default() += added - dec(&answer["credit_used"]);
                for plan in &plans {
                    let on_plan: Vec<(u32, Decimal)> = lines
                        .iter()
                        .filter(|l| l["kind"] == "installment" && l["plan_id"] == json!(plan))
                        .map(|l| (u32::try_from(l["installment"].as_u64().unwrap()).unwrap(), dec(&l["amount"])))
                        .collect();
                    if !on_plan.is_empty() {
                        paid_lines.entry(plan.clone()).or_default().push((id.clone(), on_plan));
                    }
                }
            }
        }
    }

    for plan in &plans {
        let mut state = sold[plan].clone();
        let mut payments = paid_lines.remove(plan).unwrap_or_default();
        payments.sort_by(|x, y| x.0.cmp(&y.0));
        let mut payments = payments.into_iter();
        let mut plan_edits = edits.remove(plan).unwrap_or_default();
        plan_edits.sort_by_key(|e| e.0);
        let refused = refused_edits.get(plan).copied().unwrap_or_default();
        assert!(plan_edits.len() + refused >= 33, "{plan}: every edit answered");
        for (version, edit, answer) in plan_edits {
            let seen: Decimal = schedule(&answer["installments"]).iter().map(|i| i.3).sum();
            // The payments that committed before this edit are those that bring the plan to what it saw paid.
            while total_paid(&state) < seen {
                let (id, lines) =
                    payments.next().unwrap_or_else(|| panic!("{plan} v{version} saw money no payment paid"));
                book(&mut state, &lines, &id);
            }
            assert_eq!(total_paid(&state), seen, "{plan} v{version} saw a paid amount between two payments: {answer}");
            state = micropower_core::api::edit_plan_total(&state, &edit).unwrap();
            assert_eq!(
                of_plan(&state),
                schedule(&answer["installments"]),
                "{plan} v{version} is its edit of the plan before it"
            );
        }
        for (id, lines) in payments {
            book(&mut state, &lines, &id);
        }
        let (_, stored) = b.get(&format!("/v1/plans/{plan}")).await;
        assert_eq!(
            schedule(&stored["installments"]),
            of_plan(&state),
            "{plan}: stored = sale, edits and payments replayed"
        );
    }
    for owner in &owners {
        let (_, customer) = a.get(&format!("/v1/customers/{owner}")).await;
        let balance = customer["credit_balance"]["TZS"].as_str().unwrap_or("0").parse::<Decimal>().unwrap();
        assert_eq!(balance, credit.get(owner).copied().unwrap_or_default(), "{owner}'s credit is its payments' credit");
    }
}
