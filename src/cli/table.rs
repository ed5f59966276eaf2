//! Plain tables for the terminal and for logs: columns as wide as their widest cell, two spaces
//! between them, no borders, no colour, no wrapping (a log line is never cut at a terminal's
//! width), no trailing blanks. `comfy-table` measures the cells; a long host name widens its
//! column instead of pushing the columns after it out of line.

use comfy_table::{ContentArrangement, Table, presets::NOTHING};

/// A table with `header` as its first line (none when `header` is empty).
pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if !header.is_empty() {
        table.set_header(header.to_vec());
    }
    table
}

/// The table's lines, header first, without trailing blanks.
pub fn lines(mut table: Table) -> Vec<String> {
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// Prints the table, each line indented by `indent`.
pub fn print(table: Table, indent: &str) {
    for line in lines(table) {
        println!("{indent}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_two_spaces_apart() {
        let mut t = new(&["host", "age", "inventory"]);
        t.add_row(vec![
            "a-rather-long-host-name.example.net",
            "3h",
            "WAS 9.0.5.20",
        ]);
        t.add_row(vec!["dx1", "12d", "-"]);
        let lines = lines(t);
        assert_eq!(
            lines,
            [
                "host                                 age  inventory",
                "a-rather-long-host-name.example.net  3h   WAS 9.0.5.20",
                "dx1                                  12d  -",
            ]
        );
    }
}
