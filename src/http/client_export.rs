//! The bodies of `GET /api/admin/oauth-clients/export`: the same columns
//! as CSV (cells made safe from spreadsheet formulas), an Excel workbook
//! (`rust_xlsxwriter`; every text cell is written as a string, never a
//! formula) and a landscape A4 PDF table (`pdf-writer`, the standard
//! Helvetica font, text in WinAnsi with unrepresentable characters as `?`).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::client_json::ClientView;

/// The export's columns, in order.
pub const COLUMNS: [&str; 16] = [
    "client_id",
    "client_name",
    "status",
    "registration_type",
    "token_endpoint_auth_method",
    "grant_types",
    "scope",
    "redirect_uris",
    "team_restrictions",
    "access_preset",
    "access_token_ttl_seconds",
    "refresh_token_enabled",
    "refresh_token_ttl_seconds",
    "created_at",
    "updated_at",
    "active_token_count",
];

/// Columns holding numbers (written as numbers in the workbook).
const NUMERIC: [usize; 3] = [10, 12, 15];

/// One client's cells, in `COLUMNS` order.
pub fn row(v: &ClientView) -> [String; 16] {
    [
        v.client_id.clone(),
        v.client_name.clone(),
        v.status.to_owned(),
        v.registration_type.to_owned(),
        v.token_endpoint_auth_method.to_owned(),
        v.grant_types.join(" "),
        v.scope.clone(),
        v.redirect_uris.join(" "),
        v.team_restrictions.join(" "),
        v.access_preset.to_owned(),
        v.access_token_ttl_seconds.to_string(),
        v.refresh_token_enabled.to_string(),
        v.refresh_token_ttl_seconds.to_string(),
        v.created_at.clone(),
        v.updated_at.clone(),
        v.active_token_count.to_string(),
    ]
}

/// CSV with a header line.
pub fn csv(items: &[ClientView]) -> Result<Vec<u8>, String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS).map_err(|e| e.to_string())?;
    for v in items {
        out.write_record(row(v).iter().map(|c| crate::audit::export::csv_cell(c)))
            .map_err(|e| e.to_string())?;
    }
    out.into_inner().map_err(|e| e.to_string())
}

/// An `.xlsx` workbook: one sheet, a bold frozen header with a filter.
pub fn xlsx(items: &[ClientView]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("OAuth clients")?;
    let bold = Format::new().set_bold();
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
        sheet.set_column_width(c as u16, if c < 2 { 32 } else { 18 })?;
    }
    for (r, v) in items.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row(v).iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(n) if NUMERIC.contains(&c) => sheet.write_number(r, c as u16, n)?,
                _ => sheet.write_string(r, c as u16, cell)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, items.len() as u32, COLUMNS.len() as u16 - 1)?;
    workbook.save_to_buffer()
}

/// Text as the standard fonts' WinAnsi bytes: Latin-1 as is, anything
/// else `?`; cut to `max` characters (with `…` shown as `...`).
fn win_ansi(text: &str, max: usize) -> Vec<u8> {
    let mut out: Vec<u8> = text
        .chars()
        .take(max)
        .map(|c| match c as u32 {
            0x20..=0x7e | 0xa0..=0xff => c as u32 as u8,
            _ => b'?',
        })
        .collect();
    if text.chars().count() > max {
        out.truncate(max.saturating_sub(3));
        out.extend_from_slice(b"...");
    }
    out
}

/// The PDF's columns: heading, x offset (pt), most characters shown.
const PDF_COLUMNS: [(&str, f32, usize); 8] = [
    ("Name", 0.0, 34),
    ("Client id", 190.0, 40),
    ("Type", 400.0, 14),
    ("Registered", 470.0, 14),
    ("Grant types", 540.0, 40),
    ("Status", 690.0, 8),
    ("Tokens", 730.0, 8),
    ("Created", 765.0, 10),
];

/// A landscape A4 table of the clients, 30 rows a page.
pub fn pdf(items: &[ClientView], generated_at: &str) -> Vec<u8> {
    const WIDTH: f32 = 842.0;
    const HEIGHT: f32 = 595.0;
    const MARGIN: f32 = 36.0;
    const PER_PAGE: usize = 30;
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let pages: Vec<&[ClientView]> = if items.is_empty() {
        vec![&[]]
    } else {
        items.chunks(PER_PAGE).collect()
    };
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(6 + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr("authlog OAuth clients"))
        .producer(TextStr("authlog"));
    let total = pages.len();
    for (n, (rows, page_id)) in pages.iter().zip(&page_ids).enumerate() {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), font)
            .pair(Name(b"F2"), bold);
        page.finish();
        let mut c = Content::new();
        let text = |c: &mut Content, f: &[u8], size: f32, x: f32, y: f32, s: &[u8]| {
            c.begin_text()
                .set_font(Name(f), size)
                .next_line(x, y)
                .show(Str(s))
                .end_text();
        };
        let mut y = HEIGHT - MARGIN - 12.0;
        let title = format!(
            "authlog OAuth clients - {} client{} - {generated_at} - page {} of {total}",
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            n + 1
        );
        text(&mut c, b"F2", 12.0, MARGIN, y, &win_ansi(&title, 200));
        y -= 24.0;
        for (heading, x, _) in PDF_COLUMNS {
            text(&mut c, b"F2", 8.0, MARGIN + x, y, heading.as_bytes());
        }
        c.set_line_width(0.5)
            .move_to(MARGIN, y - 4.0)
            .line_to(WIDTH - MARGIN, y - 4.0)
            .stroke();
        y -= 16.0;
        for v in rows.iter() {
            let grants: Vec<&str> = v
                .grant_types
                .iter()
                .map(|g| g.rsplit(':').next().unwrap_or(g))
                .collect();
            let kind = if v.token_endpoint_auth_method == "none" {
                "public"
            } else {
                "confidential"
            };
            let cells = [
                v.client_name.clone(),
                v.client_id.clone(),
                kind.to_owned(),
                v.registration_type.to_owned(),
                grants.join(", "),
                v.status.to_owned(),
                v.active_token_count.to_string(),
                v.created_at.chars().take(10).collect(),
            ];
            for ((_, x, max), cell) in PDF_COLUMNS.iter().zip(&cells) {
                text(&mut c, b"F1", 8.0, MARGIN + x, y, &win_ansi(cell, *max));
            }
            y -= 15.0;
        }
        if items.is_empty() {
            text(&mut c, b"F1", 9.0, MARGIN, y, b"No client matches.");
        }
        pdf.stream(content_id, &c.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::win_ansi;

    #[test]
    fn text_outside_latin_1_becomes_question_marks_and_long_text_is_cut() {
        assert_eq!(win_ansi("café ✓", 20), b"caf\xe9 ?");
        assert_eq!(win_ansi("abcdefghij", 6), b"abc...");
        assert_eq!(win_ansi("a\nb", 5), b"a?b");
    }
}
