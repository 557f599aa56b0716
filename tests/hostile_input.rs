//! Hostile input at the HTTP edge: a corpus of requests a careless or malicious client may send
//! (XML with a DTD, external entities or an entity-expansion bomb; deeply nested JSON; bodies
//! over the limit, slow or with a lying Content-Length; wrong Content-Type; invalid UTF-8; a
//! CSV of a million columns; line breaks in partner-controlled strings; traversal and odd
//! characters in ids; malformed heads), most of them over raw TCP. Each must be answered 4xx
//! as problem+json naming the rule, or have its connection closed, while a normal referral is
//! served at the same time; afterwards the store holds exactly what it held before (row counts
//! and the audit chain's head) plus that one referral.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{demo_staff_tokens, root, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short server-side limits, so the slow cases end quickly.
const HEADER_READ_TIMEOUT_SECS: &str = "2";
const BODY_READ_TIMEOUT_SECS: &str = "2";
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A hang guard for one exchange (the server's own limits end every case far sooner).
const GUARD: Duration = Duration::from_secs(90);

async fn spawn() -> TestApp {
    TestApp::spawn_with(
        |config: &Path| {
            // The corpus sends more requests a second than a partner's demo rate allows; the
            // referral sent during the attack waits in a mailbox (no delivery attempts, whose
            // audit events would blur the comparison).
            for entry in std::fs::read_dir(config.join("partners")).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let text = text
                    .replace(
                        "[inbound_rate]\nper_second = 50\nburst = 100",
                        "[inbound_rate]\nper_second = 100000\nburst = 100000",
                    )
                    .replace(
                        "[delivery]\nkind = \"push\"\nurl = \"http://127.0.0.1:18082/inbox\"",
                        "[delivery]\nkind = \"mailbox\"",
                    )
                    .replace("[delivery.auth]\nkind = \"none\"\n", "");
                std::fs::write(&path, text).unwrap();
            }
        },
        &[
            (
                "WIJKBRUG__SERVER__HEADER_READ_TIMEOUT_SECS",
                HEADER_READ_TIMEOUT_SECS,
            ),
            (
                "WIJKBRUG__SERVER__BODY_READ_TIMEOUT_SECS",
                BODY_READ_TIMEOUT_SECS,
            ),
        ],
    )
    .await
}

/// What came back on a connection.
#[derive(Debug)]
struct Answer {
    /// The status of the first response, if one came before the connection closed.
    status: Option<u16>,
    /// Its head, lower-cased.
    head: String,
    body: Vec<u8>,
    /// Every status line seen (pipelined leftovers get answers of their own).
    statuses: Vec<u16>,
}

impl Answer {
    fn from_bytes(raw: &[u8]) -> Self {
        let mut statuses = Vec::new();
        let text = String::from_utf8_lossy(raw);
        for line in text.split("\r\n") {
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                if let Some(code) = rest.get(..3).and_then(|c| c.parse().ok()) {
                    statuses.push(code);
                }
            }
        }
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(i) => (&raw[..i], raw[i + 4..].to_vec()),
            None => (raw, Vec::new()),
        };
        let head = String::from_utf8_lossy(head).to_ascii_lowercase();
        let status = head
            .strip_prefix("http/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok());
        // Only the first response's body (a second one may follow on the same connection).
        let body = match (head_value(&head, "content-length"), status) {
            (Some(n), Some(_)) => body[..n.parse::<usize>().unwrap().min(body.len())].to_vec(),
            _ => body,
        };
        Self {
            status,
            head,
            body,
            statuses,
        }
    }
}

fn head_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// Sends `request` (ignoring a write the server cut short: it may answer and close before a
/// large body is in) and reads until the server closes the connection.
async fn exchange(app: &TestApp, request: &[u8]) -> Answer {
    let mut conn = TcpStream::connect(app.running.addr).await.unwrap();
    let (mut rd, mut wr) = conn.split();
    let write = async {
        let _ = wr.write_all(request).await;
        let _ = wr.flush().await;
    };
    let read = async {
        let mut raw = Vec::new();
        let _ = rd.read_to_end(&mut raw).await;
        raw
    };
    let ((), raw) = tokio::time::timeout(GUARD, async { tokio::join!(write, read) })
        .await
        .expect("the server neither answered nor closed the connection");
    Answer::from_bytes(&raw)
}

