//! An error and its causes on one line, each cause once.

use std::error::Error;
use std::fmt;

/// `error: cause: cause…`, for the one line `tessera` prints on failure.
///
/// Many errors put their cause into their own message *and* return it
/// from [`Error::source`] (sqlx's "error communicating with database:
/// {io error}", ours "cannot listen on {addr}: {io error}"), so walking the
/// chain naively repeats it. A cause whose text the last printed message
/// already contains is skipped.
pub struct OneLine<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let text = err.to_string();
            if !text.is_empty() && !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            cause = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// `message` with `source` as its cause; `embeds`: whether the message
    /// also prints it, as many errors do.
    #[derive(Debug)]
    struct Wrapper {
        message: &'static str,
        embeds: bool,
        source: Box<dyn Error + 'static>,
    }

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)?;
            if self.embeds {
                write!(f, ": {}", self.source)?;
            }
            Ok(())
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.source)
        }
    }

    fn refused() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused")
    }

    #[test]
    fn a_cause_its_error_already_shows_is_printed_once() {
        // Shaped like a refused PostgreSQL connection: ours, sqlx's (which
        // prints its io::Error and returns it as its source), the io::Error.
        let sqlx = Wrapper {
            message: "error communicating with database",
            embeds: true,
            source: Box::new(refused()),
        };
        let ours = Wrapper {
            message: "cannot connect to PostgreSQL at 127.0.0.1:1/test",
            embeds: false,
            source: Box::new(sqlx),
        };
        let line = OneLine(&ours).to_string();
        assert_eq!(
            line,
            "cannot connect to PostgreSQL at 127.0.0.1:1/test: \
             error communicating with database: Connection refused"
        );
        assert_eq!(line.matches("refused").count(), 1, "{line}");
    }

    #[test]
    fn causes_not_shown_are_appended_in_order() {
        let inner = Wrapper {
            message: "cannot read the migration history",
            embeds: false,
            source: Box::new(refused()),
        };
        let outer = Wrapper {
            message: "TESSERA_DATABASE_URL",
            embeds: true,
            source: Box::new(inner),
        };
        assert_eq!(
            OneLine(&outer).to_string(),
            "TESSERA_DATABASE_URL: cannot read the migration history: Connection refused"
        );
        let alone = refused();
        assert_eq!(OneLine(&alone).to_string(), "Connection refused");
    }
}
