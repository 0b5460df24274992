//! `tessera-bench-server`: one server for `cargo xtask bench load` to
//! measure with wrk, on 127.0.0.1 only.
//!
//! ```text
//! tessera-bench-server <hyper|axum|actix> <auth|ceiling> [--body-bytes N] [--threads N]
//! ```
//!
//! - `auth`: the auth API at `/api/auth` served by that adapter, in
//!   stateless mode (no database: better-auth's default `jwe` cookie cache),
//!   rate limiting off.
//! - `ceiling`: every request under `/api/auth/` answers 200 with a fixed
//!   JSON body of `--body-bytes` bytes (the size of a get-session body) and
//!   no auth work: the most the same framework and server loop deliver on
//!   this machine, so `auth / ceiling` is the share auth costs.
//!
//! It binds an ephemeral loopback port, prints
//! `listening on http://127.0.0.1:<port>` on stdout and serves until killed.
//! `--threads` (default: the available cores) sets the runtime's worker
//! threads, or actix's workers.

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::Full;
use tessera::{Auth, Options};

const USAGE: &str =
    "usage: tessera-bench-server <hyper|axum|actix> <auth|ceiling> [--body-bytes N] [--threads N]";
const SECRET: &str = "tessera-bench-secret-0123456789-abcdefghijklmnop";
/// `{"pad":""}`: the smallest ceiling body.
const MIN_BODY: usize = 10;

#[derive(Clone, Copy, Debug)]
enum Framework {
    Hyper,
    Axum,
    Actix,
}

/// What the server answers.
#[derive(Clone, Debug)]
enum Served {
    /// The auth API.
    Auth(Auth),
    /// A fixed JSON body, no auth.
    Ceiling(Bytes),
}

#[derive(Debug)]
struct Config {
    framework: Framework,
    ceiling: Option<usize>,
    threads: usize,
}

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tessera-bench-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let framework = match args.next().as_deref() {
        Some("hyper") => Framework::Hyper,
        Some("axum") => Framework::Axum,
        Some("actix") => Framework::Actix,
        other => return Err(format!("unknown framework {other:?}")),
    };
    let ceiling = match args.next().as_deref() {
        Some("auth") => false,
        Some("ceiling") => true,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let mut body_bytes = 256;
    let mut threads = std::thread::available_parallelism().map_or(2, usize::from);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: usize = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value:?}"))?;
        match flag.as_str() {
            "--body-bytes" => body_bytes = number.max(MIN_BODY),
            "--threads" => threads = number.max(1),
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok(Config {
        framework,
        ceiling: ceiling.then_some(body_bytes),
        threads,
    })
}

fn run(config: Config) -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let origin = format!("http://{}", listener.local_addr()?);
    let served = match config.ceiling {
        Some(bytes) => Served::Ceiling(ceiling_body(bytes)),
        None => Served::Auth(
            // No database: stateless mode, the jwe cookie cache (spec §4.1).
            Auth::builder(
                Options::new()
                    .secret(SECRET)
                    .base_url(origin.as_str())
                    .rate_limit(false),
            )
            .build()
            .map_err(io::Error::other)?,
        ),
    };
    // Connections queue in the listen backlog until the server accepts.
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {origin}")?;
    stdout.flush()?;
    match config.framework {
        Framework::Hyper | Framework::Axum => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()?
            .block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                match config.framework {
                    Framework::Hyper => serve_hyper(listener, served).await,
                    _ => serve_axum(listener, served).await,
                }
            }),
        Framework::Actix => {
            actix_web::rt::System::new().block_on(serve_actix(listener, served, config.threads))
        }
    }
}

/// `{"pad":"xxx…"}`, exactly `bytes` long.
fn ceiling_body(bytes: usize) -> Bytes {
    let pad = "x".repeat(bytes.max(MIN_BODY) - MIN_BODY);
    Bytes::from(format!(r#"{{"pad":"{pad}"}}"#))
}

async fn serve_hyper(listener: tokio::net::TcpListener, served: Served) -> io::Result<()> {
    let forever = std::future::pending::<()>();
    match served {
        Served::Auth(auth) => tessera_hyper::serve(listener, auth, forever).await,
        Served::Ceiling(body) => {
            let service = hyper::service::service_fn(move |_req| {
                let res = Response::builder()
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()));
                async move { Ok::<_, Infallible>(res.expect("a valid response")) }
            });
            tessera_hyper::serve_service(listener, service, forever).await;
        }
    }
    Ok(())
}

async fn serve_axum(listener: tokio::net::TcpListener, served: Served) -> io::Result<()> {
    let router = match served {
        Served::Auth(auth) => tessera_axum::router(auth),
        // The same route shape as the auth API's.
        Served::Ceiling(body) => axum::Router::new().route(
            "/api/auth/{*rest}",
            axum::routing::any(move || {
                let body = body.clone();
                async move { ([(CONTENT_TYPE, "application/json")], body) }
            }),
        ),
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn serve_actix(
    listener: std::net::TcpListener,
    served: Served,
    workers: usize,
) -> io::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    match served {
        Served::Auth(auth) => {
            HttpServer::new(move || App::new().configure(tessera_actix::configure(auth.clone())))
                .workers(workers)
                .listen(listener)?
                .run()
                .await
        }
        Served::Ceiling(body) => {
            HttpServer::new(move || {
                let body = body.clone();
                // The same scope shape as the auth API's.
                App::new().service(web::scope("/api/auth").default_service(web::to(move || {
                    let body = body.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                })))
            })
            .workers(workers)
            .listen(listener)?
            .run()
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_body_has_the_asked_size_and_is_json() {
        for size in [MIN_BODY, 11, 500] {
            let body = ceiling_body(size);
            assert_eq!(body.len(), size);
            assert!(body.starts_with(br#"{"pad":""#) && body.ends_with(b"\"}"));
        }
        assert_eq!(ceiling_body(3).len(), MIN_BODY);
    }

    #[test]
    fn arguments_parse() {
        let args = ["axum", "ceiling", "--body-bytes", "321", "--threads", "3"];
        let config = parse(args.iter().map(|s| s.to_string())).unwrap();
        assert!(matches!(config.framework, Framework::Axum));
        assert_eq!((config.ceiling, config.threads), (Some(321), 3));
        assert!(parse(["rocket", "auth"].iter().map(|s| s.to_string())).is_err());
        assert!(parse(["hyper", "auth", "--threads"].iter().map(|s| s.to_string())).is_err());
    }
}
