//! The employment CSV decoder streams: rows come out as they are read, memory stays
//! row-sized, and hostile shapes (a million columns, a gigantic field) are refused quickly.

mod common;

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use common::*;
use wijkbrug_adapters::employment::{decode_reader, encode_referrals, MAX_ROW_BYTES};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{DecodeError, Location, OutgoingReferral, Record};

/// A reader over bytes that counts what has been read from it and hands out at most
/// `chunk` bytes a call.
struct Counting {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    read: Rc<Cell<usize>>,
}

impl Counting {
    fn new(data: Vec<u8>, chunk: usize) -> (Self, Rc<Cell<usize>>) {
        let read = Rc::new(Cell::new(0));
        (
            Self {
                data,
                pos: 0,
                chunk,
                read: read.clone(),
            },
            read,
        )
    }
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        self.read.set(self.pos);
        Ok(n)
    }
}

fn big_file(rows: usize) -> Vec<u8> {
    let requests: Vec<ReferralRequest> = (0..rows)
        .map(|i| {
            let mut r = sample_request("werkplein", Target::Partner(pid("wijkteam-centrum")));
            r.source.reference = ExternalRef::parse(&format!("WP-{i}")).unwrap();
            r
        })
        .collect();
    let id = ReferralId::from_parts(1_700_000_000_000, [1; 10]);
    encode_referrals(requests.iter().map(|r| OutgoingReferral { id, request: r })).unwrap()
}

fn csv_error(r: &Result<Record, DecodeError>) -> (u64, Option<(usize, String)>, String) {
    match r {
        Err(DecodeError {
            location: Location::Csv { line, column },
            rule,
        }) => (*line, column.clone(), rule.clone()),
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

#[test]
fn ten_thousand_rows_stream_one_at_a_time() {
    let data = big_file(10_000);
    let total = data.len();
    assert!(total > 2_000_000, "{total}");
    let (reader, read) = Counting::new(data, usize::MAX);
    let ctx = ctx("werkplein");
    let mut rows = decode_reader(reader, &ctx);

    let first = rows.next().unwrap().unwrap();
    let Record::Referral(first) = first else {
        panic!("expected a referral")
    };
    assert_eq!(first.request.source.reference.as_str(), "WP-0");
    // The first record arrives after reading a buffer or two, not the file.
    assert!(
        read.get() <= 32 * 1024,
        "read {} of {total} bytes",
        read.get()
    );

    let mut count = 1;
    let mut max_ahead = 0;
    for (i, r) in rows.by_ref().enumerate() {
        let Ok(Record::Referral(r)) = r else {
            panic!("row {} did not decode", i + 2)
        };
        assert_eq!(r.request.source.reference.as_str(), format!("WP-{}", i + 1));
        count += 1;
        // What has been read runs at most a buffer ahead of what has been decoded.
        let decoded_bytes = total * count / 10_000;
        max_ahead = max_ahead.max(read.get().saturating_sub(decoded_bytes));
    }
    assert_eq!(count, 10_000);
    assert_eq!(read.get(), total);
    assert!(max_ahead <= 32 * 1024, "{max_ahead}");
}

#[test]
fn a_reader_that_hands_out_one_byte_at_a_time_still_gets_the_bom_stripped() {
    let mut data = b"\xef\xbb\xbf".to_vec();
    data.extend_from_slice(&big_file(3));
    let (reader, _) = Counting::new(data, 1);
    let ctx = ctx("werkplein");
    let out: Vec<_> = decode_reader(reader, &ctx).collect();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(Result::is_ok), "{out:?}");
}

#[test]
fn a_header_of_a_million_columns_is_refused_after_reading_a_little() {
    let mut data = "soort;".repeat(1_000_000).into_bytes();
    data.extend_from_slice(b"\r\n");
    let total = data.len();
    let (reader, read) = Counting::new(data, usize::MAX);
    let ctx = ctx("werkplein");
    let out: Vec<_> = decode_reader(reader, &ctx).collect();
    assert_eq!(out.len(), 1);
    let (line, column, rule) = csv_error(&out[0]);
    assert_eq!((line, column), (1, None));
    assert_eq!(
        rule,
        "a row must be at most 64 KiB; the rest of the input is not read"
    );
    assert!(read.get() < 128 * 1024, "read {} of {total}", read.get());
}

#[test]
fn a_header_of_more_than_64_short_columns_is_refused() {
    let header = vec!["soort"; 65].join(";");
    let ctx = ctx("werkplein");
    let out: Vec<_> = decode_reader(header.as_bytes(), &ctx).collect();
    assert_eq!(
        out.iter().map(csv_error).collect::<Vec<_>>(),
        [(
            1,
            None,
            "the header has 65 columns; at most 64 are allowed".to_owned()
        )]
    );
}

#[test]
fn a_row_of_a_million_fields_or_a_gigantic_field_stops_the_decode_at_its_line() {
    let ctx = ctx("werkplein");
    let header = "soort;referentie;datum;status\n";
    let good = "status;WP-1;02-11-2026;gestart\n";
    let wide = ";".repeat(1_000_000) + "\n";
    let huge = format!("status;\"{}\";02-11-2026;gestart\n", "x".repeat(10_000_000));
    for bad in [wide, huge] {
        let data = format!("{header}{good}{bad}{good}").into_bytes();
        let total = data.len();
        let (reader, read) = Counting::new(data, usize::MAX);
        let out: Vec<_> = decode_reader(reader, &ctx).collect();
        assert_eq!(out.len(), 2, "{:?}", &out);
        assert!(matches!(out[0], Ok(Record::Status(_))));
        let (line, column, rule) = csv_error(&out[1]);
        assert_eq!((line, column), (3, None));
        assert!(rule.starts_with("a row must be at most"));
        assert!(
            read.get() < MAX_ROW_BYTES as usize + 64 * 1024,
            "read {} of {total}",
            read.get()
        );
    }
}

#[test]
fn a_row_just_under_the_limit_is_read() {
    let ctx = ctx("werkplein");
    let reason = "x".repeat(900);
    let filler = "y".repeat(60 * 1024);
    // An unknown column would be refused, so make the long cell a (too long) reason: the
    // row is read whole and refused for its content, not its size.
    let data = format!(
        "soort;referentie;datum;status;reden\nstatus;WP-1;02-11-2026;gestart;{reason}{filler}\nstatus;WP-2;02-11-2026;gestart;{reason}\n"
    );
    let out: Vec<_> = decode_reader(data.as_bytes(), &ctx).collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        csv_error(&out[0]),
        (
            2,
            Some((5, "reden".to_owned())),
            "must be at most 1000 characters".to_owned()
        )
    );
    assert!(matches!(out[1], Ok(Record::Status(_))));
}
