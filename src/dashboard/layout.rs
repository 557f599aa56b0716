//! The page shell (header, navigation, account, footer) and the small pieces every page uses:
//! times, status badges, error kinds. All markup goes through maud, which escapes every value.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use wijkbrug_adapters::model::{ReferralStatus, Sector};

use super::session::Session;
use crate::access::Role;
use crate::config::Config;

/// The navigation's entries: path, label.
const NAV: [(&str, &str); 4] = [
    ("/ops/", "Overview"),
    ("/ops/referrals", "Referrals"),
    ("/ops/flows", "Flows"),
    ("/ops/dead-letters", "Dead letters"),
];

/// A whole page: `active` is the navigation entry it belongs to (its path), if any.
pub fn page(title: &str, session: Option<&Session>, active: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · wijkbrug operations" }
                link rel="stylesheet" href="/ops/assets/dashboard.css";
                script src="/ops/assets/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    div.topbar-inner {
                        a.brand href="/ops/" {
                            span.brand-mark aria-hidden="true" { "wb" }
                            span.brand-name { "wijkbrug" }
                            span.brand-sub { "operations" }
                        }
                        @if let Some(s) = session {
                            nav aria-label="Dashboard" {
                                ul {
                                    @for (path, label) in NAV {
                                        li {
                                            a href=(path) aria-current=[(active == Some(path)).then_some("page")] { (label) }
                                        }
                                    }
                                }
                            }
                            div.account {
                                span.account-name { (s.name.as_str()) }
                                span.role { (role_label(s.role)) }
                                form method="post" action="/ops/logout" {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button.link-button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
                footer.footer {
                    "Metadata only: ids, partners, sectors, statuses, times and error kinds. "
                    "Times are UTC."
                }
            }
        }
    }
}

/// A page that says why something cannot be shown (403, 404, a bad filter, ...).
pub fn message_page(
    title: &str,
    session: Option<&Session>,
    text: &str,
    back: Option<(&str, &str)>,
) -> Markup {
    page(
        title,
        session,
        None,
        html! {
            section.panel.message {
                h1 { (title) }
                p { (text) }
                @if let Some((href, label)) = back {
                    p { a.button href=(href) { (label) } }
                }
            }
        },
    )
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Operations => "Operations",
        Role::PrivacyOfficer => "Privacy officer",
        Role::Admin => "Administrator",
    }
}

/// `2026-11-22 14:03:05` in a `<time>` element.
pub fn when(t: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (t.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

/// How long ago `t` was, in words ("just now", "4 min ago", "3 h ago", "2 d ago").
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    ago_secs((now - t).num_seconds())
}

/// `secs` seconds ago, in words (as [`ago`]).
pub fn ago_secs(secs: i64) -> String {
    match secs {
        s if s < 5 => "just now".to_owned(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A duration in words ("45 s", "12 min", "3 h 5 min", "2 d 4 h").
pub fn duration_words(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A status as people read it.
pub fn status_label(s: ReferralStatus) -> &'static str {
    match s {
        ReferralStatus::Received => "Received",
        ReferralStatus::Routed => "Routed",
        ReferralStatus::Delivered => "Delivered",
        ReferralStatus::Accepted => "Accepted",
        ReferralStatus::Declined => "Declined",
        ReferralStatus::InProgress => "In progress",
        ReferralStatus::Completed => "Completed",
        ReferralStatus::Cancelled => "Cancelled",
        ReferralStatus::ConsentMissing => "Consent missing",
        ReferralStatus::Undeliverable => "Undeliverable",
    }
}

/// The tone a status is shown in: under way, done, stopped, or needing attention.
pub fn status_tone(s: ReferralStatus) -> &'static str {
    match s {
        ReferralStatus::Received | ReferralStatus::Routed | ReferralStatus::Delivered => {
            "tone-flow"
        }
        ReferralStatus::Accepted | ReferralStatus::InProgress => "tone-work",
        ReferralStatus::Completed => "tone-done",
        ReferralStatus::Declined | ReferralStatus::Cancelled => "tone-muted",
        ReferralStatus::ConsentMissing => "tone-warn",
        ReferralStatus::Undeliverable => "tone-bad",
    }
}

/// A status badge (the text says it; the colour only helps).
pub fn status_badge(s: ReferralStatus) -> Markup {
    html! { span class={ "badge " (status_tone(s)) } { (status_label(s)) } }
}

pub fn sector_label(s: Sector) -> &'static str {
    match s {
        Sector::Housing => "Housing",
        Sector::Welfare => "Welfare",
        Sector::Care => "Care",
        Sector::Employment => "Employment",
    }
}

/// A partner by its id, with its configured name as a tooltip and its sector.
pub fn partner(config: &Config, id: &str) -> Markup {
    match config.partners.get(id) {
        Some(p) => html! {
            span.partner title=(p.name) { (id) }
        },
        None => html! { span.partner { (id) } },
    }
}

/// The sector of a configured partner.
pub fn partner_sector(config: &Config, id: &str) -> Option<Sector> {
    config.partners.get(id).map(|p| p.sector)
}

/// The kind of a delivery error the gateway recorded: the HTTP status ("HTTP 503"), or one
/// of a few fixed kinds. Never the text itself, so nothing a partner said reaches a page.
pub fn error_kind(error: &str) -> String {
    let e = error.trim();
    if let Some(rest) = e.strip_prefix("too old") {
        let inner = rest
            .split_once('(')
            .map(|(_, r)| r.trim_end_matches(')'))
            .unwrap_or_default();
        return if inner.is_empty() {
            "too old".to_owned()
        } else {
            format!("too old ({})", error_kind(inner))
        };
    }
    if let Some(code) = e.strip_prefix("HTTP ").and_then(|r| r.get(..3)) {
        if code.bytes().all(|b| b.is_ascii_digit()) {
            return format!("HTTP {code}");
        }
    }
    const FIXED: [&str; 7] = [
        "connection refused",
        "connection reset",
        "connection aborted",
        "connection closed before an answer",
        "host not found",
        "connection failed",
        "unreadable response",
    ];
    if let Some(kind) = FIXED.iter().find(|k| e.starts_with(**k)) {
        return (*kind).to_owned();
    }
    if e.starts_with("timed out") {
        return "timeout".to_owned();
    }
    if e.starts_with("cannot be written as") {
        return "cannot be written in the partner's format".to_owned();
    }
    if e.is_empty() {
        return "—".to_owned();
    }
    "refused by the gateway".to_owned()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_keep_codes_and_fixed_words_only() {
        assert_eq!(error_kind("HTTP 503 Service Unavailable"), "HTTP 503");
        assert_eq!(error_kind("HTTP 400"), "HTTP 400");
        assert_eq!(error_kind("timed out after 10s"), "timeout");
        assert_eq!(error_kind("connection refused"), "connection refused");
        assert_eq!(
            error_kind("too old: still failing 1d after it was queued (HTTP 502 Bad Gateway)"),
            "too old (HTTP 502)"
        );
        assert_eq!(
            error_kind("the recipient may not see this referral"),
            "refused by the gateway"
        );
        assert_eq!(
            error_kind("Anna Berkhout, Lindelaan 12"),
            "refused by the gateway"
        );
        assert_eq!(error_kind(""), "—");
    }

    #[test]
    fn durations_and_ages_read_as_words() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, now - chrono::Duration::minutes(4)), "4 min ago");
        assert_eq!(duration_words(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(duration_words(-5), "0 s");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query("/ops/referrals?status=routed&x=a b"),
            "%2Fops%2Freferrals%3Fstatus%3Drouted%26x%3Da%20b"
        );
    }
}
