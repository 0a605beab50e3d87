//! Providers' statements (issue 17 §2), read into lines the server can set against its payments. Two formats,
//! told apart by their header row:
//!
//! - the Safaricom M-Pesa business portal's transaction statement export: description lines (account holder,
//!   time period, …) before the header row; `Receipt No.`, `Completion Time`, `Transaction Status`,
//!   `Paid In`, `Withdrawn`, `A/C No.`, `Other Party Info`, `Details` among other columns. Times are East
//!   Africa Time, as Safaricom writes them everywhere;
//! - a generic provider CSV: `date, transaction_id, account, amount, currency, phone` (an optional `status`),
//!   which any provider's export can be mapped to. Dates without an offset are the operator's time zone.
//!
//! Columns are matched by name whatever their order, case, spaces or punctuation; a UTF-8 BOM and `;` as the
//! separator are accepted. Only wire format lives here: what a line means for the money is decided in
//! [`crate::reconciliation`].

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How many lines may come before the header row: the portal's description block is about ten.
const MOST_LEADING_LINES: usize = 50;

/// A statement's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    MpesaPortal,
    Generic,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::MpesaPortal => "mpesa_portal",
            Format::Generic => "generic",
        }
    }
}

/// What a statement line says happened to the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Movement {
    /// Money paid in and completed.
    PaidIn,
    /// The provider did not complete it (its status as written).
    NotCompleted(String),
    /// Money out of the account (a withdrawal, a refund, a charge), or no amount paid in.
    NotPaidIn,
}

/// One transaction line of a statement.
#[derive(Debug, Clone)]
pub struct Line {
    /// The file's own line number (the first line is 1).
    pub line: u64,
    pub provider_tx_id: String,
    pub movement: Movement,
    /// The amount paid in; None when the line pays nothing in.
    pub amount: Option<Decimal>,
    /// The account number the payer typed (a serial, or a plan's id); None when blank.
    pub account: Option<String>,
    /// The statement's currency column, when it has one.
    pub currency: Option<String>,
    /// When the provider completed it, RFC 3339.
    pub occurred_at: Option<DateTime<FixedOffset>>,
    /// Who paid, as the statement shows it (the portal masks the number: never an identity).
    pub payer: Option<String>,
    /// The payer's phone, from a generic statement's `phone` column.
    pub phone: Option<String>,
}

/// A statement read whole.
#[derive(Debug)]
pub struct Statement {
    pub format: Format,
    pub lines: Vec<Line>,
}

/// Why a statement, or one of its lines, cannot be read.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The file's line number; 0 for the file as a whole.
    pub line: u64,
    /// The column at fault, by its header name; empty for the whole line or file.
    pub column: String,
    pub code: &'static str,
    pub message: String,
}

/// A file that is not a statement: its problems (the whole file's, or every bad line's).
#[derive(Debug)]
pub struct Unreadable(pub Vec<Problem>);

fn whole_file(code: &'static str, message: impl Into<String>) -> Unreadable {
    Unreadable(vec![Problem { line: 0, column: String::new(), code, message: message.into() }])
}