/// Sends `head` at once and then `body` in pieces of `piece` bytes every `pause`, until the
/// server answers or closes; returns what it answered.
async fn trickle(
    app: &TestApp,
    head: Vec<u8>,
    body: Vec<u8>,
    piece: usize,
    pause: Duration,
) -> Answer {
    let mut conn = TcpStream::connect(app.running.addr).await.unwrap();
    let (mut rd, mut wr) = conn.split();
    let write = async {
        if wr.write_all(&head).await.is_err() {
            return;
        }
        for chunk in body.chunks(piece.max(1)) {
            tokio::time::sleep(pause).await;
            if wr.write_all(chunk).await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
        // Everything sent: keep the connection open (a lying Content-Length promised more).
        std::future::pending::<()>().await;
    };
    let read = async {
        let mut raw = Vec::new();
        let _ = rd.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(GUARD, async {
        tokio::select! {
            () = write => unreachable!("the writer never finishes"),
            raw = read => raw,
        }
    })
    .await
    .expect("the server neither answered nor closed a slow connection");
    Answer::from_bytes(&raw)
}

/// One HTTP/1.1 request with `Connection: close`.
fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// How a case must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status as problem+json of this `type` (after `urn:wijkbrug:problem:`) whose text
    /// (detail, or an error's location and rule) contains the last string.
    Problem(u16, &'static str, &'static str),
    /// Refused by the HTTP layer: this 4xx (or none) and the connection closed.
    Closed(Option<u16>),
}

struct Case {
    name: &'static str,
    request: Vec<u8>,
    expect: Expect,
}

/// Whether `answer` is what `expect` says; the reason when it is not.
fn verdict(name: &str, answer: &Answer, expect: Expect) -> Result<(), String> {
    let shown = || {
        format!(
            "{}\n{}",
            answer.head,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(2000)])
        )
    };
    if answer
        .statuses
        .iter()
        .any(|s| (200..300).contains(s) || *s >= 500)
    {
        return Err(format!(
            "{name}: answered {:?}\n{}",
            answer.statuses,
            shown()
        ));
    }
    match expect {
        Expect::Problem(status, kind, text) => {
            if answer.status != Some(status) {
                return Err(format!("{name}: expected {status}, got\n{}", shown()));
            }
            if !answer
                .head
                .contains("content-type: application/problem+json")
            {
                return Err(format!("{name}: not problem+json\n{}", shown()));
            }
            let p: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("{name}: not JSON ({e})\n{}", shown()))?;
            if p["type"] != format!("urn:wijkbrug:problem:{kind}") {
                return Err(format!("{name}: expected type {kind}\n{}", shown()));
            }
            let mut said = p["detail"].as_str().unwrap_or_default().to_owned();
            for e in p["errors"].as_array().into_iter().flatten() {
                said.push_str(&format!("\n{} {}", e["location"], e["rule"]));
            }
            if !said.contains(text) {
                return Err(format!("{name}: expected {text:?} in\n{}", shown()));
            }
        }
        Expect::Closed(status) => {
            if answer.status != status {
                return Err(format!(
                    "{name}: expected {status:?} and close, got\n{}",
                    shown()
                ));
            }
        }
    }
    Ok(())
}

