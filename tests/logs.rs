//! All log output of a full run, captured: no test BSN, name, address or note in any line.
//! (Its own test binary: it installs the global log subscriber.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use wijkbrug::config::{LogFormat, LogSettings};
use wijkbrug_adapters::model::{Sector, Target};
use wijkbrug_adapters::Format;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_personal_data_appears_in_any_log_line() {
    let capture = Capture::default();
    let settings = LogSettings {
        format: LogFormat::Json,
        filter: "trace,sqlx=info,hyper=info,h2=info,tower=info,reqwest=info".into(),
    };
    assert!(wijkbrug::telemetry::init(&settings, capture.clone()));

    let app = TestApp::spawn_with(TestApp::add_welfare_provider, &[]).await;
    let signal = rent_arrears_signal();
    let v: serde_json::Value = app
        .post_message("woonstad-noord", "application/json", signal.clone())
        .await
        .json()
        .await
        .unwrap();
    let id = v["accepted"][0]["referral_id"].as_str().unwrap().to_owned();
    app.post_message("woonstad-noord", "application/json", signal.clone())
        .await;
    let bad = String::from_utf8(signal)
        .unwrap()
        .replace("999900006", "999900007");
    app.post_message("woonstad-noord", "application/json", bad)
        .await;
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-L",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    app.post_message("huisarts-de-linde", "application/fhir+json", fhir)
        .await;
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-L",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    app.post_message("werkplein", "text/csv", csv).await;
    let wmo = std::fs::read(root().join("../shared/standards/iwmo-3.2/WMO315.xml")).unwrap();
    app.post_message("zorgaanbieder-west", "application/xml", wmo)
        .await;
    app.get_referral("wijkteam-centrum", &id).await;
    app.get_referral("thuiszorg-oost", &id).await;
    app.http.post(format!("{}/v1/consents", app.base)).bearer_auth(app.token("werkplein"))
        .json(&serde_json::json!({"resident_bsn": "999900043", "grantee_sector": "welfare", "purpose": "referral",
            "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z"}))
        .send().await.unwrap();
    // Failed dashboard sign-ins until they are throttled: logged, never the token presented.
    let guess = "wbt_guessed-staff-token-0451";
    let mut throttled = false;
    for _ in 0..20 {
        let res = app
            .http
            .post(format!("{}/ops/login", app.base))
            .form(&[("token", guess)])
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "failed sign-ins are throttled");
    app.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("message processed"),
        "the run logged nothing useful:\n{logs}"
    );
    assert!(
        logs.contains(&id),
        "referral ids are what the logs identify"
    );
    assert!(logs.contains("dashboard sign-in throttled"), "{logs}");
    assert!(!logs.contains(guess), "a presented token is never logged");
    for word in PERSONAL
        .iter()
        .chain(["Anna", "Utrecht", "1234AB", "Commentaar client"].iter())
    {
        let hits: Vec<_> = logs.lines().filter(|l| l.contains(word)).take(3).collect();
        assert!(hits.is_empty(), "{word} appears in the logs: {hits:#?}");
    }
}
