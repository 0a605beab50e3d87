//! An uploaded spreadsheet as rows of text cells, whether it came as CSV or as an Excel workbook (XLSX):
//! the bulk registration reads one shape whatever program the operator saved the file from.
//!
//! CSV: UTF-8, with or without a BOM, `,` or `;` (Excel in much of the world) as the separator.
//! XLSX: the first worksheet. A date cell reads as `YYYY-MM-DD`; a number as the shortest text that reads
//! back as the same number (what Excel shows, `12000` rather than `12000.0`), since the workbook stores
//! numbers as binary doubles and the readers downstream take decimal text.

use std::io::{Cursor, Read, Seek};

use calamine::{Data, Reader, Xlsx};

use crate::error::{ApiError, ApiResult};
use crate::upload::Upload;

/// The XLSX media type, as browsers and `curl` declare a `.xlsx` file.
pub const XLSX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The most a workbook may hold once unzipped: far above any 10,000-row sheet, far below what a small zip
/// file that expands without end ("zip bomb") would make the server hold.
const MOST_UNZIPPED_BYTES: u64 = 256 * 1024 * 1024;

/// A sheet: its header cells and its data rows.
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<SheetRow>,
}

/// One data row: the spreadsheet's own row number (the header is row 1 when the sheet starts at the top)
/// and its cells, trimmed, in the header's order.
pub struct SheetRow {
    pub number: usize,
    pub cells: Vec<String>,
}

/// The upload as a sheet: XLSX when it says so (media type, `.xlsx` name) or starts as a zip file does,
/// else CSV. Blank rows are skipped.
pub fn read(upload: &Upload) -> ApiResult<Sheet> {
    if is_xlsx(upload) {
        read_xlsx(&upload.bytes)
    } else {
        read_csv(&upload.bytes)
    }
}

/// Whether the upload is an XLSX workbook: declared so, named so, or starting as a zip file does.
pub fn is_xlsx(upload: &Upload) -> bool {
    let declared = upload.content_type.as_deref().is_some_and(|t| crate::upload::media_type(t) == XLSX_MEDIA_TYPE);
    let named = upload.file_name.as_deref().is_some_and(|n| n.to_ascii_lowercase().ends_with(".xlsx"));
    declared || named || upload.bytes.starts_with(b"PK\x03\x04")
}

fn read_csv(body: &[u8]) -> ApiResult<Sheet> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::unprocessable("body", "the CSV must be UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header_line = text.lines().next().unwrap_or("");
    let separator = if header_line.contains(';') && !header_line.contains(',') { b';' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(separator).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let unreadable = |e: csv::Error| ApiError::unprocessable("body", format!("not a CSV file: {e}"));
    let headers = reader.headers().map_err(unreadable)?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(unreadable)?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let number = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        rows.push(SheetRow { number, cells: record.iter().map(str::to_owned).collect() });
    }
    Ok(Sheet { headers, rows })
}

fn read_xlsx(body: &[u8]) -> ApiResult<Sheet> {
    let unreadable = |e: String| ApiError::unprocessable("body", format!("not a readable XLSX workbook: {e}"));
    check_unzipped_size(Cursor::new(body)).map_err(unreadable)?;
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(body))
        .map_err(|e: calamine::XlsxError| unreadable(e.to_string()))?;
    let range = match workbook.worksheet_range_at(0) {
        None => return Err(ApiError::unprocessable("body", "the workbook has no worksheet")),
        Some(range) => range.map_err(|e| unreadable(e.to_string()))?,
    };
    // `rows()` starts at the first used cell: its position gives the spreadsheet's own row numbers.
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_column = range.start().map_or(0, |(_, column)| column as usize);
    let mut lines = range.rows().enumerate().map(|(i, cells)| {
        // Columns left of the first used one are empty in every row: kept so that no cell moves.
        let mut texts = vec![String::new(); first_column];
        texts.extend(cells.iter().map(cell_text));
        (first_row + i + 1, texts)
    });
    let Some((_, headers)) = lines.find(|(_, cells)| cells.iter().any(|c| !c.is_empty())) else {
        return Err(ApiError::unprocessable("body", "the first worksheet is empty"));
    };
    let rows = lines
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
        .map(|(number, cells)| SheetRow { number, cells })
        .collect();
    Ok(Sheet { headers, rows })
}

/// Refuses a workbook that would unzip to more than [`MOST_UNZIPPED_BYTES`], by the sizes its zip
/// directory declares (the reader stops at the declared size, so a file cannot expand past it).
fn check_unzipped_size<R: Read + Seek>(file: R) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let size = archive.by_index_raw(i).map_err(|e| e.to_string())?.size();
        total = total.saturating_add(size);
    }
    if total > MOST_UNZIPPED_BYTES {
        return Err(format!("it unzips to {total} bytes, above the {MOST_UNZIPPED_BYTES} this server reads"));
    }
    Ok(())
}

/// A cell as the text a CSV export of it would hold.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(n) => n.to_string(),
        // Rust prints the shortest text that reads back as the same double: what the workbook's author
        // typed, for every number Excel itself can show (15 significant digits).
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(excel) => match excel.as_datetime() {
            Some(at) if excel.is_datetime() => at.date().to_string(),
            _ => excel.as_f64().to_string(),
        },
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(bytes: Vec<u8>, content_type: Option<&str>) -> Upload {
        Upload { bytes: bytes.into(), file_name: None, content_type: content_type.map(str::to_owned), multipart: false }
    }

    #[test]
    fn csv_with_bom_and_semicolons() {
        let sheet = read(&upload("\u{feff}a;b\n1;2\n;\n3; 4 \n".into(), Some("text/csv"))).unwrap();
        assert_eq!(sheet.headers, ["a", "b"]);
        let rows: Vec<(usize, Vec<String>)> = sheet.rows.into_iter().map(|r| (r.number, r.cells)).collect();
        assert_eq!(rows, [(2, vec!["1".to_owned(), "2".to_owned()]), (4, vec!["3".to_owned(), "4".to_owned()])]);
    }

    #[test]
    fn xlsx_dates_numbers_and_row_numbers() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
        // The table starts at B3: rows keep the spreadsheet's numbers and cells their columns.
        sheet.write_string(2, 1, "serial").unwrap();
        sheet.write_string(2, 2, "registered_on").unwrap();
        sheet.write_string(2, 3, "total_cost").unwrap();
        sheet.write_string(3, 1, "SHS-1").unwrap();
        let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 1, 15).unwrap();
        sheet.write_datetime_with_format(3, 2, &day, &date).unwrap();
        sheet.write_number(3, 3, 12000.5).unwrap();
        sheet.write_number(5, 3, 0.1).unwrap();
        let bytes = book.save_to_buffer().unwrap();

        let sheet = read(&upload(bytes, None)).unwrap();
        assert_eq!(sheet.headers, ["", "serial", "registered_on", "total_cost"]);
        assert_eq!(sheet.rows.len(), 2);
        assert_eq!(sheet.rows[0].number, 4);
        assert_eq!(sheet.rows[0].cells, ["", "SHS-1", "2026-01-15", "12000.5"]);
        assert_eq!(sheet.rows[1].number, 6);
        assert_eq!(sheet.rows[1].cells, ["", "", "", "0.1"]);
    }

    #[test]
    fn a_zip_that_is_no_workbook_is_refused() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("hello.txt", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, b"hello").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let e = read(&upload(bytes, Some(XLSX_MEDIA_TYPE))).err().unwrap();
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
}