fn check(name: &str, answer: &Answer, expect: Expect) {
    if let Err(e) = verdict(name, answer, expect) {
        panic!("{e}");
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap()
}

fn nested(open: &str, n: usize) -> Vec<u8> {
    open.repeat(n).into_bytes()
}

/// The corpus of single-request cases (every one refused without a change to the store).
fn corpus(app: &TestApp) -> Vec<Case> {
    let gp = Some(app.token("huisarts-de-linde"));
    let wmo = Some(app.token("wijkteam-centrum"));
    let housing_token = app.token("woonstad-noord");
    let housing = Some(housing_token);
    let work = Some(app.token("werkplein"));
    let staff = demo_staff_tokens();
    let admin = Some(staff["demo-admin"].as_str());
    let privacy = Some(staff["demo-privacy-officer"].as_str());
    let gp_path = "/v1/partners/huisarts-de-linde/messages";
    let wmo_path = "/v1/partners/wijkteam-centrum/messages";
    let housing_path = "/v1/partners/woonstad-noord/messages";
    let work_path = "/v1/partners/werkplein/messages";
    let xml = Some("application/xml");
    let json = Some("application/json");
    let fhir = Some("application/fhir+json");
    let csv = Some("text/csv");
    let post = |path: &str, token, ct, body: &[u8]| request("POST", path, token, ct, body);
    let get = |path: &str, token| request("GET", path, token, None, b"");
    let wmo315 = String::from_utf8(fixture("../shared/standards/iwmo-3.2/WMO315.xml")).unwrap();
    let signal = String::from_utf8(fixture(
        "adapters/tests/fixtures/housing/accept/signal-single.json",
    ))
    .unwrap();
    let gp_referral = String::from_utf8(fixture(
        "adapters/tests/fixtures/care/referral-bsn-uri.json",
    ))
    .unwrap();
    let csv_header = "soort;referentie;datum;doel;urgentie;bsn;achternaam;leefgebieden\n";
    let long_id = "a".repeat(64 * 1024);
    let mut million_columns = csv_header.as_bytes().to_vec();
    million_columns.extend(std::iter::repeat_n(b';', 1_000_000));
    million_columns.push(b'\n');
    let lol = {
        let mut s =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            s.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">\n",
                format!("&{prev};").repeat(10)
            ));
        }
        s.push_str("]>\n<wmo315:Bericht xmlns:wmo315=\"http://www.istandaarden.nl/iwmo/3_2/wmo315/schema\">&lol9;</wmo315:Bericht>\n");
        s
    };
    let mut deep_xml = String::from("<?xml version=\"1.0\"?>\n<wmo315:Bericht xmlns:wmo315=\"http://www.istandaarden.nl/iwmo/3_2/wmo315/schema\">");
    deep_xml.push_str(&"<wmo315:X>".repeat(100_000));
    let mut invalid_utf8_json = br#"{"ID":"S-1","client":{"achternaam":""#.to_vec();
    invalid_utf8_json.extend_from_slice(&[0xC3, 0x28, 0xFF]);
    invalid_utf8_json.extend_from_slice(br#""}}"#);
    let mut invalid_utf8_xml = wmo315.clone().into_bytes();
    let at = invalid_utf8_xml.len() / 2;
    invalid_utf8_xml.splice(at..at, [0xFE, 0xFF, 0xC0]);
    let mut invalid_utf8_csv = csv_header.as_bytes().to_vec();
    invalid_utf8_csv.extend_from_slice(
        b"verwijzing;WP-1;02-11-2026 10:30;wijkteam-centrum;regulier;999900006;B\xFFerg;werk:2\n",
    );

    vec![
        // --- XML: DTDs, entities, bombs ---
        Case {
            name: "xml with an internal DTD",
            request: post(wmo_path, wmo, xml, &fixture("adapters/tests/fixtures/welfare/refused/doctype.xml")),
            expect: Expect::Problem(400, "invalid-message", "DOCTYPE"),
        },
        Case {
            name: "xml external entity (file)",
            request: post(wmo_path, wmo, xml, &fixture("adapters/tests/fixtures/welfare/refused/external-entity.xml")),
            expect: Expect::Problem(400, "invalid-message", "DOCTYPE"),
        },
        Case {
            name: "xml external parameter entity (network)",
            request: post(wmo_path, wmo, xml, b"<?xml version=\"1.0\"?>\n<!DOCTYPE b [<!ENTITY % x SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %x;]>\n<b/>"),
            expect: Expect::Problem(400, "invalid-message", "DOCTYPE"),
        },
        Case {
            name: "xml billion laughs (10^9 expansions)",
            request: post(wmo_path, wmo, xml, lol.as_bytes()),
            expect: Expect::Problem(400, "invalid-message", "DOCTYPE"),
        },
        Case {
            name: "xml entity declared after the root (no DTD)",
            request: post(wmo_path, wmo, xml, &fixture("adapters/tests/fixtures/welfare/refused/undeclared-entity.xml")),
            expect: Expect::Problem(422, "invalid-message", "well-formed"),
        },
        Case {
            name: "xml nested 100k deep",
            request: post(wmo_path, wmo, xml, deep_xml.as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "nest"),
        },
        Case {
            name: "xml with invalid UTF-8",
            request: post(wmo_path, wmo, xml, &invalid_utf8_xml),
            expect: Expect::Problem(400, "invalid-message", "UTF-8"),
        },
        Case {
            name: "xml declared as another encoding",
            request: post(wmo_path, wmo, xml, wmo315.replacen("UTF-8", "ISO-8859-1", 1).as_bytes()),
            expect: Expect::Problem(400, "invalid-message", "UTF-8"),
        },
        // --- JSON: nesting, encoding, sizes ---
        Case {
            name: "fhir 100k nested arrays",
            request: post(gp_path, gp, fhir, &nested("[", 100_000)),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "fhir 100k nested objects",
            request: post(gp_path, gp, fhir, &nested("{\"a\":", 100_000)),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "housing 100k nested arrays",
            request: post(housing_path, housing, json, &nested("[", 100_000)),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "housing signal nested deep inside a field",
            request: post(housing_path, housing, json, &[b"{\"ID\":".as_slice(), &nested("[", 100_000)].concat()),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "consent 100k nested arrays",
            request: post("/v1/consents", gp, json, &nested("[", 100_000)),
            expect: Expect::Problem(400, "bad-request", "JSON"),
        },
        Case {
            name: "fhir consent 100k nested objects",
            request: post("/v1/consents", gp, fhir, &nested("{\"a\":", 100_000)),
            expect: Expect::Problem(422, "invalid-request", "JSON"),
        },
        Case {
            name: "admin consent import 100k nested arrays",
            request: post("/v1/admin/consents", admin, json, &nested("[", 100_000)),
            expect: Expect::Problem(400, "bad-request", "JSON"),
        },
        Case {
            name: "housing signal with invalid UTF-8",
            request: post(housing_path, housing, json, &invalid_utf8_json),
            expect: Expect::Problem(400, "invalid-message", "UTF-8"),
        },
        Case {
            name: "fhir with invalid UTF-8",
            request: post(gp_path, gp, fhir, &[gp_referral.as_bytes(), b"\xFF\xFE"].concat()),
            expect: Expect::Problem(400, "invalid-message", "UTF-8"),
        },
        Case {
            name: "fhir with a 7 MB string",
            request: post(gp_path, gp, fhir, format!("{{\"resourceType\":\"Task\",\"id\":\"{}\"}}", "x".repeat(7 << 20)).as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "/"),
        },
        Case {
            name: "fhir with a number out of range",
            request: post(gp_path, gp, fhir, b"{\"resourceType\":\"Task\",\"x\":1e999999}"),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "fhir with a NUL in a string",
            request: post(gp_path, gp, fhir, compact(&gp_referral).replacen("\"999900006\"", "\"999900006\\u0000\"", 1).as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "identifier"),
        },
        // --- CSV ---
        Case {
            name: "csv with a million columns",
            request: post(work_path, work, csv, &million_columns),
            expect: Expect::Problem(422, "invalid-message", "line 2"),
        },
        Case {
            name: "csv header of a million columns",
            request: post(work_path, work, csv, &vec![b';'; 1_000_000]),
            expect: Expect::Problem(422, "invalid-message", "64 KiB"),
        },
        Case {
            name: "csv with an unterminated 7 MB quoted field",
            request: post(work_path, work, csv, &[csv_header.as_bytes(), b"verwijzing;\"", &vec![b'x'; 7 << 20]].concat()),
            expect: Expect::Problem(422, "invalid-message", "line 2"),
        },
        Case {
            name: "csv of a million empty lines",
            request: post(work_path, work, csv, &vec![b'\n'; 1_000_000]),
            expect: Expect::Problem(422, "invalid-message", "64 KiB"),
        },
        Case {
            name: "csv with invalid UTF-8",
            request: post(work_path, work, csv, &invalid_utf8_csv),
            expect: Expect::Problem(422, "invalid-message", "UTF-8"),
        },
        // --- line breaks in partner-controlled strings that reach receivers ---
        Case {
            name: "fhir reference with CR/LF",
            request: post(gp_path, gp, fhir, inject_reference_json(&gp_referral, "REF\\r\\nX-Injected: 1").as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "identifier"),
        },
        Case {
            name: "housing ID with CR/LF",
            request: post(housing_path, housing, json, compact(&signal).replacen("\"ID\":\"", "\"ID\":\"X\\r\\nX-Injected: 1", 1).as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "/ID"),
        },
        Case {
            name: "iwmo reference with CR/LF character references",
            request: post(wmo_path, wmo, xml, inject_xml_reference(&wmo315).as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "ReferentieAanbieder"),
        },
        Case {
            name: "csv reference with a quoted CR/LF and a row inside",
            request: post(work_path, work, csv, format!("{csv_header}verwijzing;\"WP-9\r\nverwijzing;WP-10\";02-11-2026 10:30;wijkteam-centrum;regulier;999900006;Berg;werk:2\n").as_bytes()),
            expect: Expect::Problem(422, "invalid-message", "referentie"),
        },
        // --- sizes ---
        Case {
            name: "Content-Length over the limit (body not sent)",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", housing_token, BODY_LIMIT + 1).into_bytes(),
            expect: Expect::Problem(413, "payload-too-large", "at most"),
        },
        Case {
            name: "body over the limit",
            request: post(housing_path, housing, json, &vec![b' '; BODY_LIMIT + 1024]),
            expect: Expect::Problem(413, "payload-too-large", "at most"),
        },
        Case {
            name: "chunked body over the limit",
            request: chunked(housing_path, housing_token, "application/json", &vec![b' '; BODY_LIMIT + 1024]),
            expect: Expect::Problem(413, "payload-too-large", "at most"),
        },
        Case {
            name: "Content-Length of 2^64",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551616\r\nConnection: close\r\n\r\n", housing_token).into_bytes(),
            expect: Expect::Closed(Some(400)),
        },
        // --- Content-Type ---
        Case {
            name: "csv partner sending JSON",
            request: post(work_path, work, json, signal.as_bytes()),
            expect: Expect::Problem(415, "unsupported-media-type", "text/csv"),
        },
        Case {
            name: "xml in another charset",
            request: post(wmo_path, wmo, Some("application/xml; charset=ISO-8859-1"), wmo315.as_bytes()),
            expect: Expect::Problem(415, "unsupported-media-type", "application/xml"),
        },
        Case {
            name: "no Content-Type",
            request: post(gp_path, gp, None, gp_referral.as_bytes()),
            expect: Expect::Problem(415, "unsupported-media-type", "application/fhir+json"),
        },
        Case {
            name: "XML sent as JSON to the FHIR partner",
            request: post(gp_path, gp, json, wmo315.as_bytes()),
            expect: Expect::Problem(400, "invalid-message", "JSON"),
        },
        Case {
            name: "consent as text/plain",
            request: post("/v1/consents", gp, Some("text/plain"), b"{}"),
            expect: Expect::Problem(415, "unsupported-media-type", "application/json"),
        },
        // --- heads ---
        Case {
            name: "bare CR in a header value",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Note: a\rX-Injected: 1\r\nContent-Length: 0\r\n\r\n", housing_token).into_bytes(),
            expect: Expect::Closed(Some(400)),
        },
        Case {
            name: "NUL in a header value",
            request: b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\0b\r\n\r\n".to_vec(),
            expect: Expect::Closed(Some(400)),
        },
        Case {
            name: "control characters in a header value",
            request: [format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nIdempotency-Key: ", housing_token).as_bytes(), b"k\x01e\x1by", format!("\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{signal}", signal.len()).as_bytes()].concat(),
            expect: Expect::Closed(Some(400)),
        },
        Case {
            name: "Idempotency-Key that is not ASCII",
            request: [format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nIdempotency-Key: ", housing_token).as_bytes(), b"k\xFF\xFEy", format!("\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{signal}", signal.len()).as_bytes()].concat(),
            expect: Expect::Problem(400, "bad-request", "Idempotency-Key"),
        },
        Case {
            name: "Content-Length and Transfer-Encoding together (smuggling)",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST {housing_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", housing_token).into_bytes(),
            expect: Expect::Closed(Some(400)),
        },
        Case {
            name: "two different Content-Lengths",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{{}}", housing_token).into_bytes(),
            expect: Expect::Closed(Some(400)),
        },
        Case {
            name: "invalid chunk size",
            request: format!("POST {housing_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n", housing_token).into_bytes(),
            expect: Expect::Problem(400, "bad-request", "could not be read"),
        },
        Case {
            name: "a thousand headers",
            request: format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n", "X-A: b\r\n".repeat(1000)).into_bytes(),
            expect: Expect::Closed(Some(431)),
        },
        Case {
            name: "a 1 MB header",
            request: format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: {}\r\n\r\n", "b".repeat(1 << 20)).into_bytes(),
            expect: Expect::Closed(Some(431)),
        },
        Case {
            name: "a 1 MB request target",
            request: format!("GET /v1/referrals/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20)).into_bytes(),
            expect: Expect::Closed(Some(431)),
        },
        Case {
            name: "not HTTP at all",
            request: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 binary hello\r\n\r\n".to_vec(),
            expect: Expect::Closed(Some(400)),
        },
        // --- ids in paths ---
        Case {
            name: "referral id ../../etc/passwd (encoded)",
            request: get("/v1/referrals/..%2f..%2fetc%2fpasswd", gp),
            expect: Expect::Problem(404, "not-found", "referral"),
        },
        Case {
            name: "referral id %2e%2e",
            request: get("/v1/referrals/%2e%2e", gp),
            expect: Expect::Problem(404, "not-found", "referral"),
        },
        Case {
            name: "referral id with NUL",
            request: get("/v1/referrals/019e7044-8800-7707-8707-070707070707%00", gp),
            expect: Expect::Problem(404, "not-found", "referral"),
        },
        Case {
            name: "referral id of 4 KiB",
            request: get(&format!("/v1/referrals/{}", &long_id[..4096]), gp),
            expect: Expect::Problem(404, "not-found", "referral"),
        },
        Case {
            name: "referral id of 64 KiB",
            request: get(&format!("/v1/referrals/{long_id}"), gp),
            expect: Expect::Closed(Some(414)),
        },
        Case {
            name: "referral id that is not UTF-8",
            request: get("/v1/referrals/%ff%fe", gp),
            expect: Expect::Problem(400, "bad-request", "path parameter id"),
        },
        Case {
            name: "partner id that is not UTF-8",
            request: post("/v1/partners/werkplein%c0%af/messages", work, csv, b"soort\n"),
            expect: Expect::Problem(400, "bad-request", "path parameter partner"),
        },
        Case {
            name: "mailbox query that is not a number",
            request: get("/v1/partners/werkplein/mailbox?limit=%ff%00", work),
            expect: Expect::Problem(422, "invalid-request", "limit"),
        },
        Case {
            name: "dead-letter query with a 4 KiB value",
            request: get(&format!("/v1/ops/dead-letters?limit={}", &long_id[..4096]), Some(staff["demo-operations"].as_str())),
            expect: Expect::Problem(422, "invalid-request", "limit"),
        },
        Case {
            name: "raw ../ in the path",
            request: get("/v1/referrals/../../../etc/passwd", gp),
            expect: Expect::Problem(404, "not-found", "resource"),
        },
        Case {
            name: "partner id with ../ (encoded)",
            request: post("/v1/partners/..%2fwerkplein/messages", work, csv, b"soort\n"),
            expect: Expect::Problem(403, "forbidden", "partner"),
        },
        Case {
            name: "partner id with NUL",
            request: post("/v1/partners/werkplein%00/messages", work, csv, b"soort\n"),
            expect: Expect::Problem(403, "forbidden", "partner"),
        },
        Case {
            name: "partner id of 4 KiB",
            request: post(&format!("/v1/partners/{}/messages", &long_id[..4096]), work, csv, b"soort\n"),
            expect: Expect::Problem(403, "forbidden", "partner"),
        },
        Case {
            name: "mailbox item ../",
            request: post("/v1/partners/werkplein/mailbox/..%2f..%2fx/ack", work, None, b""),
            expect: Expect::Problem(404, "not-found", "mailbox"),
        },
        Case {
            name: "consent id %2e%2e",
            request: post("/v1/consents/%2e%2e/revoke", gp, None, b""),
            expect: Expect::Problem(404, "not-found", "consent"),
        },
        Case {
            name: "processing log of ../ as a BSN",
            request: get("/v1/privacy/residents/..%2f..%2f/processing-log", privacy),
            expect: Expect::Problem(422, "invalid-request", "BSN"),
        },
        Case {
            name: "dead letter id with NUL",
            request: post("/v1/ops/dead-letters/%00/retry", admin, None, b""),
            expect: Expect::Problem(404, "not-found", "dead letter"),
        },
    ]
}

/// `json` re-serialised without whitespace (so a test can find `"key":"value"` in it).
fn compact(json: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
}

/// The FHIR referral with its ServiceRequest's identifier (the sender's reference) set to
/// `value` (already JSON-escaped).
fn inject_reference_json(bundle: &str, value: &str) -> String {
    let text = compact(bundle);
    assert!(text.contains("\"REF-2026-0042\""));
    text.replacen("\"REF-2026-0042\"", &format!("\"{value}\""), 1)
}

/// WMO315 with its first `ReferentieAanbieder` (the sender's reference) carrying CR/LF.
fn inject_xml_reference(wmo315: &str) -> String {
    let open = "<wmo315:ReferentieAanbieder>";
    let start = wmo315.find(open).expect("WMO315 has a reference") + open.len();
    let mut out = wmo315.to_owned();
    out.insert_str(start, "X&#13;&#10;X-Injected: 1");
    out
}

fn chunked(path: &str, token: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    for c in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The process's peak resident memory, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

async fn chain_head(app: &TestApp) -> (bool, Option<String>) {
    let check = wijkbrug::audit_chain::check(&*app.running.state.store)
        .await
        .unwrap();
    (check.intact, check.head())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_is_refused_and_changes_nothing() {
    let app = spawn().await;
    let counts = app.counts().await;
    let chain = chain_head(&app).await;
    let rss_before = peak_rss_kib();
    let cases = corpus(&app);
    let n = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let answer = exchange(&app, &case.request).await;
        if let Err(e) = verdict(case.name, &answer, case.expect) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(app.counts().await, counts, "the corpus changed the store");
    assert_eq!(
        chain_head(&app).await,
        chain,
        "the corpus changed the audit chain"
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        // Bodies are at most 8 MiB and nothing expands them: the peak stays far below what an
        // entity bomb or an unbounded buffer would take.
        assert!(
            after.saturating_sub(before) < 512 * 1024,
            "peak memory grew by {} MiB over {n} requests",
            (after - before) / 1024
        );
    }
    app.stop().await;
}

/// The slow and lying cases, all at once, while a normal referral is sent: it is served, and
/// the attack leaves the store as the referral left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_lying_clients_are_cut_off_while_others_are_served() {
    let app = spawn().await;
    let housing = app.token("woonstad-noord").to_owned();
    let path = "/v1/partners/woonstad-noord/messages";
    let signal = fixture("adapters/tests/fixtures/housing/accept/signal-single.json");
    let head_with = |len: usize, keep_alive: bool| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {housing}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n{}\r\n",
            if keep_alive { "" } else { "Connection: close\r\n" }
        )
        .into_bytes()
    };
    let tick = Duration::from_millis(300);
    let slowloris_head = head_with(signal.len(), false);
    let mut attacks = Vec::new();
    // Slowloris: the head a byte at a time, never finished in time (10 connections).
    for _ in 0..10 {
        attacks.push((
            "slowloris head",
            trickle(&app, Vec::new(), slowloris_head.clone(), 1, tick),
        ));
    }
    // A connection that sends nothing at all.
    attacks.push((
        "silent connection",
        trickle(&app, Vec::new(), Vec::new(), 1, tick),
    ));
    // The body a byte at a time (10 connections).
    for _ in 0..10 {
        attacks.push((
            "slow body",
            trickle(
                &app,
                head_with(signal.len(), false),
                signal.clone(),
                1,
                tick,
            ),
        ));
    }
    // Content-Length promising more than is sent.
    attacks.push((
        "Content-Length larger than the body",
        trickle(
            &app,
            head_with(signal.len() + 100, false),
            signal.clone(),
            signal.len(),
            tick,
        ),
    ));
    // A body over the limit, chunked, slowly.
    let slow_chunks: Vec<u8> = (0..1000)
        .flat_map(|_| {
            b"1000\r\n"
                .iter()
                .copied()
                .chain([b' '; 0x1000])
                .chain(*b"\r\n")
        })
        .collect();
    let chunked_head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {housing}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    attacks.push((
        "slow chunked body over the limit",
        trickle(&app, chunked_head.into_bytes(), slow_chunks, 0x1006, tick),
    ));

    let before = app.counts().await;
    let served = async {
        // Let the attacks get their connections in first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let health = client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let res = client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&housing)
            .header("content-type", "application/json")
            .body(signal.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        let after_referral = app.counts().await;
        let chain = chain_head(&app).await;
        (after_referral, chain)
    };
    let names: Vec<&str> = attacks.iter().map(|(n, _)| *n).collect();
    let (answers, (after_referral, chain)) = tokio::join!(
        join_vec(attacks.into_iter().map(|(_, a)| Box::pin(a)).collect()),
        served
    );
    assert_eq!(after_referral.referrals, before.referrals + 1);
    for (name, answer) in names.iter().zip(&answers) {
        match *name {
            "slowloris head" | "silent connection" => check(name, answer, Expect::Closed(None)),
            "slow body"
            | "Content-Length larger than the body"
            | "slow chunked body over the limit" => check(
                name,
                answer,
                Expect::Problem(408, "request-timeout", "body must arrive within"),
            ),
            _ => unreachable!(),
        }
    }
    // Content-Length smaller than the body: the rest is read as a next request and refused.
    let mut short = head_with(10, true);
    short.extend_from_slice(&signal);
    let answer = exchange(&app, &short).await;
    check(
        "Content-Length smaller than the body",
        &answer,
        Expect::Problem(400, "invalid-message", "JSON"),
    );
    assert_eq!(
        app.counts().await,
        after_referral,
        "the attacks changed the store"
    );
    assert_eq!(
        chain_head(&app).await,
        chain,
        "the attacks changed the audit chain"
    );
    assert!(chain.0, "the audit chain verifies");
    app.stop().await;
}

/// Awaits every future concurrently, on this task.
async fn join_vec<F: std::future::Future<Output = Answer> + Unpin>(
    mut futures: Vec<F>,
) -> Vec<Answer> {
    let mut results: Vec<Option<Answer>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(&mut *f).poll(cx) {
                    std::task::Poll::Ready(a) => results[i] = Some(a),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}
