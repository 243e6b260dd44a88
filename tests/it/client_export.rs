//! `GET /api/admin/oauth-clients/export?format=xlsx|pdf`: the workbook
//! opens with a spreadsheet reader and holds a header and one row per
//! matching client; the PDF parses and its text holds every client's name.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use serde_json::json;

use crate::harness::Server;

fn export(s: &Server, admin: &str, query: &str) -> (String, Vec<u8>) {
    let r = s
        .get(&format!("/api/admin/oauth-clients/export?{query}"))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    let media = r.headers()["content-type"].to_str().unwrap().to_owned();
    (media, r.bytes().unwrap().to_vec())
}

#[test]
fn xlsx_and_pdf_exports_hold_the_filtered_clients() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let names = ["Export alpha", "Export beta =SUM(A1)", "Export gamma café"];
    for (n, name) in names.iter().enumerate() {
        s.create_client(
            &admin,
            json!({ "client_id": format!("export-{n}"), "client_name": name, "grant_types": ["client_credentials"] }),
        );
    }

    let (media, bytes) = export(&s, &admin, "format=xlsx&q=export");
    assert_eq!(
        media,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("an xlsx workbook");
    let sheet = book.worksheet_range("OAuth clients").expect("the sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "client_id");
    assert_eq!(rows[0][1], "client_name");
    assert_eq!(rows.len(), 1 + names.len(), "{rows:?}");
    for (n, name) in names.iter().enumerate() {
        let row = rows
            .iter()
            .find(|r| r[0] == format!("export-{n}"))
            .expect("the client's row");
        assert_eq!(row[1], *name, "text is kept as text, never a formula");
        assert_eq!(row[2], "active");
        assert_eq!(row[15], "0");
    }

    let (media, bytes) = export(&s, &admin, "format=pdf&q=export");
    assert_eq!(media, "application/pdf");
    let doc = lopdf::Document::load_mem(&bytes).expect("a PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    assert_eq!(pages.len(), 1);
    let text = doc.extract_text(&pages).expect("the PDF's text");
    for name in ["Export alpha", "Export beta =SUM(A1)", "export-2"] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    assert!(
        !text.contains("authlog-admin"),
        "the filter was ignored: {text}"
    );

    // Many clients: several pages, every client on one of them.
    for n in 0..40 {
        s.create_client(&admin, json!({ "client_id": format!("many-{n:02}"), "client_name": format!("many {n:02}"), "grant_types": ["client_credentials"] }));
    }
    let (_, bytes) = export(&s, &admin, "format=pdf&q=many");
    let doc = lopdf::Document::load_mem(&bytes).expect("a PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    assert_eq!(pages.len(), 2);
    let text = doc.extract_text(&pages).unwrap();
    for n in 0..40 {
        assert!(
            text.contains(&format!("many-{n:02}")),
            "many-{n:02} missing"
        );
    }

    // An unknown format names the field.
    let r = s
        .get("/api/admin/oauth-clients/export?format=docx")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["field"], "format");
}
