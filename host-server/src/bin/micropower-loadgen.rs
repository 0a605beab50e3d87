//! Load generator for `micropower-server`: registers meters, then posts unique payments over many
//! connections for a fixed time, and measures the disk's single-threaded write+fsync rate in the same run.
//!
//! `micropower-loadgen --url http://127.0.0.1:8080 --key KEY --devices 1000 --connections 1,16,64 --seconds 10
//!  --fsync-dir ./data` registers the meters once, then loads once per connection count and prints one JSON
//! line for each: payments/s, p50/p99 latency and the fsync rate measured right after that load.
//!
//! `--mode daraja-validation` instead configures a Daraja C2B provider (KES meters) and posts Safaricom
//! validation requests to its hook (each validation asks the core and durably keeps the raw request before
//! answering); it prints validations/s and p50/p99 latency per connection count.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    url: String,
    key: String,
    devices: usize,
    connections: Vec<usize>,
    seconds: u64,
    fsync_dir: Option<String>,
    daraja: bool,
    /// Names this run's serials, phones and transaction ids; a later run with the same id and
    /// `--skip-setup` loads the meters an earlier run registered (e.g. the other core engine on one database).
    run: u32,
    skip_setup: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        key: std::env::var("MICROPOWER_ADMIN_KEY").unwrap_or_default(),
        devices: 1000,
        connections: vec![64],
        seconds: 10,
        fsync_dir: None,
        daraja: false,
        run: std::process::id(),
        skip_setup: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--key" => args.key = value()?,
            "--devices" => args.devices = value()?.parse().map_err(|e| format!("--devices: {e}"))?,
            "--connections" => {
                args.connections = value()?
                    .split(',')
                    .map(|n| match n.trim().parse() {
                        Ok(0) | Err(_) => Err(format!("--connections: {n:?} is not a positive count")),
                        Ok(n) => Ok(n),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => args.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--fsync-dir" => args.fsync_dir = Some(value()?),
            "--run-id" => args.run = value()?.parse().map_err(|e| format!("--run-id: {e}"))?,
            "--skip-setup" => args.skip_setup = true,
            "--mode" => match value()?.as_str() {
                "payments" => args.daraja = false,
                "daraja-validation" => args.daraja = true,
                other => return Err(format!("--mode {other}: expected payments or daraja-validation")),
            },
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Single-threaded 4 KiB write + fsync operations per second, for `seconds`, in `dir`.
fn fsync_rate(dir: &str, seconds: f64) -> Result<f64, String> {
    let path = std::path::Path::new(dir).join(".fsync-probe");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [7u8; 4096];
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        file.write_all(&block).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        ops += 1;
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

async fn post(client: &reqwest::Client, args: &Args, path: &str, body: Value) -> Result<Value, String> {
    let resp = client
        .post(format!("{}{path}", args.url))
        .bearer_auth(&args.key)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {v}"));
    }
    Ok(v)
}

fn id(v: &Value) -> Value {
    v.get("id").cloned().unwrap_or(Value::Null)
}

async fn setup(client: &reqwest::Client, args: &Arc<Args>) -> Result<(), String> {
    let run = args.run;
    let cluster = post(client, args, "/v1/clusters", json!({"name": "Load"})).await?;
    let area = post(client, args, "/v1/areas", json!({"name": "Load area", "cluster_id": id(&cluster)})).await?;
    let village = post(client, args, "/v1/villages", json!({"name": "Load village", "area_id": id(&area)})).await?;
    let maker = post(
        client,
        args,
        "/v1/manufacturers",
        json!({"name": "Load meters", "device_kinds": ["meter"], "token_scheme": "external"}),
    )
    .await?;
    let tariff = post(
        client,
        args,
        "/v1/tariffs",
        if args.daraja {
            // Validation is asked today: an access rate accrued since 2026-01-01 would put every meter's
            // minimum above the amount, and the benchmark would measure refusals.
            json!({"name": "Load KES", "currency": "KES", "price_per_kwh": "20", "minimum_purchase": "50"})
        } else {
            json!({"name": "Load", "currency": "TZS", "price_per_kwh": "500", "fees": [{"name": "levy", "price_per_kwh": "50"}],
                   "access_rate": {"amount": "300", "period_days": 7}})
        },
    )
    .await?;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.connections.iter().copied().max().unwrap_or(1).min(16) {
        let (client, args, next) = (client.clone(), args.clone(), next.clone());
        let (village, maker, tariff) = (id(&village), id(&maker), id(&tariff));
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst) as usize;
                if n >= args.devices {
                    return Ok::<(), String>(());
                }
                if n > 0 && n.is_multiple_of(10_000) {
                    eprintln!("registered {n} of {} meters", args.devices);
                }
                // Phones +255 74/75/76 and seven digits: mobile ranges libphonenumber accepts for Tanzania, so
                // every meter count up to ten million registers whatever the run id.
                post(&client, &args, "/v1/registrations", json!({
                    "customer": {"name": "Load", "surname": format!("C{n}"), "phone": format!("+2557{}{n:07}", 4 + run % 3), "village_id": village},
                    "device": {"serial": format!("L{run}M{n}"), "kind": "meter", "manufacturer_id": maker, "tariff_id": tariff},
                    "registered_on": "2026-01-01"
                }))
                .await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("micropower-loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let most = args.connections.iter().copied().max().unwrap_or(1);
    let client = reqwest::Client::builder().pool_max_idle_per_host(most).build().unwrap_or_default();
    let started = Instant::now();
    if !args.skip_setup {
        if let Err(e) = setup(&client, &args).await {
            eprintln!("micropower-loadgen: setup failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
        eprintln!("registered {} meters in {:.1} s", args.devices, started.elapsed().as_secs_f64());
    }
    for &connections in &args.connections {
        eprintln!("loading for {} s over {connections} connections", args.seconds);
        let result = if args.daraja {
            match daraja_validation(&client, &args, connections).await {
                Ok(line) => line,
                Err(e) => {
                    eprintln!("micropower-loadgen: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        } else {
            load(&client, &args, connections).await
        };
        println!("{result}");
    }
    std::process::ExitCode::SUCCESS
}

/// Unique payments over `connections` connections for the configured time, then the fsync probe.
async fn load(client: &reqwest::Client, args: &Arc<Args>, connections: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    // Serials come from the run id; transaction ids also from this process, so that a second run on the
    // same meters (`--skip-setup`) posts new payments rather than repeats.
    let (run, process) = (args.run, std::process::id());
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, args, errors) = (client.clone(), args.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let device = (c * 7919 + n * 104_729) % args.devices;
                let body = json!({"provider": "load", "provider_tx_id": format!("{run}-{process}-{connections}-{c}-{n}"),
                                  "serial": format!("L{run}M{device}"), "amount": "1100", "currency": "TZS",
                                  "received_at": "2026-01-02T08:00:00Z"});
                let t = Instant::now();
                match post(&client, &args, "/v1/payments", body).await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            latencies.extend(l);
        }
    }
    let elapsed = args.seconds as f64;
    latencies.sort();
    let fsync = match &args.fsync_dir {
        Some(dir) => fsync_rate(dir, 3.0).unwrap_or(f64::NAN),
        None => f64::NAN,
    };
    json!({
        "devices": args.devices, "connections": connections, "seconds": args.seconds,
        "payments": latencies.len(), "payments_per_s": (latencies.len() as f64 / elapsed).round(),
        "p50_ms": percentile_ms(&latencies, 0.50), "p99_ms": percentile_ms(&latencies, 0.99),
        "errors": errors.load(Ordering::Relaxed), "fsync_per_s": fsync.round(),
    })
}

/// p-th percentile of sorted latencies, in milliseconds rounded to 0.01.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    let ms = sorted.get(idx).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
    (ms * 100.0).round() / 100.0
}

/// Daraja validation latency: a provider, then Safaricom validation requests for the registered meters over
/// `connections` connections for `seconds`. An answer other than `0` counts as an error.
async fn daraja_validation(client: &reqwest::Client, args: &Arc<Args>, connections: usize) -> Result<Value, String> {
    let (run, process) = (args.run, std::process::id());
    let provider = post(
        client,
        args,
        "/v1/providers",
        json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES", "name": format!("bench-{run}-{process}-{connections}")}),
    )
    .await?;
    let path = provider
        .pointer("/hook_paths/validation")
        .and_then(Value::as_str)
        .ok_or("no validation hook path in the provider answer")?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (client, args, errors, path) = (client.clone(), args.clone(), errors.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let device = (c * 7919 + n * 104_729) % args.devices;
                let body = json!({
                    "TransactionType": "Pay Bill", "TransID": format!("B{run}P{process}C{c}N{n}"), "TransTime": "20260102081325",
                    "TransAmount": "1100.00", "BusinessShortCode": "600984", "BillRefNumber": format!("L{run}M{device}"),
                    "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126",
                    "FirstName": "LOAD", "MiddleName": "", "LastName": ""
                });
                let t = Instant::now();
                let answer = client.post(format!("{}{path}", args.url)).json(&body).send().await;
                let ok = match answer {
                    Ok(resp) => resp.json::<Value>().await.ok().and_then(|v| v.get("ResultCode").cloned()) == Some(json!("0")),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            latencies.extend(l);
        }
    }
    latencies.sort();
    Ok(json!({
        "mode": "daraja-validation", "devices": args.devices, "connections": connections, "seconds": args.seconds,
        "validations": latencies.len(), "validations_per_s": (latencies.len() as f64 / args.seconds as f64).round(),
        "p50_ms": percentile_ms(&latencies, 0.50), "p99_ms": percentile_ms(&latencies, 0.99),
        "max_ms": percentile_ms(&latencies, 1.0), "errors": errors.load(Ordering::Relaxed),
    }))
}
