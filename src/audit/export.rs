//! Export formats of audit items: NDJSON (one `AuditItem` JSON per line),
//! CSV (fixed columns, the summary as JSON text, formula-looking cells
//! defused) and a plain-text table for terminals. Each chunk is rendered
//! on its own so exports stream in constant memory.

use super::item::AuditItem;
use super::AuditError;

/// CSV columns, in order.
pub const CSV_COLUMNS: [&str; 12] = [
    "position",
    "time",
    "type",
    "principal",
    "via_client",
    "ip",
    "user_agent",
    "client_id",
    "correlation_id",
    "stream",
    "hash",
    "summary",
];

/// How items are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// Aligned text for terminals.
    Table,
}

impl ExportFormat {
    /// Parses `ndjson`, `csv` or (when `table_allowed`) `table`.
    pub fn parse(text: &str, table_allowed: bool) -> Result<Self, AuditError> {
        match text {
            "ndjson" => Ok(ExportFormat::Ndjson),
            "csv" => Ok(ExportFormat::Csv),
            "table" if table_allowed => Ok(ExportFormat::Table),
            _ if table_allowed => Err(AuditError::invalid(
                "format",
                "must be ndjson, csv or table",
            )),
            _ => Err(AuditError::invalid("format", "must be ndjson or csv")),
        }
    }

    /// The media type of an HTTP export.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Table => "text/plain; charset=utf-8",
        }
    }

    /// What comes before the first item.
    pub fn header(self) -> Vec<u8> {
        match self {
            ExportFormat::Ndjson => Vec::new(),
            ExportFormat::Csv => csv_rows(&[CSV_COLUMNS.map(str::to_owned).to_vec()]),
            ExportFormat::Table => format!(
                "{:>8}  {:<27}  {:<27}  {:<44}  {}\n",
                "POSITION", "TIME", "TYPE", "ACTOR", "SUMMARY"
            )
            .into_bytes(),
        }
    }

    /// Renders a chunk of items.
    pub fn render(self, items: &[AuditItem]) -> Vec<u8> {
        match self {
            ExportFormat::Ndjson => {
                let mut out = Vec::with_capacity(items.len() * 512);
                for item in items {
                    // Serializing a plain struct into memory cannot fail.
                    if serde_json::to_writer(&mut out, item).is_ok() {
                        out.push(b'\n');
                    }
                }
                out
            }
            ExportFormat::Csv => csv_rows(&items.iter().map(csv_record).collect::<Vec<_>>()),
            ExportFormat::Table => {
                let mut out = String::new();
                for item in items {
                    let actor = match &item.actor.via_client {
                        Some(via) => format!("{} via {via}", item.actor.principal),
                        None => item.actor.principal.clone(),
                    };
                    out.push_str(&format!(
                        "{:>8}  {:<27}  {:<27}  {:<44}  {}\n",
                        item.position, item.time, item.event_type, actor, item.summary
                    ));
                }
                out.into_bytes()
            }
        }
    }
}

/// Prefixes cells that a spreadsheet would run as a formula (CSV injection).
pub fn csv_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

fn csv_record(item: &AuditItem) -> Vec<String> {
    let opt = |v: &Option<String>| v.as_deref().map(csv_cell).unwrap_or_default();
    vec![
        item.position.to_string(),
        item.time.clone(),
        item.event_type.to_owned(),
        csv_cell(&item.actor.principal),
        opt(&item.actor.via_client),
        opt(&item.actor.ip),
        opt(&item.actor.user_agent),
        opt(&item.client_id),
        opt(&item.correlation_id),
        csv_cell(&item.stream),
        item.hash.clone(),
        item.summary.to_string(),
    ]
}

fn csv_rows(rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for row in rows {
        // Writing into memory cannot fail.
        let _ = writer.write_record(row);
    }
    writer.into_inner().unwrap_or_default()
}