/// A header cell as compared: lowercase letters and digits only (`A/C No.` is `acno`).
fn key(cell: &str) -> String {
    cell.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The columns of one format: each with its header key and whether the format needs it.
struct Columns {
    format: Format,
    names: &'static [(&'static str, &'static str, bool)],
}

/// `(key, header as documented, required)`.
const MPESA: Columns = Columns {
    format: Format::MpesaPortal,
    names: &[
        ("receiptno", "Receipt No.", true),
        ("completiontime", "Completion Time", true),
        ("transactionstatus", "Transaction Status", true),
        ("paidin", "Paid In", true),
        ("withdrawn", "Withdrawn", false),
        ("acno", "A/C No.", true),
        ("otherpartyinfo", "Other Party Info", false),
        ("details", "Details", false),
    ],
};

const GENERIC: Columns = Columns {
    format: Format::Generic,
    names: &[
        ("date", "date", true),
        ("transactionid", "transaction_id", true),
        ("account", "account", true),
        ("amount", "amount", true),
        ("currency", "currency", false),
        ("phone", "phone", false),
        ("status", "status", false),
    ],
};

/// Where each column of a format is in a header row.
struct Header {
    columns: &'static Columns,
    at: Vec<Option<usize>>,
    /// The header's own text of each column, for problems.
    names: Vec<String>,
}

impl Header {
    fn find(columns: &'static Columns, cells: &csv::StringRecord) -> Option<Header> {
        let keys: Vec<String> = cells.iter().map(key).collect();
        let at: Vec<Option<usize>> =
            columns.names.iter().map(|(name, _, _)| keys.iter().position(|k| k == name)).collect();
        let complete = columns.names.iter().zip(&at).all(|((_, _, required), found)| !required || found.is_some());
        complete.then(|| Header {
            columns,
            names: columns
                .names
                .iter()
                .zip(&at)
                .map(|((_, shown, _), found)| {
                    found.and_then(|i| cells.get(i)).map_or_else(|| (*shown).to_owned(), str::to_owned)
                })
                .collect(),
            at,
        })
    }

    fn cell<'r>(&self, record: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let i = self.columns.names.iter().position(|(n, _, _)| *n == name)?;
        let at = (*self.at.get(i)?)?;
        record.get(at).map(str::trim).filter(|t| !t.is_empty())
    }

    fn name(&self, name: &str) -> String {
        let i = self.columns.names.iter().position(|(n, _, _)| *n == name);
        i.and_then(|i| self.names.get(i)).cloned().unwrap_or_else(|| name.to_owned())
    }
}

/// Reads a statement. `zone` is the operator's time zone, for a generic statement's dates without an offset.
pub fn read(bytes: &[u8], zone: Tz) -> Result<Statement, Unreadable> {
    let text = std::str::from_utf8(bytes).map_err(|_| whole_file("not_utf8", "the statement must be UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(whole_file("invalid_text", "the statement must not contain NUL characters"));
    }
    // The separator is the one under which a known header row appears: the description lines above it say
    // nothing reliable about it.
    for separator in [b',', b';', b'\t'] {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(separator)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut records = reader.records();
        for _ in 0..MOST_LEADING_LINES {
            let Some(Ok(record)) = records.next() else { break };
            let header = Header::find(&MPESA, &record).or_else(|| Header::find(&GENERIC, &record));
            if let Some(header) = header {
                return lines(&header, records, zone);
            }
        }
    }
    Err(whole_file(
        "unknown_format",
        "no header row of a known statement format: the M-Pesa portal export (Receipt No., Completion Time, \
         Transaction Status, Paid In, Withdrawn, A/C No.) or the generic CSV (date, transaction_id, account, \
         amount, currency, phone)",
    ))
}

fn lines(header: &Header, records: csv::StringRecordsIter<'_, &[u8]>, zone: Tz) -> Result<Statement, Unreadable> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(Problem { line, column: String::new(), code: "invalid_csv", message: e.to_string() });
                continue;
            }
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        match read_line(header, &record, line, zone) {
            Ok(read) => lines.push(read),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(Unreadable(problems));
    }
    if lines.is_empty() {
        return Err(whole_file("empty", "the statement has a header row but no transaction lines"));
    }
    Ok(Statement { format: header.columns.format, lines })
}

