//! Cookie parsing is linear: parse time per byte stays flat from 1 KiB up
//! to the default `Cookie` limit (48 KiB), for many small cookies and for
//! a few large ones, in both parsers; and a request over the limits (the
//! 380 KB cookie bomb of issue 11) costs one pass and a 431. Run with
//! `cargo xtask bench` (or `cargo bench -p tessera --bench cookie_parse`);
//! criterion reports throughput, so flat means equal MiB/s at every size.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tessera::cookie::RequestCookies;
use tessera::options::RequestLimits;
use tessera::{Auth, Options};

const KIB: usize = 1024;
/// 1 KiB up to the default `Cookie` limit.
const SIZES: [usize; 4] = [KIB, 4 * KIB, 16 * KIB, 48 * KIB];

/// `aaa=1; aab=1; …` up to `len` bytes: three-letter names, distinct up to
/// 17,576 cookies (about 123 KB), so duplicate detection works for each.
fn many_small(len: usize) -> String {
    let mut out = String::with_capacity(len + 8);
    let mut i = 0usize;
    loop {
        let name: String = [676, 26, 1]
            .iter()
            .map(|k| char::from(b'a' + (i / k % 26) as u8))
            .collect();
        let pair = format!("{name}=1");
        if out.len() + pair.len() + 2 > len {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&pair);
        i += 1;
    }
    out
}

/// Cookies of about 4 KB (a session-cache chunk each) up to `len` bytes;
/// a single smaller one below 4 KB.
fn few_large(len: usize) -> String {
    let per = len.min(4000);
    let mut parts = Vec::new();
    let mut used = 0;
    while used + per <= len {
        let name = format!("better-auth.session_data.{}", parts.len());
        let value = "A".repeat(per - name.len() - 3);
        parts.push(format!("{name}={value}"));
        used += per;
    }
    parts.join("; ")
}

fn parsers(c: &mut Criterion) {
    for (shape, make) in [
        ("many_small", many_small as fn(usize) -> String),
        ("few_large", few_large),
    ] {
        let mut group = c.benchmark_group(format!("cookie_parse/{shape}"));
        for size in SIZES {
            let header = make(size);
            group.throughput(Throughput::Bytes(header.len() as u64));
            group.bench_with_input(BenchmarkId::new("lenient", size), &header, |b, h| {
                b.iter(|| black_box(RequestCookies::parse(black_box(h))))
            });
            group.bench_with_input(BenchmarkId::new("strict", size), &header, |b, h| {
                b.iter(|| {
                    let parsed = RequestCookies::parse(black_box(h));
                    black_box(parsed.strict().count())
                })
            });
        }
        group.finish();
    }
}

/// The 54,000-cookie request (about 380 KB) against the kernel: refused
/// by the limits in one pass, on the auth API and for application routes.
fn cookie_bomb(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let auth = Auth::builder(
        Options::new()
            .secret("bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
            .rate_limit(false),
    )
    .build()
    .unwrap();
    let bomb = (0..54_000)
        .map(|i| {
            let name: String = [676, 26, 1]
                .iter()
                .map(|k| char::from(b'a' + (i / k % 26) as u8))
                .collect();
            format!("{name}=1")
        })
        .collect::<Vec<_>>()
        .join("; ");
    assert!(bomb.len() > RequestLimits::default().max_head_bytes);
    // Validated once, shared by every request (as a server hands it over).
    let value = HeaderValue::from_str(&bomb).unwrap();
    // No throughput: refusing it reads none of its bytes.
    let mut group = c.benchmark_group("cookie_bomb");
    for path in ["/api/auth/ok", "/api/auth/get-session"] {
        group.bench_function(path, |b| {
            b.iter(|| {
                let req = Request::get(path)
                    .header(COOKIE, value.clone())
                    .body(Bytes::new())
                    .unwrap();
                let res = rt.block_on(auth.handle(req));
                assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            })
        });
    }
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    group.bench_function("app_route_session", |b| {
        b.iter(|| black_box(rt.block_on(auth.session(&headers)).unwrap_err()))
    });
    group.finish();
}

criterion_group!(benches, parsers, cookie_bomb);
criterion_main!(benches);
