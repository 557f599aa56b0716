//! The operations dashboard over plain HTTP (no JavaScript): signing in and what each role
//! may open, the form token and confirmation on dead-letter actions, the referral list's
//! filters and keyset pages (checked against the referrals the test stored), the timeline,
//! and that no page shows a resident's data.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::network::{wait_for_status, ADMIN_TOKEN, OPS_TOKEN, PRIVACY_TOKEN};
use common::ops_pages::{assert_no_personal_data, Answer, Browser};
use common::partner_server::Reply;
use common::*;
use wijkbrug::store::dashboard::{PageStart, ReferralFilter, ReferralPage, Side};
use wijkbrug::store::{Intake, NewReferral, SharedCopy};
use wijkbrug_adapters::model::*;

/// The number in the first `class="num"` cell after `marker` (`data-status="routed"`).
fn figure_after(body: &str, marker: &str) -> u64 {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not on the page"));
    let rest = &body[at..];
    let cell = rest.find("class=\"num\"").expect("a number cell") + "class=\"num\">".len();
    let text: String = rest[cell..]
        .chars()
        .take_while(|c| *c != '<')
        .filter(|c| c.is_ascii_digit())
        .collect();
    text.parse().unwrap()
}

fn security_headers_are_set(a: &Answer) {
    let csp = a
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(a.headers.get("x-content-type-options").unwrap(), "nosniff");
}

#[tokio::test]
async fn staff_sign_in_and_each_role_opens_only_what_it_may() {
    let app = TestApp::spawn().await;
    let anonymous = Browser::new(&app.base);

    // No session: every page sends to the sign-in page, which comes back afterwards.
    for path in ["/ops/", "/ops/referrals?status=routed", "/ops/dead-letters"] {
        let a = anonymous.get(path).await;
        assert_eq!(a.status, 303, "{path}");
        let to = a.location().unwrap();
        assert!(to.starts_with("/ops/login?next="), "{to}");
    }
    assert_eq!(anonymous.get("/ops/live").await.status, 401);
    let login = anonymous.get("/ops/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("type=\"password\""));
    security_headers_are_set(&login);
    // The style sheet and script come from the gateway itself.
    let css = anonymous.get("/ops/assets/dashboard.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(anonymous.get("/ops/assets/dashboard.js").await.status, 200);
    assert_eq!(anonymous.get("/ops/assets/other.js").await.status, 404);

    // Unknown tokens and partners' tokens start no session.
    let mut b = Browser::new(&app.base);
    let wrong = b.sign_in("wbt_not-a-token").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get("set-cookie").is_none());
    assert!(wrong.body.contains("not a staff token"));
    let partner = b.sign_in(app.token("woonstad-noord")).await;
    assert_eq!(partner.status, 403);
    assert!(partner.headers.get("set-cookie").is_none());
    // A sign-in posted from another site is refused.
    let cross = b
        .post_with(
            "/ops/login",
            &[("token", OPS_TOKEN)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(cross.status, 403);
    assert!(cross.headers.get("set-cookie").is_none());
    // A made-up session cookie opens nothing.
    let mut forged = Browser::new(&app.base);
    forged.cookie = Some(format!("wijkbrug_ops={}", "ab".repeat(32)));
    assert_eq!(forged.get("/ops/").await.status, 303);

    // Operations: the dashboard, the dead-letter list without its buttons.
    let mut ops = Browser::new(&app.base);
    let signed = ops.sign_in(OPS_TOKEN).await;
    assert_eq!(signed.status, 303);
    assert_eq!(signed.location(), Some("/ops/"));
    let cookie = signed.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(OPS_TOKEN),
        "the cookie holds a session id, not the token"
    );
    let overview = ops.get("/ops/").await;
    assert_eq!(overview.status, 200);
    security_headers_are_set(&overview);
    assert!(overview.body.contains("demo-operations"));
    assert_eq!(ops.get("/ops/live").await.status, 200);
    assert_eq!(ops.get("/ops/referrals").await.status, 200);
    let dead = ops.get("/ops/dead-letters").await;
    assert_eq!(dead.status, 200);
    assert!(dead.body.contains("for administrators"));
    assert_eq!(ops.get("/ops/dead-letters/1/retry").await.status, 403);
    let csrf = overview.csrf().unwrap();
    assert_eq!(
        ops.post(
            "/ops/dead-letters/1/retry",
            &[("csrf", &csrf), ("confirm", "yes")]
        )
        .await
        .status,
        403
    );
    // After sign-in, the page that sent there.
    let later = Browser::new(&app.base);
    let a = later
        .post(
            "/ops/login",
            &[
                ("token", OPS_TOKEN),
                ("next", "/ops/referrals?status=routed"),
            ],
        )
        .await;
    assert_eq!(a.location(), Some("/ops/referrals?status=routed"));
    let a = later
        .post(
            "/ops/login",
            &[("token", OPS_TOKEN), ("next", "https://evil.example/")],
        )
        .await;
    assert_eq!(a.location(), Some("/ops/"));

    let second = Browser::signed_in(&app.base, OPS_TOKEN).await;

    // The privacy officer is a staff member, but not for this dashboard.
    let privacy = Browser::signed_in(&app.base, PRIVACY_TOKEN).await;
    for path in [
        "/ops/",
        "/ops/referrals",
        "/ops/dead-letters",
        "/ops/dead-letters/1/discard",
    ] {
        let a = privacy.get(path).await;
        assert_eq!(a.status, 403, "{path}");
        assert!(a.body.contains("Privacy officer"), "{path}");
    }
    assert_eq!(privacy.get("/ops/live").await.status, 403);

    // The administrator sees everything operations sees.
    let admin = Browser::signed_in(&app.base, ADMIN_TOKEN).await;
    assert_eq!(admin.get("/ops/").await.status, 200);
    assert_eq!(admin.get("/ops/dead-letters").await.status, 200);
    assert_eq!(admin.get("/ops/dead-letters/999/retry").await.status, 404);
    assert_eq!(admin.get("/ops/nothing-here").await.status, 404);

    // Signing out needs the form token; then the session is gone.
    let no_token = ops.post("/ops/logout", &[]).await;
    assert_eq!(no_token.status, 403);
    assert_eq!(ops.get("/ops/").await.status, 200, "still signed in");
    let out = ops.post("/ops/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/ops/login"));
    assert_eq!(ops.get("/ops/").await.status, 303);
    // Another session of the same account is not affected.
    assert_eq!(second.get("/ops/").await.status, 200);
    app.stop().await;
}

