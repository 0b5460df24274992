//! The shape as TypeScript, for better-auth's `customSessionClient`
//! (feature `typescript`).
//!
//! better-auth's client types the custom session with
//! `customSessionClient<typeof auth>()`, which needs the server's
//! TypeScript. With a Rust server there is none, so this module writes a
//! declaration file that stands in for it: the shape's declarations,
//! derived by [ts-rs](https://docs.rs/ts-rs) from the Rust type, and a type
//! `TesseraAuth` that instantiates better-auth's own `customSession` with
//! it. A front end then writes
//!
//! ```ts
//! import type { TesseraAuth } from "./tessera-auth";
//! createAuthClient({ plugins: [customSessionClient<TesseraAuth>()] });
//! ```
//!
//! and `data.roles`, `data.user.newField` are typed by the Rust shape.
//!
//! Derive [`TS`] on the shaper's output. Its user and session are
//! better-auth's own `User` and `Session` types (whose dates the client
//! parses into `Date`): mark [`tessera::User`] / [`tessera::Session`]
//! fields with `#[ts(as = "BetterAuthUser")]` / `#[ts(as =
//! "BetterAuthSession")]`, or, to add fields to the user, flatten a
//! [`BetterAuthUser`] into a struct of your own:
//!
//! ```
//! use serde::Serialize;
//! use tessera::Session;
//! use tessera_custom_session::typescript::{client_types, BetterAuthSession, BetterAuthUser, TS};
//!
//! #[derive(Serialize, TS)]
//! struct AppSession {
//!     roles: Vec<String>,
//!     user: AppUser,
//!     #[ts(as = "BetterAuthSession")]
//!     session: Session,
//! }
//!
//! /// better-auth's user and one field more.
//! #[derive(Serialize, TS)]
//! struct AppUser {
//!     #[serde(flatten)]
//!     user: BetterAuthUser,
//!     #[serde(rename = "newField")]
//!     new_field: String,
//! }
//!
//! let dts = client_types::<AppSession>();
//! assert!(dts.contains("export type AppUser = { newField: string, } & BetterAuthUser;"));
//! assert!(dts.contains("plugins: [ReturnType<typeof customSession<AppSession>>]"));
//! ```

use std::any::TypeId;

use serde::{Deserialize, Serialize};
use tessera::{Session, User};

pub use ts_rs::TS;
use ts_rs::{Config, TypeVisitor};

use crate::{CustomSession, SessionShaper};

/// The name of the exported type to pass to `customSessionClient`.
pub const AUTH_TYPE: &str = "TesseraAuth";

/// A [`tessera::User`] that TypeScript sees as better-auth's `User` (the
/// declaration file imports it under this name). It serializes exactly as
/// the user: use it as a `#[serde(flatten)]` field to add fields to the
/// user, or name it with `#[ts(as = "BetterAuthUser")]` on a `User` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BetterAuthUser(pub User);

/// A [`tessera::Session`] that TypeScript sees as better-auth's `Session`
/// (the declaration file imports it under this name). It serializes
/// exactly as the session, like [`BetterAuthUser`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BetterAuthSession(pub Session);

impl std::ops::Deref for BetterAuthUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.0
    }
}

impl std::ops::Deref for BetterAuthSession {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

impl From<User> for BetterAuthUser {
    fn from(user: User) -> Self {
        BetterAuthUser(user)
    }
}

impl From<Session> for BetterAuthSession {
    fn from(session: Session) -> Self {
        BetterAuthSession(session)
    }
}

/// A type the declaration file imports instead of declaring: no
/// `output_path`, so ts-rs neither declares nor imports it itself.
macro_rules! imported {
    ($ty:ty, $name:literal) => {
        impl TS for $ty {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;

            fn name(_: &Config) -> String {
                $name.to_owned()
            }

            fn inline(cfg: &Config) -> String {
                Self::name(cfg)
            }

            // `#[serde(flatten)]`: an intersection with the imported type.
            fn inline_flattened(cfg: &Config) -> String {
                Self::name(cfg)
            }
        }
    };
}

imported!(BetterAuthUser, "BetterAuthUser");
imported!(BetterAuthSession, "BetterAuthSession");

/// The fixed head of the file: where better-auth's types come from.
const IMPORTS: &str = "\
import type { Session as BetterAuthSession, User as BetterAuthUser } from \"better-auth\";
import type { customSession } from \"better-auth/plugins\";
";

/// The declaration file (`.d.ts`) for a custom session shaped as `T`: the
/// declarations of `T` and of every type it names, and [`AUTH_TYPE`], to
/// use as `customSessionClient<TesseraAuth>()`.
pub fn client_types<T: TS + 'static>() -> String {
    let cfg = Config::new();
    let mut declarations = Declarations {
        cfg: &cfg,
        seen: Vec::new(),
        out: String::new(),
    };
    declarations.visit::<T>();
    // A type ts-rs does not declare (a `Vec`, a map) is written in place.
    let shape = match T::output_path() {
        Some(_) => T::name(&cfg),
        None => T::inline(&cfg),
    };
    format!(
        "// Written by tessera-custom-session from the Rust type of the custom session.\n\
         // Do not edit: write it again from the Rust type.\n\
         {IMPORTS}\n\
         {declarations}\n\
         /**\n \
         * The server as better-auth's `customSessionClient<typeof auth>()` reads it:\n \
         * the `customSession` plugin whose function returns `{shape}`.\n \
         * Use it as `customSessionClient<{AUTH_TYPE}>()`.\n \
         */\n\
         export type {AUTH_TYPE} = {{\n  \
         options: {{\n    \
         plugins: [ReturnType<typeof customSession<{shape}>>];\n  \
         }};\n\
         }};\n",
        declarations = declarations.out,
    )
}

impl<S: SessionShaper> CustomSession<S>
where
    S::Output: TS,
{
    /// [`client_types`] for this plugin's shape, `S::Output`.
    pub fn client_types() -> String {
        client_types::<S::Output>()
    }
}

/// Declares each type once, the root first, then what it names.
struct Declarations<'a> {
    cfg: &'a Config,
    seen: Vec<TypeId>,
    out: String,
}

impl TypeVisitor for Declarations<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // ts-rs's own rule: only a type with an output path is declared
        // (and imported); the rest are inlined where used.
        if T::output_path().is_some() {
            let id = TypeId::of::<T::WithoutGenerics>();
            if self.seen.contains(&id) {
                return;
            }
            self.seen.push(id);
            if let Some(docs) = T::docs() {
                self.out.push_str(&docs);
            }
            self.out.push_str("export ");
            self.out.push_str(&T::decl(self.cfg));
            self.out.push('\n');
        }
        T::visit_dependencies(self);
        T::visit_generics(self);
    }
}
