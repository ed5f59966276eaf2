//! Text-level helpers shared by IM's line-based files: byte-order-mark stripping, line splitting
//! that accepts LF, CRLF and lone CR endings, and the Java `.properties` syntax used by
//! `InstallationManager.dat` and `config.ini`.
//!
//! The properties reader follows `java.util.Properties.load` (comments with `#` or `!`,
//! `=`/`:`/whitespace separators, a key with no value, backslash escapes, `\uXXXX` including
//! surrogate pairs, line continuations), and [`decode_properties`] reads the bytes as Java does:
//! ISO-8859-1, or UTF-16 when the file starts with a UTF-16 byte-order mark.
//!
//! Why not the `java-properties` crate (2.0.0, MIT), which implements the same format: it
//! resolves escapes inside comments, so a comment naming a Windows path (`# C:\users\…`) fails
//! to load with "malformed \uxxxx encoding" where Java ignores it; it refuses the surrogate
//! pairs Java writes for characters outside the Basic Multilingual Plane; it decodes
//! "ISO-8859-1" as windows-1252 (bytes 0x80–0x9F differ from Java); and it panics, rather than
//! returning an error, on a line its pattern does not match. Each of those would block a backup
//! on a record Java reads without complaint. The reader here is ~150 lines, checked against
//! Java's quoting by a property test below.

use std::path::Path;

use super::ImError;

/// The UTF-8 byte-order mark some Windows editors put in front of a file.
pub(crate) const BOM: char = '\u{feff}';

/// `text` without a leading byte-order mark.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Splits `text` into lines ended by LF, CRLF or a lone CR (Java accepts all three), each with
/// its 1-based line number. The terminators are not part of the lines.
pub(crate) fn lines(text: &str) -> Vec<(u32, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut number: u32 = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push((number, &text[start..i]));
                i += 1;
            }
            b'\r' => {
                out.push((number, &text[start..i]));
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        start = i;
        number = number.saturating_add(1);
    }
    if start < bytes.len() {
        out.push((number, &text[start..]));
    }
    out
}

/// Decodes a Java properties file's bytes as Java reads them. `Properties.load(InputStream)`
/// reads ISO-8859-1, where every byte is a character, so a Latin-1 "é" in a comment or value is
/// read, never refused. A file starting with a UTF-16 byte-order mark (written by a Windows
/// tool) is read as UTF-16, and a UTF-8 byte-order mark is taken as UTF-8; a file that is not
/// valid in the encoding its mark names is an error naming the file.
pub(crate) fn decode_properties(bytes: &[u8], path: &Path) -> Result<String, ImError> {
    let utf16 = |rest: &[u8], big_endian: bool| {
        if !rest.len().is_multiple_of(2) {
            return Err(ImError::parse(
                path,
                None,
                "starts with a UTF-16 byte-order mark but has an odd number of bytes",
            ));
        }
        let units = rest.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|e| {
                ImError::parse(
                    path,
                    None,
                    format!(
                        "not valid UTF-16 text (an unpaired surrogate {:#06x})",
                        e.unpaired_surrogate()
                    ),
                )
            })
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, false);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8(rest.to_vec()).map_err(|e| {
            ImError::parse(
                path,
                None,
                format!(
                    "starts with a UTF-8 byte-order mark but is not valid UTF-8 (bad byte at offset {})",
                    e.utf8_error().valid_up_to() + 3
                ),
            )
        });
    }
    Ok(bytes.iter().map(|&b| char::from(b)).collect())
}

/// One `key=value` entry of a properties file, with its escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    /// The key, unescaped.
    pub key: String,
    /// The value, unescaped; may be empty.
    pub value: String,
    /// 1-based line where the entry starts (its first line if it is continued).
    pub line: u32,
}

/// Whitespace as `java.util.Properties` sees it.
fn is_prop_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Whether `s` ends with an odd number of backslashes, i.e. its last backslash is not itself
/// escaped and so continues the line.
fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Reads Java properties text into entries in file order (a later duplicate key is returned
/// too; callers let it win, as Java does). A leading byte-order mark is ignored.
pub(crate) fn parse_properties(text: &str, path: &Path) -> Result<Vec<Property>, ImError> {
    let lines = lines(strip_bom(text));
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (number, raw) = lines[i];
        i += 1;
        let first = raw.trim_start_matches(is_prop_space);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        let mut piece = first;
        while ends_with_continuation(piece) {
            logical.pop();
            let Some(&(_, next)) = lines.get(i) else {
                break;
            };
            i += 1;
            piece = next.trim_start_matches(is_prop_space);
            logical.push_str(piece);
        }
        // A key with no separator is a key with an empty value, as Java reads it.
        let (key, value) = split_entry(&logical).unwrap_or((logical.as_str(), ""));
        out.push(Property {
            key: unescape(key, path, number)?,
            value: unescape(value, path, number)?,
            line: number,
        });
    }
    Ok(out)
}

