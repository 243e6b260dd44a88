//! `Report`: an error with its whole chain of causes on one line
//! (`top: cause: root cause`), for the CLI's messages and the logs. A
//! cause whose text its parent already shows is not repeated.

use std::error::Error;
use std::fmt;

/// Displays `error` followed by each `source` not already in the text.
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let line = error.to_string();
            if !text.contains(&line) {
                text.push_str(": ");
                text.push_str(&line);
            }
            cause = error.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the log could not be written")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("opening {0}: {1}")]
    struct Shown(&'static str, #[source] std::io::Error);

    #[test]
    fn the_chain_is_shown_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left");
        assert_eq!(
            Report(&Outer(io())).to_string(),
            "the log could not be written: no space left"
        );
        assert_eq!(
            Report(&Shown("f", io())).to_string(),
            "opening f: no space left"
        );
    }
}
