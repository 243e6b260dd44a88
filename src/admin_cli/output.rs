//! What the admin CLI prints: the server's JSON (pretty), aligned plain
//! text tables, `field  value` listings of one object, and the cells of
//! both made safe for a terminal (control characters escaped).

use std::io::Write;

use serde_json::Value;

use super::error::AdminCliError;

/// `text` with control characters (escape sequences, newlines) shown
/// escaped, so a value from the server cannot drive the terminal or break
/// a table's lines.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as one table cell: strings as they are, arrays joined
/// with `,`, `null` or missing as `-`, anything else as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => sanitize(s),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| cell(Some(item)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => sanitize(&other.to_string()),
    }
}

/// Where the output goes, and whether it is JSON or text.
pub struct Printer<W: Write> {
    out: W,
    /// `--json`: print the server's JSON instead of text.
    pub json: bool,
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, json: bool) -> Self {
        Printer { out, json }
    }

    /// `value` as indented JSON and a newline.
    pub fn json(&mut self, value: &Value) -> Result<(), AdminCliError> {
        serde_json::to_writer_pretty(&mut self.out, value)
            .map_err(|e| AdminCliError::Output(e.into()))?;
        self.line("")
    }

    /// One line of text.
    pub fn line(&mut self, text: &str) -> Result<(), AdminCliError> {
        writeln!(self.out, "{text}").map_err(AdminCliError::Output)
    }

    /// A table: `headers` over `rows`, each column as wide as its widest
    /// cell, two spaces apart, no trailing blanks.
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) -> Result<(), AdminCliError> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, text) in widths.iter_mut().zip(row) {
                *width = (*width).max(text.chars().count());
            }
        }
        let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(rows) {
            let mut line = String::new();
            for (i, (text, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(text);
                let pad = width.saturating_sub(text.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            self.line(line.trim_end())?;
        }
        Ok(())
    }

    /// One object as `field  value` lines: `first` in that order, then
    /// every other field but `skip` in the object's order.
    pub fn fields(
        &mut self,
        object: &Value,
        first: &[&str],
        skip: &[&str],
    ) -> Result<(), AdminCliError> {
        let Some(map) = object.as_object() else {
            return self.line(&cell(Some(object)));
        };
        let rest = map
            .keys()
            .map(String::as_str)
            .filter(|k| !first.contains(k) && !skip.contains(k));
        let rows: Vec<Vec<String>> = first
            .iter()
            .copied()
            .filter(|k| map.contains_key(*k))
            .chain(rest)
            .map(|k| vec![sanitize(k), cell(map.get(k))])
            .collect();
        let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
        for row in rows {
            let pad = width - row[0].chars().count();
            let line = format!("{}{}  {}", row[0], " ".repeat(pad), row[1]);
            self.line(line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn printed(f: impl FnOnce(&mut Printer<&mut Vec<u8>>) -> Result<(), AdminCliError>) -> String {
        let mut out = Vec::new();
        f(&mut Printer::new(&mut out, false)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_align_every_column_to_its_widest_cell() {
        let text = printed(|p| {
            p.table(
                &["ID", "NAME", "STATUS"],
                &[
                    vec!["a".into(), "Long name é".into(), "active".into()],
                    vec!["bbbb".into(), "x".into(), "-".into()],
                ],
            )
        });
        assert_eq!(
            text,
            "ID    NAME         STATUS\n\
             a     Long name é  active\n\
             bbbb  x            -\n"
        );
    }

    #[test]
    fn cells_escape_control_characters_and_join_lists() {
        assert_eq!(cell(Some(&json!("a\u{1b}[2Jb\nc"))), "a\\u{1b}[2Jb\\nc");
        assert_eq!(cell(Some(&json!(["x", "y"]))), "x,y");
        assert_eq!(cell(Some(&json!([]))), "-");
        assert_eq!(cell(Some(&Value::Null)), "-");
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(42))), "42");
        assert_eq!(cell(Some(&json!(false))), "false");
    }

    #[test]
    fn fields_put_the_named_ones_first_and_skip_others() {
        let text = printed(|p| {
            p.fields(
                &json!({"b": 1, "client_id": "svc", "a": null, "warnings": []}),
                &["client_id", "missing"],
                &["warnings"],
            )
        });
        assert_eq!(text, "client_id  svc\na          -\nb          1\n");
    }
}
