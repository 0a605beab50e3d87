//! The little HTML the server writes itself (the printable receipt and statement): every value goes through
//! [`escape`].

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A printable page about a customer: its only style is `style` (the Content-Security-Policy allows exactly
/// it, by its hash, and nothing else), and no shared cache nor the next site's Referer sees it.
pub fn printable(page: String, style: &str) -> Response {
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()))
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // A customer's name and phone: not for shared caches, nor for the next site's Referer.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `text` safe inside an HTML element or a quoted attribute value: `& < > " '` become character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A token code as a customer types it: digits in groups of three from the left (`123 456 789 0`); a code
/// that is not all digits is kept as it is.
pub fn grouped_code(code: &str) -> String {
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) {
        return code.to_owned();
    }
    let mut out = String::with_capacity(code.len() + code.len() / 3);
    for (i, c) in code.chars().enumerate() {
        if i > 0 && i % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters_html_gives_meaning_to() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("Amina Juma, Kijiji"), "Amina Juma, Kijiji");
        assert_eq!(escape("&amp;"), "&amp;amp;", "escaped twice is escaped twice");
    }

    #[test]
    fn codes_are_grouped_by_three_digits() {
        assert_eq!(grouped_code("1234567890"), "123 456 789 0");
        assert_eq!(grouped_code("123456789"), "123 456 789");
        assert_eq!(grouped_code("12"), "12");
        assert_eq!(grouped_code(""), "");
        assert_eq!(grouped_code("12-34"), "12-34");
    }
}