fn read_line(header: &Header, record: &csv::StringRecord, line: u64, zone: Tz) -> Result<Line, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |name: &str, code: &'static str, message: String| {
        problems.push(Problem { line, column: header.name(name), code, message });
    };
    let mpesa = header.columns.format == Format::MpesaPortal;
    let (id_col, time_col, account_col) =
        if mpesa { ("receiptno", "completiontime", "acno") } else { ("transactionid", "date", "account") };
    let provider_tx_id = header.cell(record, id_col).unwrap_or_default().to_owned();
    if provider_tx_id.is_empty() || provider_tx_id.len() > 128 {
        problem(id_col, "invalid_transaction_id", "a transaction id of 1 to 128 characters is required".into());
    }
    let occurred_at = match header.cell(record, time_col) {
        None => {
            problem(time_col, "invalid_date", "a date is required".into());
            None
        }
        Some(text) => {
            let parsed = if mpesa { east_africa_time(text) } else { instant(text, zone) };
            if parsed.is_none() {
                problem(time_col, "invalid_date", format!("{text:?} is not a date (YYYY-MM-DD HH:MM:SS)"));
            }
            parsed
        }
    };
    let account = header.cell(record, account_col).map(str::to_owned);
    if account.as_ref().is_some_and(|a| a.len() > 128) {
        problem(account_col, "invalid_account", "an account number of at most 128 characters".into());
    }
    let status = header.cell(record, if mpesa { "transactionstatus" } else { "status" });
    let completed = status.is_none_or(|s| {
        ["completed", "complete", "success", "successful", "succeeded"].contains(&s.to_ascii_lowercase().as_str())
    });
    let (amount_col, paid) =
        if mpesa { ("paidin", header.cell(record, "paidin")) } else { ("amount", header.cell(record, "amount")) };
    let mut amount = None;
    let mut paid_in = true;
    match paid.map(|text| (text, money(text))) {
        None if mpesa => paid_in = false,
        None => problem(amount_col, "invalid_amount", "an amount is required".into()),
        Some((text, None)) => problem(amount_col, "invalid_amount", format!("{text:?} is not an amount")),
        Some((_, Some(value))) if value > Decimal::ZERO => amount = Some(value),
        // Money going out, or nothing: not a payment to credit.
        Some((_, Some(_))) => paid_in = false,
    }
    if mpesa {
        if let Some(text) = header.cell(record, "withdrawn") {
            match money(text) {
                None => problem("withdrawn", "invalid_amount", format!("{text:?} is not an amount")),
                Some(value) if !value.is_zero() => paid_in = false,
                Some(_) => {}
            }
        }
    }
    let currency = header.cell(record, "currency").map(str::to_ascii_uppercase);
    if !problems.is_empty() {
        return Err(problems);
    }
    let movement = match (completed, paid_in) {
        (false, _) => Movement::NotCompleted(status.unwrap_or_default().to_owned()),
        (true, false) => Movement::NotPaidIn,
        (true, true) => Movement::PaidIn,
    };
    let payer = if mpesa { header.cell(record, "otherpartyinfo").map(str::to_owned) } else { None };
    Ok(Line {
        line,
        provider_tx_id,
        amount: if movement == Movement::NotPaidIn { None } else { amount },
        movement,
        account,
        currency,
        occurred_at,
        payer,
        phone: header.cell(record, "phone").map(str::to_owned),
    })
}

/// An amount as statements write it: `1,500.00` (thousands grouped), `1500`, `-500.00`, or `1500,50` with a
/// decimal comma (an export saved with `;` separators). Exact, never through a float.
fn money(text: &str) -> Option<Decimal> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = text.trim_start_matches(['-', '+']);
    let normalised = if digits.contains('.') {
        text.replace(',', "")
    } else if let Some((whole, fraction)) = digits.rsplit_once(',') {
        let grouped = fraction.len() == 3 && digits.split(',').skip(1).all(|g| g.len() == 3);
        if grouped {
            text.replace(',', "")
        } else if !whole.contains(',') && (1..=2).contains(&fraction.len()) {
            text.replacen(',', ".", 1)
        } else {
            return None;
        }
    } else {
        text.clone()
    };
    if !normalised.trim_start_matches(['-', '+']).chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    normalised.parse().ok()
}

/// Local date-time spellings of the exports seen: ISO, and the day first as East Africa writes it.
const LOCAL_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
];

