//! The users CSV format, for bulk import and export: a header row naming the columns (the profile properties by
//! their snake_case names, `username` first or anywhere, and `groups`, group names separated by `;`), then one user
//! per row. Import reads only the columns present: a missing column leaves that property as it is for an existing
//! user (and empty for a new one); an empty cell empties it. Export writes every column.
//!
//! Pure: bytes in, rows out; the rules that need the directory (is the e-mail taken?) are `services::user_import`'s.

use crate::directory::user::{Profile, User, UserProperty};

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 100_000;
/// The name of the groups column.
pub const GROUPS: &str = "groups";

/// A column of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Property(UserProperty),
    Groups,
}

/// One row: its line in the file (the header is line 1), the username and the cells of the other columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub username: String,
    /// The profile properties the file names, with this row's values (trimmed).
    pub values: Vec<(UserProperty, String)>,
    /// The groups, when the file has a groups column (empty names dropped).
    pub groups: Option<Vec<String>>,
}

impl Row {
    /// `base` (the current profile, or the default for a new user) with this row's values written over it.
    pub fn apply_to(&self, mut base: Profile) -> Profile {
        for (property, value) in &self.values {
            if let Some(field) = base.field_mut(*property) {
                field.clone_from(value);
            }
        }
        base
    }
}

/// Why a file cannot be read at all; the line is the file's line number (1 is the header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CsvError {
    pub line: u64,
    pub reason: String,
}

/// Reads a users file. The header decides the columns: `username` is required, each known column at most once,
/// and an unknown one is refused (a typo would otherwise drop a property silently). A UTF-8 byte order mark is
/// skipped. Rows must have as many cells as the header.
pub fn read(bytes: &[u8]) -> Result<Vec<Row>, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let header = reader.headers().map_err(|e| error_at(1, &e))?.clone();
    let mut columns = Vec::new();
    for name in header.iter() {
        let name = name.trim().to_ascii_lowercase();
        let column = if name == GROUPS {
            Column::Groups
        } else {
            match UserProperty::parse(&name) {
                Some(p) => Column::Property(p),
                None => {
                    let known: Vec<&str> =
                        UserProperty::ALL.iter().map(|p| p.as_str()).chain(std::iter::once(GROUPS)).collect();
                    return Err(CsvError {
                        line: 1,
                        reason: format!("unknown column {name:?}; the columns are {}", known.join(", ")),
                    });
                }
            }
        };
        if columns.contains(&column) {
            return Err(CsvError { line: 1, reason: format!("column {name:?} appears twice") });
        }
        columns.push(column);
    }
    let Some(username_at) = columns.iter().position(|c| *c == Column::Property(UserProperty::Username)) else {
        return Err(CsvError { line: 1, reason: "the header has no username column".into() });
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| error_at(e.position().map_or(0, |p| line_at(bytes, p)), &e))?;
        let line = record.position().map_or(0, |p| line_at(bytes, p));
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(CsvError { line, reason: format!("more than {MAX_ROWS} rows; split the file") });
        }
        let mut row = Row { line, username: String::new(), values: Vec::new(), groups: None };
        for (i, (column, cell)) in columns.iter().zip(record.iter()).enumerate() {
            let cell = cell.trim();
            match column {
                _ if i == username_at => row.username = cell.to_owned(),
                Column::Property(p) => row.values.push((*p, cell.to_owned())),
                Column::Groups => {
                    row.groups =
                        Some(cell.split(';').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect());
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Every user as a row of every column (the header first), groups joined with `;`.
pub fn write(users: &[(User, Vec<String>)]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = UserProperty::ALL.iter().map(|p| p.as_str()).chain(std::iter::once(GROUPS)).collect();
    writer.write_record(&header)?;
    for (user, groups) in users {
        let mut record: Vec<String> = UserProperty::ALL.iter().map(|p| user.property(*p).to_owned()).collect();
        record.push(groups.join(";"));
        writer.write_record(&record)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The line (from 1) where a record starts, counted from its byte offset: the csv crate's own line count skips
/// blank lines, and people look for the line their editor shows.
fn line_at(bytes: &[u8], position: &csv::Position) -> u64 {
    let mut offset = usize::try_from(position.byte()).unwrap_or(usize::MAX).min(bytes.len());
    // A record's position is where the reader resumed, before the blank lines it skipped.
    while bytes.get(offset).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        offset += 1;
    }
    let newlines = bytes.get(..offset).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
    u64::try_from(newlines).unwrap_or(u64::MAX).saturating_add(1)
}

fn error_at(line: u64, e: &csv::Error) -> CsvError {
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} cells where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    };
    CsvError { line, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::user::UserStatus;
    use crate::directory::UserId;

    #[test]
    fn reads_the_columns_the_header_names() {
        let file = "\u{feff}Username,email,First_Name,groups\n\
                    alice, alice@example.com ,Alice,staff; engineering\n\
                    \n\
                    \"bob\",bob@example.com,\"Bob, Jr.\",\n";
        let rows = read(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].username, "alice");
        assert_eq!(
            rows[0].values,
            vec![(UserProperty::Email, "alice@example.com".into()), (UserProperty::FirstName, "Alice".into())]
        );
        assert_eq!(rows[0].groups, Some(vec!["staff".into(), "engineering".into()]));
        assert_eq!(rows[1].line, 4, "the blank line is skipped but counted");
        assert_eq!(rows[1].values[1].1, "Bob, Jr.");
        assert_eq!(rows[1].groups, Some(vec![]));
        // Columns the file does not name keep what the base profile has.
        let base = Profile { department: "Sales".into(), first_name: "Old".into(), ..Profile::default() };
        let merged = rows[0].apply_to(base);
        assert_eq!((merged.first_name.as_str(), merged.department.as_str()), ("Alice", "Sales"));
    }

    #[test]
    fn refuses_a_file_it_cannot_read_naming_the_line() {
        for (file, line, says) in [
            ("email\nalice@example.com\n", 1, "no username column"),
            ("username,emial\nalice,a@example.com\n", 1, "unknown column \"emial\""),
            ("username,email,Email\nalice,a,b\n", 1, "appears twice"),
            ("username,email\nalice,a@example.com\nbob\n", 3, "1 cells where the header has 2"),
        ] {
            let err = read(file.as_bytes()).unwrap_err();
            assert_eq!(err.line, line, "{file}: {err}");
            assert!(err.reason.contains(says), "{file}: {err}");
        }
        let err = read(b"username\n\xff\xfe\n").unwrap_err();
        assert!(err.reason.contains("UTF-8"), "{err}");
    }

    #[test]
    fn writes_what_it_reads() {
        let user = User {
            id: UserId(1),
            username: "alice".into(),
            profile: Profile {
                email: "alice@example.com".into(),
                display_name: "Alice \"Al\", PhD".into(),
                ..Profile::default()
            },
            status: UserStatus::Active,
        };
        let text = write(&[(user.clone(), vec!["staff".into(), "ops".into()])]).unwrap();
        let rows = read(text.as_bytes()).unwrap();
        assert_eq!(rows[0].username, "alice");
        assert_eq!(rows[0].apply_to(Profile::default()), user.profile);
        assert_eq!(rows[0].groups, Some(vec!["staff".into(), "ops".into()]));
    }
}
