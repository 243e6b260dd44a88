//! Following the admin API's cursor pagination (`items`, `next_cursor`)
//! to the last page.

use serde_json::Value;

use super::api::Api;
use super::error::AdminCliError;

/// The largest page the admin API serves.
const PAGE: &str = "500";

/// Every item of the paged collection at `segments`, in order.
pub async fn all_pages(
    api: &Api,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<Vec<Value>, AdminCliError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_query = query.to_vec();
        page_query.push(("limit", PAGE));
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor));
        }
        let page = api.get(segments, &page_query).await?;
        let bad = |what: &str| AdminCliError::BadAnswer {
            url: segments.join("/"),
            what: what.to_owned(),
        };
        let Some(page_items) = page.get("items").and_then(Value::as_array) else {
            return Err(bad("no items array"));
        };
        items.extend(page_items.iter().cloned());
        match page.get("next_cursor") {
            None | Some(Value::Null) => return Ok(items),
            Some(Value::String(next)) => {
                // A cursor that does not move (or an empty page) would loop forever.
                if page_items.is_empty() || cursor.as_ref() == Some(next) {
                    return Err(bad("the next_cursor does not advance"));
                }
                cursor = Some(next.clone());
            }
            Some(_) => return Err(bad("next_cursor is not a string")),
        }
    }
}