fn local(text: &str) -> Option<NaiveDateTime> {
    LOCAL_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// The portal's `Completion Time`: a local time in East Africa Time (UTC+3, no daylight saving).
fn east_africa_time(text: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    let eat = FixedOffset::east_opt(3 * 3600)?;
    eat.from_local_datetime(&local(text)?).single()
}

/// A generic statement's `date`: RFC 3339, a local date-time in the operator's zone, or a day alone (noon,
/// which exists on every day in every zone).
fn instant(text: &str, zone: Tz) -> Option<DateTime<FixedOffset>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at);
    }
    let naive = match local(text) {
        Some(n) => n,
        None => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(12, 0, 0)?,
    };
    let at = zone.from_local_datetime(&naive).earliest()?;
    Some(at.fixed_offset())
}

/// An instant as the server writes one it was given (`received_at`).
pub fn rfc3339(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Option<Decimal> {
        text.parse().ok()
    }

    #[test]
    fn amounts_as_statements_write_them() {
        assert_eq!(money("1,500.00"), dec("1500.00"));
        assert_eq!(money("1,500"), dec("1500"));
        assert_eq!(money("1,234,567"), dec("1234567"));
        assert_eq!(money("1500,50"), dec("1500.50"));
        assert_eq!(money("-500.00"), dec("-500.00"));
        assert_eq!(money("700"), dec("700"));
        assert_eq!(money("seven"), None);
        assert_eq!(money("1,5,0"), None);
        assert_eq!(money("1e3"), None);
    }

    #[test]
    fn portal_export_with_description_lines() {
        let file = "\u{feff}Account Holder:,600123 - SUNCO\nTime Period:,From 01-01-2026 To 31-01-2026\n\n\
            Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Other Party Info,A/C No.\n\
            SAB1,2026-01-15 14:23:11,2026-01-15 14:23:11,Pay Bill,Completed,\"1,000.00\",,5000,2547****123 - JOHN,SHS-1\n\
            SAB2,15-01-2026 15:00:00,,Pay Bill,Failed,300.00,,,x,SHS-2\n\
            SAB3,2026-01-16 09:00:00,,Withdrawal,Completed,,-500.00,,,\n";
        let statement = read(file.as_bytes(), Tz::UTC).unwrap();
        assert_eq!(statement.format, Format::MpesaPortal);
        let [a, b, c] = statement.lines.as_slice() else { panic!("{:?}", statement.lines) };
        assert_eq!((a.line, a.movement.clone(), a.amount), (5, Movement::PaidIn, dec("1000.00")));
        assert_eq!(a.occurred_at.map(|t| rfc3339(&t)).as_deref(), Some("2026-01-15T14:23:11+03:00"));
        assert_eq!(b.movement, Movement::NotCompleted("Failed".into()));
        assert_eq!((c.line, c.movement.clone()), (7, Movement::NotPaidIn));
    }

    #[test]
    fn generic_with_semicolons_and_bad_lines() {
        let file = "Transaction_ID;Date;Account;Amount;Currency;Phone\nT1;2026-01-15;SHS-1;700;tzs;+255712000001\n";
        let statement = read(file.as_bytes(), Tz::UTC).unwrap();
        assert_eq!(statement.format, Format::Generic);
        assert_eq!(statement.lines.first().and_then(|l| l.currency.clone()).as_deref(), Some("TZS"));
        let bad = "date,transaction_id,account,amount\n2026-01-15,T1,SHS-1,7oo\n2026-13-01,T2,SHS-1,5\n";
        let Err(Unreadable(problems)) = read(bad.as_bytes(), Tz::UTC) else { panic!("read") };
        let found: Vec<(u64, &str, &str)> = problems.iter().map(|p| (p.line, p.column.as_str(), p.code)).collect();
        assert_eq!(found, [(2, "amount", "invalid_amount"), (3, "date", "invalid_date")]);
        assert!(matches!(read(b"a,b,c\n1,2,3\n", Tz::UTC), Err(Unreadable(p)) if p[0].code == "unknown_format"));
    }
}
