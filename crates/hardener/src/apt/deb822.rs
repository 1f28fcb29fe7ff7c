//! The deb822 control-file format shared by `Release`, `Packages`, `.sources`, `.deb` control
//! files and the dpkg status database: paragraphs separated by blank lines, `Name: value`
//! fields, continuation lines starting with a space or tab.
//!
//! Parsing borrows from the input: a [`Paragraph`] holds slices, nothing is copied.
//! [`write_paragraph`] writes fields back (byte for byte for what was parsed), and
//! [`sort_dpkg_fields`] puts them in the order dpkg writes its status database.

use super::error::{AptError, AptResult};

/// One `Name: value` field of a [`Paragraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name as written.
    pub name: &'a str,
    /// The value: the first line without surrounding blanks, then each continuation line
    /// (with its leading space), joined by `\n`.
    pub value: &'a str,
    /// The 1-based line of the field name in the file.
    pub line: usize,
}

impl<'a> Field<'a> {
    /// The value folded onto one line: every run of blanks and line breaks becomes one space
    /// (for `Depends` and other folded fields).
    pub fn folded(&self) -> String {
        self.value.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The continuation lines of a multiline field (`SHA256`, `Conffiles`, `Description`),
    /// trimmed, without the first line and without empty lines.
    pub fn continuation_lines(&self) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let first = self.line;
        self.value
            .split('\n')
            .enumerate()
            .skip(1)
            .map(move |(i, l)| (first + i, l.trim()))
            .filter(|(_, l)| !l.is_empty())
    }

    /// The first line of the value.
    pub fn first_line(&self) -> &'a str {
        self.value.split('\n').next().unwrap_or("").trim()
    }
}

/// One paragraph (stanza) of a deb822 file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph<'a> {
    fields: Vec<Field<'a>>,
    line: usize,
}

impl<'a> Paragraph<'a> {
    /// The fields in file order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The 1-based line where the paragraph starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The field named `name` (field names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The value of field `name`, as [`Field::value`].
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|f| f.value)
    }

    /// Parses the single paragraph in `text` (no blank lines inside; leading and trailing
    /// blank lines are ignored). `first_line` is the line number of `text`'s first line in
    /// `file`, for messages. `None` when `text` holds no field.
    pub fn parse(text: &'a str, file: &str, first_line: usize, comments: bool) -> AptResult<Option<Paragraph<'a>>> {
        let mut para = Paragraph { fields: Vec::new(), line: 0 };
        // Byte offsets of the current field's value start and end.
        let mut current: Option<(&'a str, usize, usize, usize)> = None;
        let mut offset = 0;
        // A blank line after the fields ends the paragraph: only blank lines may follow.
        let mut ended = false;
        for (i, raw) in text.split_inclusive('\n').enumerate() {
            let line_no = first_line + i;
            let start = offset;
            offset += raw.len();
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if comments && line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                ended |= current.is_some();
                continue;
            }
            if ended {
                return Err(AptError::parse(file, Some(line_no), "blank line inside a paragraph"));
            }
            if line.starts_with([' ', '\t']) {
                match current.as_mut() {
                    Some((_, _, _, end)) => *end = start + line.len(),
                    None => {
                        return Err(AptError::parse(file, Some(line_no), "continuation line before any field"));
                    }
                }
                continue;
            }
            let Some(colon) = line.find(':') else {
                return Err(AptError::parse(file, Some(line_no), format!("{line:?} is not a \"Name: value\" field")));
            };
            let name = &line[..colon];
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(AptError::parse(file, Some(line_no), format!("invalid field name {name:?}")));
            }
            if let Some(f) = current.take() {
                para.push(text, f, file)?;
            }
            let value_start = start + colon + 1;
            current = Some((name, line_no, value_start, start + line.len()));
            if para.line == 0 {
                para.line = line_no;
            }
        }
        if let Some(f) = current.take() {
            para.push(text, f, file)?;
        }
        Ok((!para.fields.is_empty()).then_some(para))
    }

    fn push(
        &mut self,
        text: &'a str,
        (name, line, start, end): (&'a str, usize, usize, usize),
        file: &str,
    ) -> AptResult<()> {
        if self.field(name).is_some() {
            return Err(AptError::parse(file, Some(line), format!("duplicate field {name:?}")));
        }
        let value = text[start..end].trim_start_matches([' ', '\t']).trim_end();
        self.fields.push(Field { name, value, line });
        Ok(())
    }
}

