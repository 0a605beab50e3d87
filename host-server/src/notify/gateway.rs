//! SMS gateways: a generic JSON HTTP gateway and Africa's Talking's messaging API, chosen by settings.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{json, Value};

use crate::outbound;

/// A gateway's refusal or an unreachable gateway, kept on the notification for operators.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SmsError(pub String);

/// A boxed future (keeps the trait object-safe).
pub type SmsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Sends one SMS.
pub trait SmsGateway: Send + Sync {
    /// Sends `message` to `to` (E.164); `id` is our notification id, usable as an idempotency key.
    fn send<'a>(&'a self, id: &'a str, to: &'a str, message: &'a str) -> SmsFuture<'a>;
}

/// `POST <url>` with `{"id", "to", "message"}` as JSON (and `Authorization: Bearer <token>` when set); any 2xx
/// is a success.
pub struct JsonGateway {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// Africa's Talking: `POST <url>` form-encoded `username`, `to`, `message`, optional `from`, header
/// `apiKey`, `Accept: application/json`; success is a 2xx whose recipient has status code 100 (processed),
/// 101 (sent) or 102 (queued).
pub struct AfricasTalking {
    url: String,
    username: String,
    api_key: String,
    from: Option<String>,
    client: reqwest::Client,
}

/// Africa's Talking's live messaging endpoint.
pub const AFRICAS_TALKING_URL: &str = "https://api.africastalking.com/version1/messaging";

fn client() -> Result<reqwest::Client, SmsError> {
    outbound::client(Duration::from_secs(10)).map_err(|e| SmsError(e.to_string()))
}

/// `url` if the server may send messages there (https, or http to this machine).
fn checked(url: &str) -> Result<String, SmsError> {
    outbound::check_url(url).map(String::from).map_err(|e| SmsError(e.to_string()))
}

impl JsonGateway {
    /// A gateway at `url`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, SmsError> {
        Ok(JsonGateway { url: checked(url)?, token, client: client()? })
    }
}

impl AfricasTalking {
    /// Africa's Talking at `url` (the live endpoint, the sandbox, or a local fake in tests).
    pub fn new(url: &str, username: &str, api_key: &str, from: Option<String>) -> Result<Self, SmsError> {
        Ok(AfricasTalking {
            url: checked(url)?,
            username: username.to_owned(),
            api_key: api_key.to_owned(),
            from,
            client: client()?,
        })
    }
}

impl SmsGateway for JsonGateway {
    fn send<'a>(&'a self, id: &'a str, to: &'a str, message: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let mut request = self.client.post(&self.url).json(&json!({"id": id, "to": to, "message": message}));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(|e| SmsError(format!("gateway unreachable: {e}")))?;
            let status = response.status();
            if !status.is_success() {
                return Err(SmsError(format!("gateway answered HTTP {status}")));
            }
            Ok(())
        })
    }
}

impl SmsGateway for AfricasTalking {
    fn send<'a>(&'a self, _id: &'a str, to: &'a str, message: &'a str) -> SmsFuture<'a> {
        Box::pin(async move {
            let mut form = vec![("username", self.username.as_str()), ("to", to), ("message", message)];
            if let Some(from) = &self.from {
                form.push(("from", from.as_str()));
            }
            let response = self
                .client
                .post(&self.url)
                .header("apiKey", &self.api_key)
                .header("Accept", "application/json")
                .form(&form)
                .send()
                .await
                .map_err(|e| SmsError(format!("Africa's Talking unreachable: {e}")))?;
            let status = response.status();
            let text = match outbound::read_capped(response).await {
                Ok(body) => String::from_utf8_lossy(&body).into_owned(),
                Err(e) => return Err(SmsError(format!("Africa's Talking answer: {e}"))),
            };
            if !status.is_success() {
                return Err(SmsError(format!(
                    "Africa's Talking answered HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                )));
            }
            let body: Value = serde_json::from_str(&text)
                .map_err(|_| SmsError(format!("Africa's Talking answer unreadable: {text:.200}")))?;
            let recipient = body.pointer("/SMSMessageData/Recipients/0");
            match recipient.and_then(|r| r.get("statusCode")).and_then(Value::as_i64) {
                Some(100..=102) => Ok(()),
                _ => {
                    let why = recipient
                        .and_then(|r| r.get("status"))
                        .and_then(Value::as_str)
                        .or_else(|| body.pointer("/SMSMessageData/Message").and_then(Value::as_str))
                        .unwrap_or("no recipient accepted");
                    Err(SmsError(format!("Africa's Talking refused: {why}")))
                }
            }
        })
    }
}

/// The gateway the environment configures, or `None` (notifications then wait in the outbox):
/// `MICROPOWER_SMS_GATEWAY=json` with `MICROPOWER_SMS_URL` (and optional `MICROPOWER_SMS_TOKEN`), or
/// `MICROPOWER_SMS_GATEWAY=africastalking` with `MICROPOWER_SMS_USERNAME`, `MICROPOWER_SMS_API_KEY`, optional
/// `MICROPOWER_SMS_FROM` and `MICROPOWER_SMS_URL` (default the live endpoint).
pub fn from_env() -> Result<Option<Box<dyn SmsGateway>>, SmsError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let need = |name: &str| var(name).ok_or_else(|| SmsError(format!("{name} must be set for this SMS gateway")));
    match var("MICROPOWER_SMS_GATEWAY").as_deref() {
        None => Ok(None),
        Some("json") => {
            Ok(Some(Box::new(JsonGateway::new(&need("MICROPOWER_SMS_URL")?, var("MICROPOWER_SMS_TOKEN"))?)))
        }
        Some("africastalking") => Ok(Some(Box::new(AfricasTalking::new(
            &var("MICROPOWER_SMS_URL").unwrap_or_else(|| AFRICAS_TALKING_URL.to_owned()),
            &need("MICROPOWER_SMS_USERNAME")?,
            &need("MICROPOWER_SMS_API_KEY")?,
            var("MICROPOWER_SMS_FROM"),
        )?))),
        Some(other) => Err(SmsError(format!("MICROPOWER_SMS_GATEWAY={other:?}: expected json or africastalking"))),
    }
}