/// Splits a logical line into its raw (still escaped) key and value; `None` if there is no
/// separator at all (the whole line is then the key).
fn split_entry(line: &str) -> Option<(&str, &str)> {
    let mut chars = line.char_indices();
    let mut key_end = None;
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '=' | ':' => return Some((&line[..at], &line[at + 1..])),
            c if is_prop_space(c) => {
                key_end = Some(at);
                break;
            }
            _ => {}
        }
    }
    let key_end = key_end?;
    // Whitespace ended the key; one `=` or `:` may still follow it.
    let rest = line[key_end..].trim_start_matches(is_prop_space);
    let rest = rest
        .strip_prefix(['=', ':'])
        .map_or(rest, |r| r.trim_start_matches(is_prop_space));
    Some((&line[..key_end], rest))
}

/// Resolves the backslash escapes of a key or value.
fn unescape(raw: &str, path: &Path, line: u32) -> Result<String, ImError> {
    let bad = |msg: &str| ImError::parse(path, Some(line), msg);
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let unit = hex4(&mut chars).ok_or_else(|| bad("malformed \\uXXXX escape"))?;
                let decoded = if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: Java strings are UTF-16, so a character outside the
                    // Basic Multilingual Plane is written as two escapes in a row.
                    let low = match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => hex4(&mut chars),
                        _ => None,
                    }
                    .filter(|low| (0xDC00..0xE000).contains(low))
                    .ok_or_else(|| bad("\\u escape holds half a UTF-16 surrogate pair"))?;
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                } else {
                    char::from_u32(unit)
                };
                out.push(
                    decoded.ok_or_else(|| bad("\\u escape holds half a UTF-16 surrogate pair"))?,
                );
            }
            Some(other) => out.push(other),
            // A lone trailing backslash is a continuation at end of file; Java drops it.
            None => {}
        }
    }
    Ok(out)
}