/// Iterates over the paragraphs of a whole deb822 text, with line numbers; `comments`
/// allows `#` comment lines (`.sources` files allow them, dpkg and Release files do not).
pub fn paragraphs<'a>(
    text: &'a str,
    file: &'a str,
    comments: bool,
) -> impl Iterator<Item = AptResult<Paragraph<'a>>> + 'a {
    let mut rest = text;
    let mut line = 1;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            // A paragraph ends at the first blank line (after at least one non-blank line).
            let mut end = rest.len();
            let mut seen = false;
            let mut lines = 0;
            let mut pos = 0;
            for l in rest.split_inclusive('\n') {
                let blank = l.trim().is_empty();
                if blank && seen {
                    end = pos;
                    break;
                }
                if !(blank || comments && l.starts_with('#')) {
                    seen = true;
                }
                pos += l.len();
                lines += 1;
            }
            let chunk = &rest[..end];
            rest = &rest[end..];
            let first = line;
            line += lines;
            match Paragraph::parse(chunk, file, first, comments) {
                Ok(Some(p)) => return Some(Ok(p)),
                Ok(None) => continue,
                Err(e) => {
                    rest = "";
                    return Some(Err(e));
                }
            }
        }
    })
}

/// The order in which dpkg writes the fields it knows in its status database
/// (lib/dpkg/parse.c `fieldinfos`); other fields follow in their own order.
pub const DPKG_FIELD_ORDER: [&str; 32] = [
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Sorts `(name, value)` fields into dpkg's order ([`DPKG_FIELD_ORDER`], names compared
/// case-insensitively); unknown fields keep their relative order after the known ones.
pub fn sort_dpkg_fields(fields: &mut [(&str, &str)]) {
    let rank = |name: &str| {
        DPKG_FIELD_ORDER.iter().position(|k| k.eq_ignore_ascii_case(name)).unwrap_or(DPKG_FIELD_ORDER.len())
    };
    fields.sort_by_key(|(name, _)| rank(name));
}

/// Writes one paragraph: `Name: value` lines, each further line of a multiline value as a
/// continuation line (a leading space is added when missing, an empty line becomes ` .`),
/// ending with a newline. A value as [`Field::value`] gives it (continuation lines with their
/// leading space, possibly an empty first line) is written back byte for byte.
pub fn write_paragraph<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(name);
        out.push(':');
        let mut lines = value.split('\n');
        let first = lines.next().unwrap_or("");
        if !first.is_empty() {
            out.push(' ');
            out.push_str(first);
        }
        out.push('\n');
        for line in lines {
            if line.trim().is_empty() {
                out.push_str(" .\n");
                continue;
            }
            if !line.starts_with([' ', '\t']) {
                out.push(' ');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_dpkg_status_is_written_back_byte_for_byte() {
        // dpkg wrote this file: parsing and writing each paragraph back, even from shuffled
        // fields sorted into dpkg's order, must give dpkg's bytes.
        let Ok(status) = std::fs::read_to_string("/var/lib/dpkg/status") else { return };
        let mut written = String::new();
        let mut shuffled = String::new();
        for p in paragraphs(&status, "/var/lib/dpkg/status", false) {
            let p = p.expect("dpkg's status parses");
            let fields: Vec<(&str, &str)> = p.fields().iter().map(|f| (f.name, f.value)).collect();
            // dpkg ends every paragraph, the last one too, with a blank line.
            written.push_str(&write_paragraph(fields.iter().copied()));
            written.push('\n');
            let mut reversed: Vec<(&str, &str)> = fields.iter().rev().copied().collect();
            // Unknown fields keep their relative order: restore it among themselves.
            let known = |n: &str| DPKG_FIELD_ORDER.iter().any(|k| k.eq_ignore_ascii_case(n));
            let mut unknown: Vec<(&str, &str)> = fields.iter().filter(|(n, _)| !known(n)).copied().collect();
            for slot in reversed.iter_mut().filter(|(n, _)| !known(n)) {
                *slot = unknown.remove(0);
            }
            sort_dpkg_fields(&mut reversed);
            shuffled.push_str(&write_paragraph(reversed));
            shuffled.push('\n');
        }
        assert!(!written.is_empty());
        assert_eq!(first_difference(&written, &status), None, "written back");
        assert_eq!(first_difference(&shuffled, &status), None, "sorted into dpkg's order");
    }

    /// The first differing line (1-based) of two texts, with both versions.
    fn first_difference<'a>(a: &'a str, b: &'a str) -> Option<(usize, &'a str, &'a str)> {
        let (mut la, mut lb) = (a.split('\n'), b.split('\n'));
        for n in 1.. {
            match (la.next(), lb.next()) {
                (None, None) => return None,
                (x, y) if x != y => return Some((n, x.unwrap_or("<end>"), y.unwrap_or("<end>"))),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn writing_values_from_other_sources() {
        let text = write_paragraph([
            ("Package", "p"),
            ("Description", "short\nlong line\n\nmore"),
            ("Conffiles", "\n /etc/a 0123"),
        ]);
        assert_eq!(text, "Package: p\nDescription: short\n long line\n .\n more\nConffiles:\n /etc/a 0123\n");
        let p = Paragraph::parse(&text, "f", 1, false).expect("ok").expect("some");
        assert_eq!(p.field("Description").expect("d").continuation_lines().count(), 3);
    }

    #[test]
    fn fields_continuations_and_line_numbers() {
        let text =
            "\nPackage: a\nDepends: b,\n c (>= 1)\nDescription: short\n long line\n .\n more\n\n\nPackage: z\r\nX: 1\n";
        let paras: Vec<Paragraph<'_>> = paragraphs(text, "P", false).collect::<AptResult<_>>().expect("parse");
        assert_eq!(paras.len(), 2);
        assert_eq!(paras[0].line(), 2);
        assert_eq!(paras[0].get("package"), Some("a"));
        assert_eq!(paras[0].field("Depends").expect("dep").folded(), "b, c (>= 1)");
        let desc = paras[0].field("Description").expect("desc");
        assert_eq!(desc.first_line(), "short");
        assert_eq!(desc.continuation_lines().collect::<Vec<_>>(), [(6, "long line"), (7, "."), (8, "more")]);
        assert_eq!(desc.line, 5);
        assert_eq!(paras[1].line(), 11);
        assert_eq!(paras[1].get("Package"), Some("z"));
        assert_eq!(paras[1].field("X").expect("x").line, 12);
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = |t: &str| paragraphs(t, "status", false).find_map(Result::err).expect("error").to_string();
        assert_eq!(
            err("Package: a\nno colon here\n"),
            "status line 2: \"no colon here\" is not a \"Name: value\" field"
        );
        assert_eq!(err("Package: a\n\n continued\n"), "status line 3: continuation line before any field");
        assert_eq!(err("A: 1\nB: 2\na: 3\n"), "status line 3: duplicate field \"a\"");
        assert_eq!(err("# comment\nA: 1\n"), "status line 1: \"# comment\" is not a \"Name: value\" field");
        let ok: Vec<_> = paragraphs("# comment\nA: 1\n# c2\nB: 2\n", "x.sources", true).collect();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].as_ref().expect("ok").get("B"), Some("2"));
    }

    #[test]
    fn empty_values_and_whitespace() {
        let p = Paragraph::parse("A:\nB:   x  \nC:\n line\n", "f", 1, false).expect("ok").expect("some");
        assert_eq!(p.get("A"), Some(""));
        assert_eq!(p.get("B"), Some("x"));
        assert_eq!(p.get("C"), Some("\n line"));
        assert_eq!(p.field("C").expect("c").folded(), "line");
        assert!(Paragraph::parse("\n\n", "f", 1, false).expect("ok").is_none());
        let p = Paragraph::parse("\nA: 1\n\n \n", "f", 1, false).expect("trailing blanks").expect("some");
        assert_eq!((p.line(), p.get("A")), (2, Some("1")));
        let e = Paragraph::parse("A: 1\n\nB: 2\n", "f", 10, false).expect_err("two").to_string();
        assert_eq!(e, "f line 12: blank line inside a paragraph");
    }
}
