//! The custom session's TypeScript: `axum-app --emit-client-types` writes
//! declarations that type better-auth's own client, checked by compiling
//! `tests/ts/app.ts` against them with `tsc --strict` (TypeScript from
//! `tests/ts/package-lock.json`, better-auth from the refserver's install).
//! Without Node or npm the tests skip loudly, except under `CI=true`.

// The work folder reaches the refserver's node_modules through a symlink.
#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tessera_testkit::service::{skip_or_fail, Service};

/// The committed front end and its npm folder.
const TS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ts");
/// What `app.ts` imports the declarations as.
const DECLARATIONS: &str = "tessera-auth.d.ts";

#[test]
fn emitted_types_type_the_official_client() {
    let Some((tsc, refserver)) = toolchain() else {
        return;
    };
    let work = work_dir("emitted");
    emit(&work.join(DECLARATIONS));
    let (ok, out) = compile(&tsc, &refserver, &work);
    assert!(
        ok,
        "tsc --strict rejected app.ts against the emitted declarations:\n{out}"
    );
    let _ = fs::remove_dir_all(&work);
}

/// Negative control: the same front end against the declarations without
/// `newField` does not compile, so the test above checks the emitted
/// shape and not merely that tsc runs.
#[test]
fn declarations_without_new_field_are_rejected() {
    let Some((tsc, refserver)) = toolchain() else {
        return;
    };
    let work = work_dir("without-new-field");
    let file = work.join(DECLARATIONS);
    emit(&file);
    let emitted = fs::read_to_string(&file).unwrap();
    let broken = emitted.replace("newField: string, ", "");
    assert_ne!(broken, emitted, "the emitted declarations have no newField");
    fs::write(&file, broken).unwrap();
    let (ok, out) = compile(&tsc, &refserver, &work);
    assert!(!ok, "tsc accepted app.ts without newField:\n{out}");
    assert!(
        out.contains("Property 'newField' does not exist"),
        "tsc failed for another reason:\n{out}"
    );
    let _ = fs::remove_dir_all(&work);
}

#[test]
fn unknown_arguments_are_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_axum-app"))
        .arg("--emit-client-type")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--emit-client-types <file>"), "{stderr}");
}

/// `axum-app --emit-client-types <file>`, as a user runs it.
fn emit(file: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_axum-app"))
        .arg("--emit-client-types")
        .arg(file)
        // It needs no configuration: without a secret it still emits.
        .env_remove("BETTER_AUTH_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "--emit-client-types failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "it should only write the file");
}

/// `tsc --strict` on `app.ts` beside the declarations in `work`, with
/// `node_modules` the refserver's: whether it passed, and its output.
fn compile(tsc: &Path, refserver: &Path, work: &Path) -> (bool, String) {
    fs::copy(Path::new(TS_DIR).join("app.ts"), work.join("app.ts")).unwrap();
    std::os::unix::fs::symlink(refserver.join("node_modules"), work.join("node_modules")).unwrap();
    // skipLibCheck: better-auth's own declarations name modules of Node and
    // Bun a browser project does not have. The emitted file is a .d.ts too,
    // so a broken one is caught by its use in app.ts (`any` would leave the
    // `@ts-expect-error` lines unused, an error).
    let tsconfig = r#"{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "esnext",
    "moduleResolution": "bundler",
    "lib": ["es2022", "dom"],
    "types": [],
    "skipLibCheck": true
  },
  "files": ["app.ts"]
}
"#;
    fs::write(work.join("tsconfig.json"), tsconfig).unwrap();
    let out = Command::new("node")
        .arg(tsc)
        .args(["--strict", "--pretty", "false", "-p"])
        .arg(work.join("tsconfig.json"))
        .current_dir(work)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A fresh folder for one compilation.
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "axum-app-client-types-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// TypeScript's `tsc` and the refserver directory (better-auth installed),
/// or `None` after the skip banner.
fn toolchain() -> Option<(PathBuf, PathBuf)> {
    let refserver = tessera_testkit::refserver_dir()?;
    static TSC: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match TSC.get_or_init(install_typescript) {
        Ok(tsc) => Some((tsc.clone(), refserver)),
        Err(reason) => skip_or_fail(Service::Node, reason),
    }
}

/// `npm ci` of `tests/ts` into a folder under the target directory, once
/// per lock file; returns `tsc`'s script.
fn install_typescript() -> Result<PathBuf, String> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("axum-app-ts");
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let mut changed = false;
    for name in ["package.json", "package-lock.json"] {
        let source = fs::read(Path::new(TS_DIR).join(name))
            .map_err(|e| format!("cannot read tests/ts/{name}: {e}"))?;
        if fs::read(cache.join(name)).ok() != Some(source.clone()) {
            fs::write(cache.join(name), source)
                .map_err(|e| format!("cannot write {}: {e}", cache.display()))?;
            changed = true;
        }
    }
    // npm writes node_modules/.package-lock.json last.
    if changed || !cache.join("node_modules/.package-lock.json").is_file() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&cache)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`npm ci` in {} failed with {}:\n{}{}",
                cache.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(cache.join("node_modules/typescript/bin/tsc"))
}