/// Reads exactly four hex digits.
fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut unit = 0;
    for _ in 0..4 {
        unit = unit * 16 + chars.next()?.to_digit(16)?;
    }
    Some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/.ibm/registry/InstallationManager.dat";

    fn parse(text: &str) -> Vec<(String, String)> {
        parse_properties(text, Path::new(PATH))
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn separators_equals_colon_and_space() {
        assert_eq!(
            parse("a=1\nb:2\nc 3\nd = 4\ne : 5\nf\t  6\ng =\n"),
            pairs(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5"),
                ("f", "6"),
                ("g", "")
            ])
        );
    }

    #[test]
    fn comments_blank_lines_and_leading_whitespace() {
        let text = "#Tue Mar 05 10:00:00 UTC 2024\n\n   ! bang comment\n   key=value  \n\t\n";
        assert_eq!(parse(text), pairs(&[("key", "value  ")]));
    }

    #[test]
    fn escapes_are_resolved() {
        let text = "path=C\\:\\\\Program Files\\\\IBM\nsp\\ ace\\=key=\\ lead\nctl=a\\tb\\nc\\rd\\fe\nuni=\\u00e9\\u4E2D\nother=\\q\\#\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("path", "C:\\Program Files\\IBM"),
                ("sp ace=key", " lead"),
                ("ctl", "a\tb\nc\rd\x0ce"),
                ("uni", "é中"),
                ("other", "q#"),
            ])
        );
    }

    #[test]
    fn surrogate_pair_escape_decodes_to_one_character() {
        assert_eq!(parse("k=\\uD83D\\uDE00\n"), pairs(&[("k", "😀")]));
    }

    #[test]
    fn lone_surrogate_is_an_error() {
        let err = parse_properties("ok=1\nk=\\uD83Dx\n", Path::new(PATH)).unwrap_err();
        assert!(err.to_string().contains(&format!("{PATH}:2:")), "{err}");
    }

    #[test]
    fn malformed_unicode_escape_is_an_error_with_line() {
        let err = parse_properties("a=1\n\nb=\\u12G4\n", Path::new(PATH)).unwrap_err();
        assert!(
            matches!(err, ImError::Parse { line: Some(3), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn continuation_lines_join_and_drop_leading_whitespace() {
        let text = "osgi.bundles=a,\\\n    b,\\\n\t c\nnext=1\n";
        let props = parse_properties(text, Path::new(PATH)).unwrap();
        assert_eq!(props[0].value, "a,b,c");
        assert_eq!(props[0].line, 1);
        assert_eq!(props[1].key, "next");
        assert_eq!(props[1].line, 4);
    }

    #[test]
    fn escaped_backslash_at_end_is_not_a_continuation() {
        assert_eq!(
            parse("dir=C\\:\\\\\nnext=1\n"),
            pairs(&[("dir", "C:\\"), ("next", "1")])
        );
    }

    #[test]
    fn continuation_at_end_of_file_is_dropped() {
        assert_eq!(parse("k=v\\"), pairs(&[("k", "v")]));
    }

    #[test]
    fn comment_line_ending_in_backslash_does_not_continue() {
        assert_eq!(parse("# note \\\nk=v\n"), pairs(&[("k", "v")]));
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        assert_eq!(
            parse("a=1\r\nb=2\rc=3\r\n"),
            pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
        );
        let props = parse_properties("a=1\r\n\r\nb=2", Path::new(PATH)).unwrap();
        assert_eq!(props[1].line, 3);
    }

    #[test]
    fn bom_is_ignored() {
        assert_eq!(parse("\u{feff}a=1\n"), pairs(&[("a", "1")]));
    }

    #[test]
    fn line_without_separator_is_a_key_with_an_empty_value() {
        assert_eq!(
            parse("a=1\nosgi.noShutdown\n  trailing\\\n  key\n"),
            pairs(&[("a", "1"), ("osgi.noShutdown", ""), ("trailingkey", "")])
        );
    }

    #[test]
    fn latin1_bytes_are_read_as_java_reads_them() {
        let text = decode_properties(b"# Modifi\xe9\nk=\xe9t\xe9\x80\n", Path::new(PATH)).unwrap();
        assert_eq!(parse(&text), pairs(&[("k", "\u{e9}t\u{e9}\u{80}")]));
    }

    #[test]
    fn utf16_with_a_byte_order_mark() {
        let text = "location=/opt/IBM/Installation Manag\u{e9}r\n";
        for big_endian in [false, true] {
            let mut bytes = if big_endian {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for unit in text.encode_utf16() {
                bytes.extend(if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                });
            }
            assert_eq!(decode_properties(&bytes, Path::new(PATH)).unwrap(), text);
        }
        let err = decode_properties(&[0xFF, 0xFE, 0x41], Path::new(PATH)).unwrap_err();
        assert!(err.to_string().starts_with(PATH), "{err}");
        let err = decode_properties(&[0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00], Path::new(PATH));
        assert!(err.is_err());
    }

    #[test]
    fn utf8_with_a_byte_order_mark() {
        assert_eq!(
            decode_properties("\u{feff}k=\u{e9}\n".as_bytes(), Path::new(PATH)).unwrap(),
            "k=\u{e9}\n"
        );
        assert!(decode_properties(b"\xEF\xBB\xBFk=\xe9\n", Path::new(PATH)).is_err());
    }

    #[test]
    fn lines_reports_numbers_for_every_ending() {
        assert_eq!(
            lines("a\r\nb\rc\nd"),
            vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        );
        assert_eq!(lines("a\n"), vec![(1, "a")]);
        assert!(lines("").is_empty());
    }

    /// Escapes `s` the way `java.util.Properties.store` does for a key (every space escaped)
    /// with non-ASCII written as `\uXXXX` UTF-16 units, returning escape units so a test can
    /// break the line between them.
    fn java_quote(s: &str) -> Vec<String> {
        let mut units = Vec::new();
        for c in s.chars() {
            let unit = match c {
                '\\' => "\\\\".to_string(),
                ' ' => "\\ ".to_string(),
                '\t' => "\\t".to_string(),
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\x0c' => "\\f".to_string(),
                '=' | ':' | '#' | '!' => format!("\\{c}"),
                c if (' '..='~').contains(&c) => c.to_string(),
                c => {
                    let mut buf = [0u16; 2];
                    c.encode_utf16(&mut buf)
                        .iter()
                        .map(|u| format!("\\u{u:04X}"))
                        .collect()
                }
            };
            units.push(unit);
        }
        units
    }

    /// A small xorshift generator, so the property test needs no extra dependency and
    /// every failure is reproducible from its seed.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn string(&mut self) -> String {
            const TRICKY: &[char] = &[
                ' ', '\t', '\n', '\r', '\x0c', '\\', '=', ':', '#', '!', 'u', '\u{1}', 'é', '中',
                '😀', '\u{feff}',
            ];
            let len = self.below(24);
            (0..len)
                .map(|_| match self.below(3) {
                    0 => TRICKY[self.below(TRICKY.len())],
                    1 => char::from(b' ' + self.below(95) as u8),
                    _ => char::from_u32(self.below(0x2_0000) as u32).unwrap_or('x'),
                })
                .collect()
        }
    }

    #[test]
    fn quoting_then_parsing_gives_the_value_back() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..2000 {
            let key = rng.string();
            let value = rng.string();
            if key.is_empty() {
                continue;
            }
            let key_units = java_quote(&key);
            let value_units = java_quote(&value);
            // Split the value over continuation lines at a random escape boundary, with
            // indentation that the reader must drop.
            let cut = rng.below(value_units.len() + 1);
            let sep = ["=", ":", " ", " = ", "\t: "][rng.below(5)];
            let ending = ["\n", "\r\n", "\r"][rng.below(3)];
            let text = format!(
                "# round {round}{ending}{}{sep}{}\\{ending}   {}{ending}after=1{ending}",
                key_units.concat(),
                value_units[..cut].concat(),
                value_units[cut..].concat(),
            );
            let props = parse_properties(&text, Path::new(PATH))
                .unwrap_or_else(|e| panic!("round {round}: {e}\n{text:?}"));
            assert_eq!(props.len(), 2, "round {round}: {text:?}");
            assert_eq!(props[0].key, key, "round {round}: {text:?}");
            assert_eq!(props[0].value, value, "round {round}: {text:?}");
            assert_eq!(props[1].key, "after", "round {round}: {text:?}");
        }
    }
}