/// A sign-in from client `addr` (as a trusted proxy on 127.0.0.1 names it) with `token`.
async fn sign_in_from(b: &Browser, addr: &str, token: &str, proto: Option<&str>) -> Answer {
    let mut headers = vec![("x-forwarded-for", addr)];
    if let Some(p) = proto {
        headers.push(("x-forwarded-proto", p));
    }
    b.post_with("/ops/login", &[("token", token)], &headers)
        .await
}

fn retry_after(a: &Answer) -> u64 {
    a.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", a.headers))
}

fn cookie_of(a: &Answer) -> String {
    a.headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no cookie: {} {}", a.status, a.body))
        .to_owned()
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_client_and_in_all() {
    use wijkbrug::dashboard::sign_in_throttle::{CLIENT_BURST, GLOBAL_BURST};
    let app = TestApp::spawn_with(
        |_| {},
        &[("WIJKBRUG__SERVER__TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let b = Browser::new(&app.base);
    let guess = "wbt_a-guess-that-is-no-token";

    // One address: its failures are answered 401, then 429 with Retry-After on the form page.
    for _ in 0..CLIENT_BURST {
        assert_eq!(
            sign_in_from(&b, "198.51.100.7", guess, None).await.status,
            401
        );
    }
    let mut refused = None;
    for _ in 0..CLIENT_BURST {
        let a = sign_in_from(&b, "198.51.100.7", guess, None).await;
        if a.status == 429 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 401);
    }
    let refused = refused.expect("429 after the allowance of failed sign-ins");
    assert!(retry_after(&refused) >= 1);
    assert!(refused
        .body
        .contains("Too many failed sign-ins from your address"));
    assert!(refused.body.contains("type=\"password\""), "the form again");
    assert!(!refused.body.contains(guess));
    // Now even the right token from that address waits, and starts no session.
    let right = sign_in_from(&b, "198.51.100.7", OPS_TOKEN, None).await;
    assert_eq!(right.status, 429);
    assert!(right.headers.get("set-cookie").is_none());
    assert!(retry_after(&right) >= 1);
    // Another address behind the same proxy signs in; the proxy itself too.
    assert_eq!(
        sign_in_from(&b, "198.51.100.8", OPS_TOKEN, None)
            .await
            .status,
        303
    );
    assert_eq!(
        b.post("/ops/login", &[("token", OPS_TOKEN)]).await.status,
        303
    );

    // The ceiling for all addresses together: failures from many addresses are refused, even
    // from an address with failures to spare.
    let mut everyone = None;
    for i in 0..(GLOBAL_BURST * 3) {
        let addr = format!("203.0.113.{}", i / (CLIENT_BURST - 1));
        let a = sign_in_from(&b, &addr, guess, None).await;
        if a.status == 429 {
            everyone = Some(a);
            break;
        }
        assert_eq!(a.status, 401, "{addr}");
    }
    let everyone = everyone.expect("429 at the ceiling of failed sign-ins");
    assert!(
        everyone.body.contains("to this gateway"),
        "{}",
        everyone.body
    );
    assert!(retry_after(&everyone) >= 1);
    app.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_browser_came_over_https() {
    // Behind a trusted proxy: its X-Forwarded-Proto decides.
    let app = TestApp::spawn_with(
        |_| {},
        &[("WIJKBRUG__SERVER__TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let b = Browser::new(&app.base);
    let https = sign_in_from(&b, "198.51.100.7", OPS_TOKEN, Some("https")).await;
    assert!(
        cookie_of(&https).ends_with("; Secure"),
        "{}",
        cookie_of(&https)
    );
    let http = sign_in_from(&b, "198.51.100.7", OPS_TOKEN, Some("http")).await;
    assert!(!cookie_of(&http).contains("Secure"));
    let direct = b.post("/ops/login", &[("token", OPS_TOKEN)]).await;
    assert!(!cookie_of(&direct).contains("Secure"));
    // Signing out over https clears the cookie with the same attribute.
    let mut signed = Browser::new(&app.base);
    let a = signed.sign_in(OPS_TOKEN).await;
    assert_eq!(a.status, 303);
    let csrf = signed.get("/ops/").await.csrf().unwrap();
    let out = signed
        .post_with(
            "/ops/logout",
            &[("csrf", &csrf)],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(out.status, 303);
    assert!(cookie_of(&out).contains("Max-Age=0; Secure"));
    app.stop().await;

    // Without trusted proxies the header is anyone's and counts for nothing; an https public
    // address marks every session cookie Secure. Forwarded client addresses are not believed
    // either: failures under made-up addresses all count against the one connection.
    let app = TestApp::spawn_with(
        |_| {},
        &[(
            "WIJKBRUG__SERVER__PUBLIC_URL",
            "https://wijkbrug.example.nl",
        )],
    )
    .await;
    let b = Browser::new(&app.base);
    let a = sign_in_from(&b, "198.51.100.7", OPS_TOKEN, Some("http")).await;
    assert!(cookie_of(&a).ends_with("; Secure"), "{}", cookie_of(&a));
    let mut status = 0;
    for i in 0..20 {
        status = sign_in_from(&b, &format!("198.51.100.{i}"), "wbt_guess", None)
            .await
            .status;
        if status == 429 {
            break;
        }
    }
    assert_eq!(status, 429);
    assert_eq!(
        sign_in_from(&b, "192.0.2.99", OPS_TOKEN, None).await.status,
        429
    );
    app.stop().await;

    let app = TestApp::spawn_with(|_| {}, &[]).await;
    let b = Browser::new(&app.base);
    let a = sign_in_from(&b, "198.51.100.7", OPS_TOKEN, Some("https")).await;
    assert!(!cookie_of(&a).contains("Secure"), "{}", cookie_of(&a));
    app.stop().await;
}

/// Stores a referral from woonstad-noord for wijkteam-centrum that will become a dead letter
/// (the partner answers 400), and waits until it has.
async fn dead_letter(n: &common::network::Network, reference: &str) -> (ReferralId, i64) {
    n.wijkteam.script([Reply::Status(400)]);
    let mut signal: serde_json::Value = serde_json::from_slice(&rent_arrears_signal()).unwrap();
    signal["ID"] = reference.into();
    let res = n
        .app
        .post_message("woonstad-noord", "application/json", signal.to_string())
        .await;
    let v: serde_json::Value = res.json().await.unwrap();
    let id = ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap())
        .unwrap_or_else(|_| panic!("{v}"));
    wait_for_status(&n.app, id, ReferralStatus::Undeliverable).await;
    let row = n
        .app
        .running
        .state
        .store
        .dead_letters(None, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.item.referral == id)
        .unwrap()
        .row;
    (id, row)
}

#[tokio::test]
async fn dead_letters_are_retried_and_discarded_only_with_the_form_token_and_a_confirmation() {
    let n = common::network::start(&[]).await;
    let store = n.app.running.state.store.clone();
    let (id, row) = dead_letter(&n, "SIG-DL-1").await;

    let admin = Browser::signed_in(&n.app.base, ADMIN_TOKEN).await;
    let list = admin.get("/ops/dead-letters").await;
    assert_eq!(list.status, 200);
    assert!(list
        .attr_values("data-dead-letter")
        .contains(&row.to_string()));
    assert!(list.body.contains("HTTP 400"));
    assert_no_personal_data("the dead-letter list", &list.body);
    let path = format!("/ops/dead-letters/{row}/retry");
    let confirm = admin.get(&path).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("type=\"checkbox\""));
    assert_no_personal_data("the confirmation page", &confirm.body);
    let csrf = confirm.csrf().unwrap();

    let still_dead = || async { store.dead_letter_by_id(row).await.unwrap().is_some() };
    // Without the form token, with a wrong one, with another session's: refused.
    assert_eq!(admin.post(&path, &[("confirm", "yes")]).await.status, 403);
    assert_eq!(
        admin
            .post(&path, &[("csrf", "0123"), ("confirm", "yes")])
            .await
            .status,
        403
    );
    let other = Browser::signed_in(&n.app.base, ADMIN_TOKEN).await;
    let other_csrf = other.get("/ops/").await.csrf().unwrap();
    assert_ne!(other_csrf, csrf);
    assert_eq!(
        admin
            .post(&path, &[("csrf", &other_csrf), ("confirm", "yes")])
            .await
            .status,
        403
    );
    // From another site, even with the token: refused.
    assert_eq!(
        admin
            .post_with(
                &path,
                &[("csrf", &csrf), ("confirm", "yes")],
                &[("origin", "http://evil.example")],
            )
            .await
            .status,
        403
    );
    // Without the confirm box: asked again, nothing changed.
    let unconfirmed = admin.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(unconfirmed.status, 422);
    assert!(unconfirmed.body.contains("Tick the box"));
    // Operations staff cannot act, whatever they send.
    let ops = Browser::signed_in(&n.app.base, OPS_TOKEN).await;
    let ops_csrf = ops.get("/ops/").await.csrf().unwrap();
    assert_eq!(
        ops.post(&path, &[("csrf", &ops_csrf), ("confirm", "yes")])
            .await
            .status,
        403
    );
    assert!(still_dead().await, "no refused form changed anything");
    assert_eq!(
        store.referral_meta(id).await.unwrap().unwrap().status,
        ReferralStatus::Undeliverable
    );

    // Confirmed with the token: queued again, delivered (the partner answers 200 now), and
    // recorded under the administrator's name.
    let done = admin
        .post(&path, &[("csrf", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(
        done.location(),
        Some(format!("/ops/dead-letters?done=retry&row={row}").as_str())
    );
    wait_for_status(&n.app, id, ReferralStatus::Delivered).await;
    let timeline = store.referral_timeline(id, 100).await.unwrap().unwrap();
    assert!(timeline.steps.iter().any(
        |s| s.by == Actor::Operator("demo-admin".into()) && s.status == ReferralStatus::Routed
    ));
    // Twice is not possible: it is no dead letter any more.
    assert_eq!(
        admin
            .post(&path, &[("csrf", &csrf), ("confirm", "yes")])
            .await
            .status,
        404
    );

    // Discard: the referral is cancelled.
    let (id2, row2) = dead_letter(&n, "SIG-DL-2").await;
    let discard = format!("/ops/dead-letters/{row2}/discard");
    assert_eq!(admin.get(&discard).await.status, 200);
    assert_eq!(
        admin.post(&discard, &[("confirm", "yes")]).await.status,
        403
    );
    assert!(store.dead_letter_by_id(row2).await.unwrap().is_some());
    let done = admin
        .post(&discard, &[("csrf", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(done.status, 303);
    wait_for_status(&n.app, id2, ReferralStatus::Cancelled).await;
    let after = admin.get("/ops/dead-letters?done=discard&row=1").await;
    assert!(!after
        .attr_values("data-dead-letter")
        .contains(&row2.to_string()));

    // The overview's counts (kept by triggers) follow every change.
    let now = wijkbrug::store::now();
    let figures = store
        .ops_overview(now - Duration::hours(1), now)
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for r in [id, id2] {
        statuses.push(store.referral_meta(r).await.unwrap().unwrap().status);
    }
    for (status, count) in &figures.by_status {
        let want = statuses.iter().filter(|s| *s == status).count() as u64;
        assert_eq!(*count, want, "{status}");
    }
    assert_eq!(figures.dead_letters, 0);
    assert_eq!(figures.received_since, 2);
    let wijkteam = figures
        .partners
        .iter()
        .find(|p| p.recipient.as_str() == "wijkteam-centrum")
        .unwrap();
    assert_eq!(
        (wijkteam.delivered_since, wijkteam.dead, wijkteam.pending),
        (1, 0, 0)
    );
    n.app.stop().await;
}

/// What the test stored about one referral.
#[derive(Clone, Debug)]
struct Stored {
    id: ReferralId,
    sender: &'static str,
    receiver: Option<&'static str>,
    status: ReferralStatus,
    at: DateTime<Utc>,
}

const PARTNERS: [&str; 5] = [
    "woonstad-noord",
    "wijkteam-centrum",
    "huisarts-de-linde",
    "thuiszorg-oost",
    "werkplein",
];

fn sector_of(p: &str) -> Sector {
    match p {
        "woonstad-noord" => Sector::Housing,
        "wijkteam-centrum" => Sector::Welfare,
        "werkplein" => Sector::Employment,
        _ => Sector::Care,
    }
}

fn step(to: ReferralStatus, at: DateTime<Utc>, by: Actor) -> Transition {
    Transition {
        to,
        at,
        by,
        reason: None,
        reason_code: None,
    }
}

/// `count` referrals, three at each time (ties for the key's id part), ten seconds apart from
/// `base`, between the five demo partners, in five kinds of status. Every one carries the
/// test resident's data; declined ones a reason text with a name in it.
fn referrals(base: DateTime<Utc>, count: usize) -> (Vec<Stored>, Vec<NewReferral>) {
    let mut stored = Vec::new();
    let mut new = Vec::new();
    for i in 0..count {
        let at = base + Duration::seconds(10 * (i / 3) as i64);
        let sender = PARTNERS[i % 5];
        let receiver = PARTNERS[(i % 5 + 1 + (i / 5) % 4) % 5];
        let id = ReferralId::from_parts(at.timestamp_millis() as u64, rand::random());
        let kind = (i * 7 / 3) % 5;
        let request = common::request(
            sender,
            &format!("DASH-{i}"),
            "999900006",
            Target::Sector(sector_of(receiver)),
            false,
        );
        let mut history = StatusHistory::received(at, Actor::Partner(pid(sender)));
        let later = at + Duration::milliseconds(5);
        let status = if kind == 0 {
            let mut missing = step(ReferralStatus::ConsentMissing, later, Actor::Gateway);
            missing.reason_code = Some("no_consent".into());
            history.apply(missing).unwrap();
            ReferralStatus::ConsentMissing
        } else {
            history
                .apply(step(ReferralStatus::Routed, later, Actor::Gateway))
                .unwrap();
            if kind >= 2 {
                history
                    .apply(step(ReferralStatus::Delivered, later, Actor::Gateway))
                    .unwrap();
            }
            if kind == 3 {
                history
                    .apply(step(
                        ReferralStatus::Accepted,
                        later,
                        Actor::Partner(pid(receiver)),
                    ))
                    .unwrap();
            }
            if kind == 4 {
                let mut declined = step(
                    ReferralStatus::Declined,
                    later,
                    Actor::Partner(pid(receiver)),
                );
                declined.reason = Some(
                    ReasonText::parse("Mevrouw Berkhout woont niet meer op de Lindelaan").unwrap(),
                );
                declined.reason_code = Some("no_capacity".into());
                history.apply(declined).unwrap();
            }
            history.current()
        };
        let shared = (status != ReferralStatus::ConsentMissing).then(|| {
            let allowed: CategorySet = [DataCategory::Identity, DataCategory::Needs]
                .into_iter()
                .collect();
            let (minimised, removed) = request.minimise(allowed);
            SharedCopy {
                receiver: pid(receiver),
                request: minimised,
                categories: allowed,
                removed,
                consent: None,
            }
        });
        stored.push(Stored {
            id,
            sender,
            receiver: shared.as_ref().map(|_| receiver),
            status,
            at,
        });
        new.push(NewReferral {
            referral: Referral {
                id,
                request,
                history,
            },
            shared,
            outbox: vec![],
            consents: vec![],
        });
    }
    (stored, new)
}

/// The referrals a filter should list, newest first by (received_at, id).
fn expected(all: &[Stored], f: &ReferralFilter) -> Vec<ReferralId> {
    let on_side = |r: &Stored, p: &str| match f.side {
        Side::Either => r.sender == p || r.receiver == Some(p),
        Side::Sender => r.sender == p,
        Side::Receiver => r.receiver == Some(p),
    };
    let mut list: Vec<&Stored> = all
        .iter()
        .filter(|r| f.status.is_none_or(|s| r.status == s))
        .filter(|r| f.partner.as_ref().is_none_or(|p| on_side(r, p.as_str())))
        .filter(|r| {
            f.partners_any
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|p| on_side(r, p.as_str())))
        })
        .filter(|r| f.received_from.is_none_or(|t| r.at >= t))
        .filter(|r| f.received_until.is_none_or(|t| r.at < t))
        .collect();
    list.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
    list.into_iter().map(|r| r.id).collect()
}

/// Walks every page of `size` through the store, forward then back, checking the flags.
async fn walk_store(
    store: &dyn wijkbrug::store::Store,
    f: &ReferralFilter,
    size: usize,
) -> Vec<ReferralId> {
    let mut seen = Vec::new();
    let mut pages: Vec<ReferralPage> = Vec::new();
    let mut start = PageStart::Newest;
    loop {
        let page = store.referral_page(f, start, size).await.unwrap();
        assert!(page.items.len() <= size);
        assert_eq!(
            page.has_newer,
            !pages.is_empty(),
            "newer on page {}",
            pages.len()
        );
        seen.extend(page.items.iter().map(|m| m.id));
        let Some(last) = page.items.last() else {
            assert!(!page.has_older);
            break;
        };
        start = PageStart::OlderThan(last.key());
        let more = page.has_older;
        pages.push(page);
        if !more {
            break;
        }
    }
    // Back from the last page: the same pages, in reverse.
    if let Some(last_page) = pages.last() {
        let mut back = last_page.items.iter().map(|m| m.id).collect::<Vec<_>>();
        let mut first = last_page.items[0].key();
        let mut count = 1;
        loop {
            let page = store
                .referral_page(f, PageStart::NewerThan(first), size)
                .await
                .unwrap();
            if page.items.is_empty() {
                assert!(!page.has_newer);
                break;
            }
            assert!(page.has_older);
            let mut ids: Vec<ReferralId> = page.items.iter().map(|m| m.id).collect();
            ids.extend(back);
            back = ids;
            first = page.items[0].key();
            count += 1;
            if !page.has_newer {
                break;
            }
        }
        assert_eq!(back, seen, "paging back gives the same list");
        assert!(count >= pages.len());
    }
    seen
}

/// Walks every page of the HTML list from `query`, following the "Older" links; then back
/// with the "Newer" links to the first page.
async fn walk_pages(b: &Browser, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = format!("/ops/referrals?{query}");
    let mut pages = Vec::new();
    loop {
        let a = b.get(&path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_no_personal_data(&path, &a.body);
        ids.extend(a.attr_values("data-referral"));
        pages.push(a.attr_values("data-referral"));
        match a.link("next") {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
    // Back: the previous link of each page leads to the page before it.
    let mut at = pages.len() - 1;
    let mut a = b.get(&path).await;
    while let Some(prev) = a.link("prev") {
        a = b.get(&prev).await;
        at -= 1;
        assert_eq!(a.attr_values("data-referral"), pages[at], "page {at} again");
    }
    assert_eq!(at, 0, "the newer links lead back to the first page");
    ids
}

#[tokio::test]
async fn the_referral_list_filters_and_pages_by_key_exactly() {
    let app = TestApp::spawn().await;
    let store = app.running.state.store.clone();
    let base = (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let (all, new) = referrals(base, 120);
    for chunk in new.chunks(20) {
        store
            .intake(Intake {
                sender: pid("woonstad-noord"),
                idempotency_key: None,
                referrals: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let care = vec![pid("huisarts-de-linde"), pid("thuiszorg-oost")];
    let minute = |m: i64| base + Duration::minutes(m);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    let cases: Vec<(ReferralFilter, String)> = vec![
        (ReferralFilter::default(), String::new()),
        (
            ReferralFilter {
                status: Some(ReferralStatus::Routed),
                ..Default::default()
            },
            "status=routed".into(),
        ),
        (
            ReferralFilter {
                partner: Some(pid("wijkteam-centrum")),
                ..Default::default()
            },
            "partner=wijkteam-centrum".into(),
        ),
        (
            ReferralFilter {
                partner: Some(pid("wijkteam-centrum")),
                side: Side::Sender,
                ..Default::default()
            },
            "partner=wijkteam-centrum&side=sender".into(),
        ),
        (
            ReferralFilter {
                partner: Some(pid("wijkteam-centrum")),
                side: Side::Receiver,
                status: Some(ReferralStatus::Declined),
                ..Default::default()
            },
            "partner=wijkteam-centrum&side=receiver&status=declined".into(),
        ),
        (
            ReferralFilter {
                partners_any: Some(care.clone()),
                ..Default::default()
            },
            "sector=care".into(),
        ),
        (
            ReferralFilter {
                partners_any: Some(care.clone()),
                side: Side::Receiver,
                status: Some(ReferralStatus::Delivered),
                ..Default::default()
            },
            "sector=care&side=receiver&status=delivered".into(),
        ),
        (
            ReferralFilter {
                partner: Some(pid("woonstad-noord")),
                partners_any: Some(care.clone()),
                ..Default::default()
            },
            "partner=woonstad-noord&sector=care".into(),
        ),
        (
            ReferralFilter {
                received_from: Some(minute(2)),
                received_until: Some(minute(5)),
                ..Default::default()
            },
            format!("from={}&to={}", fmt(minute(2)), fmt(minute(5))),
        ),
        (
            ReferralFilter {
                received_from: Some(minute(1)),
                status: Some(ReferralStatus::ConsentMissing),
                partners_any: Some(care.clone()),
                side: Side::Sender,
                ..Default::default()
            },
            format!(
                "from={}&status=consent_missing&sector=care&side=sender",
                fmt(minute(1))
            ),
        ),
    ];
    let ops = Browser::signed_in(&app.base, OPS_TOKEN).await;
    for (filter, query) in &cases {
        let want = expected(&all, filter);
        assert!(!want.is_empty(), "{query}: the test data has matches");
        // Seven a page: pages end inside groups of three with one time.
        for size in [7, 50] {
            let got = walk_store(store.as_ref(), filter, size).await;
            assert_eq!(got, want, "store, {query}, {size} a page");
        }
        let q = if query.is_empty() {
            "size=25".to_owned()
        } else {
            format!("{query}&size=25")
        };
        let got = walk_pages(&ops, &q).await;
        let want: Vec<String> = want.iter().map(ToString::to_string).collect();
        assert_eq!(got, want, "pages, {query}");
    }

    // Bad filters name the field and the rule, and list nothing.
    for (query, field) in [
        ("status=lost", "status"),
        ("partner=Not%20An%20Id", "partner"),
        ("side=both", "side"),
        ("sector=finance", "sector"),
        ("from=yesterday", "from"),
        ("from=2026-05-05&to=2026-05-01", "to"),
        ("size=7", "size"),
        ("before=somewhere", "before"),
    ] {
        let a = ops.get(&format!("/ops/referrals?{query}")).await;
        assert_eq!(a.status, 422, "{query}");
        assert_eq!(
            a.attr_values("data-field"),
            vec![field.to_owned()],
            "{query}"
        );
        assert!(a.attr_values("data-referral").is_empty());
    }

    // The overview counts what the store holds.
    for page in ["/ops/", "/ops/live"] {
        let a = ops.get(page).await;
        assert_eq!(a.status, 200);
        assert_no_personal_data(page, &a.body);
        for status in ReferralStatus::ALL {
            let want = all.iter().filter(|r| r.status == status).count() as u64;
            let got = figure_after(&a.body, &format!("data-status=\"{}\"", status.code()));
            assert_eq!(got, want, "{page}: {status}");
        }
    }

    // A declined referral's timeline: its steps and reason code, never its reason text.
    let declined = all
        .iter()
        .find(|r| r.status == ReferralStatus::Declined)
        .unwrap();
    let t = ops.get(&format!("/ops/referrals/{}", declined.id)).await;
    assert_eq!(t.status, 200);
    assert_eq!(t.attr_values("data-step"), vec!["0", "1", "2", "3"]);
    assert!(t.body.contains("no_capacity"));
    assert!(t.body.contains("Declined"));
    assert_no_personal_data("a declined referral's timeline", &t.body);
    assert!(!t.body.contains("woont niet meer"));
    for r in all.iter().step_by(11) {
        let a = ops.get(&format!("/ops/referrals/{}", r.id)).await;
        assert_eq!(a.status, 200);
        assert_no_personal_data("a timeline", &a.body);
        assert!(a.body.contains(r.sender));
    }
    assert_eq!(ops.get("/ops/referrals/not-an-id").await.status, 404);
    let unknown = ReferralId::from_parts(1_700_000_000_000, [9; 10]);
    assert_eq!(
        ops.get(&format!("/ops/referrals/{unknown}")).await.status,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn the_flows_page_draws_referrals_between_sectors_for_a_period() {
    let n = common::network::start(&[]).await;
    let signal = common::rent_arrears_signal();
    let res = n
        .app
        .post_message("woonstad-noord", "application/json", signal)
        .await;
    assert_eq!(res.status(), 202);
    let v: serde_json::Value = res.json().await.unwrap();
    let id = ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap();
    common::network::wait_for_status(&n.app, id, ReferralStatus::Delivered).await;

    let mut b = Browser::new(&n.app.base);
    assert_eq!(
        b.get("/ops/flows").await.status,
        303,
        "no session: sign in first"
    );
    b.sign_in(common::network::OPS_TOKEN).await;
    let page = b.get("/ops/flows").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches("<svg").count(), 2, "two charts");
    assert!(
        page.body.contains("Referrals between sectors"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 referrals received"), "{}", page.body);
    // Housing to welfare, drawn as a band.
    assert!(
        page.body.contains("housing → welfare: 1 referral"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("style=\""),
        "the CSP allows no style attributes"
    );
    assert_no_personal_data("the flows page", &page.body);

    // A period without referrals draws the empty pictures; a bad one is named.
    let empty = b.get("/ops/flows?from=2020-01-01&until=2020-01-31").await;
    assert_eq!(empty.status, 200);
    assert!(
        empty.body.contains("0 referrals received"),
        "{}",
        empty.body
    );
    for bad in [
        "from=yesterday",
        "until=2026-13-01",
        "from=2026-11-10&until=2026-11-01",
    ] {
        let a = b.get(&format!("/ops/flows?{bad}")).await;
        assert_eq!(a.status, 422, "{bad}");
        assert!(a.body.contains("cannot be shown"), "{bad}");
    }
    n.app.stop().await;
}

/// The row of instance `id` in the overview's instances table.
fn instance_row<'b>(body: &'b str, id: &str) -> Option<&'b str> {
    let at = body.find(&format!("data-instance=\"{id}\""))?;
    let rest = &body[at..];
    Some(&rest[..rest.find("</tr>").unwrap_or(rest.len())])
}

#[tokio::test]
async fn the_overview_lists_the_gateway_instances_and_whether_they_are_alive() {
    let app = TestApp::spawn_with(|_| {}, &[("WIJKBRUG__DELIVERY__WORKER_ID", "gw-dash-1")]).await;
    if app.db.is_postgres() {
        // Another instance that stopped heartbeating five minutes ago (killed), and one
        // two hours ago (long gone: not listed).
        let raw = app.raw().await;
        raw.execute(
            "INSERT INTO instances (id, version, host, started_at, last_seen) VALUES \
             ('gw-killed', '0.0.1', 'other-host', now() - interval '1 hour', \
              now() - interval '5 minutes'), \
             ('gw-gone', '0.0.1', 'old-host', now() - interval '3 hours', \
              now() - interval '2 hours')",
            &[],
        )
        .await;
        raw.close().await;
    }
    let b = Browser::signed_in(&app.base, OPS_TOKEN).await;
    for path in ["/ops/", "/ops/live"] {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let me = instance_row(&page.body, "gw-dash-1").unwrap_or_else(|| panic!("{path}"));
        assert!(me.contains("data-alive=\"true\""), "{me}");
        assert!(me.contains(env!("CARGO_PKG_VERSION")), "{me}");
        let host = wijkbrug::config::host_name().unwrap_or_else(|| "—".to_owned());
        assert!(me.contains(&host), "{me}");
        let ago: u64 = page
            .attr_values("data-seen-ago")
            .first()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ago <= wijkbrug::instances::LIVE_WITHIN.as_secs(), "{ago}");
        if app.db.is_postgres() {
            let killed = instance_row(&page.body, "gw-killed").unwrap();
            assert!(killed.contains("data-alive=\"false\""), "{killed}");
            assert!(killed.contains("other-host") && killed.contains("not seen"));
            assert!(instance_row(&page.body, "gw-gone").is_none());
        } else {
            // SQLite: one instance, this one.
            assert_eq!(page.attr_values("data-instance"), ["gw-dash-1"]);
        }
    }
}

#[tokio::test]
async fn a_session_made_through_one_instance_is_accepted_by_another_on_the_same_database() {
    // Two gateways on one PostgreSQL database, as behind a load balancer.
    let first = TestApp::spawn_on(
        common::db::TestDb::postgres().await,
        |_| {},
        &[("WIJKBRUG__DELIVERY__WORKER_ID", "gw-one")],
    )
    .await;
    let second = TestApp::spawn_beside(&first, "gw-two").await;

    let on_first = Browser::signed_in(&first.base, ADMIN_TOKEN).await;
    let cookie = on_first.cookie.clone().unwrap();
    let id = cookie.split_once('=').unwrap().1.to_owned();
    let mut on_second = Browser::new(&second.base);
    on_second.cookie = Some(cookie);

    // The second instance knows the session, and lists both instances.
    let page = on_second.get("/ops/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for gw in ["gw-one", "gw-two"] {
        let row = instance_row(&page.body, gw).unwrap_or_else(|| panic!("{gw}"));
        assert!(row.contains("data-alive=\"true\""), "{row}");
    }
    assert_eq!(on_second.get("/ops/live").await.status, 200);

    // The store has the session under the SHA-256 of its id, never the id itself.
    let raw = second.raw().await;
    let (by_hash,): (i64,) = raw
        .fetch_one(
            "SELECT count(*) FROM dashboard_sessions \
             WHERE id_hash = sha256(convert_to($1, 'UTF8'))",
            &[id.clone().into()],
        )
        .await;
    assert_eq!(by_hash, 1);
    let (leaks,): (i64,) = raw
        .fetch_one(
            "SELECT count(*) FROM dashboard_sessions WHERE encode(id_hash, 'hex') = $1 \
             OR csrf = $1 OR staff = $1 OR position($1 in role) > 0",
            &[id.clone().into()],
        )
        .await;
    assert_eq!(leaks, 0);
    raw.close().await;

    // The form token is the session's on both instances: signing out through the second
    // ends the session on the first too.
    let csrf = page.csrf().expect("a form token on the page");
    let wrong = on_second
        .post("/ops/logout", &[("csrf", "not-the-token")])
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(on_first.get("/ops/").await.status, 200);
    let out = on_second.post("/ops/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    for b in [&on_first, &on_second] {
        let a = b.get("/ops/").await;
        assert_eq!(a.status, 303, "{}", b.base);
        assert!(a.location().unwrap().starts_with("/ops/login"));
    }
    second.stop().await;
    first.stop().await;
}
