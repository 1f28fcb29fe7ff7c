//! Colour on the terminal: `--color auto|always|never`. `auto` colours a terminal unless
//! `NO_COLOR` is set (and `CLICOLOR_FORCE` forces it), as anstream decides; output to a
//! file or a pipe is never coloured in `auto`.

use std::fmt::Write as _;
use std::io::Write as _;

use anstyle::{AnsiColor, Style};

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always (also through a pipe).
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// The choice `--color` makes on this command line (the last one wins; `auto` when
    /// absent or invalid — clap reports an invalid value itself), read before clap parses
    /// so its own help and errors follow it.
    pub fn from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> ColorWhen {
        let mut when = ColorWhen::Auto;
        let mut next_is_value = false;
        for arg in args {
            let Some(arg) = arg.to_str() else { continue };
            if arg == "--" {
                break;
            }
            let value = if next_is_value {
                next_is_value = false;
                Some(arg)
            } else if arg == "--color" {
                next_is_value = true;
                None
            } else {
                arg.strip_prefix("--color=")
            };
            match value {
                Some("always") => when = ColorWhen::Always,
                Some("never") => when = ColorWhen::Never,
                Some("auto") => when = ColorWhen::Auto,
                _ => {}
            }
        }
        when
    }

    /// Makes this the choice of every stream written through anstream.
    pub fn install(self) {
        anstream::ColorChoice::write_global(match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        });
    }

    /// The same choice for clap's help and error messages.
    pub fn clap(self) -> clap::ColorChoice {
        match self {
            ColorWhen::Auto => clap::ColorChoice::Auto,
            ColorWhen::Always => clap::ColorChoice::Always,
            ColorWhen::Never => clap::ColorChoice::Never,
        }
    }
}

pub const ERROR: Style = Style::new().bold().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
pub const WARNING: Style = Style::new().bold().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
pub const HINT: Style = Style::new().bold().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));

/// `warning: MESSAGE` on standard error, the label coloured when colour is on.
pub fn warn(message: impl std::fmt::Display) {
    let _ = writeln!(anstream::stderr(), "{WARNING}warning:{WARNING:#} {message}");
}

fn severity_style(word: &str) -> Option<Style> {
    let color = match word {
        "CRITICAL" => AnsiColor::BrightRed,
        "HIGH" => AnsiColor::Red,
        "MEDIUM" => AnsiColor::Yellow,
        "LOW" => AnsiColor::Blue,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(anstyle::Color::Ansi(color))))
}

/// A scan table with its severity column coloured: in each row, the first
/// whitespace-separated cell after the fourth that names a severity. The padding is
/// untouched (escape codes take no columns), and anstream strips them when colour is off.
pub fn color_severities(table: &str) -> String {
    let mut out = String::with_capacity(table.len());
    for line in table.split_inclusive('\n') {
        let mut done = false;
        let mut cells = 0;
        let mut rest = line;
        while !rest.is_empty() {
            let word_start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
            out.push_str(&rest[..word_start]);
            rest = &rest[word_start..];
            let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..word_end];
            cells += 1;
            match severity_style(word) {
                Some(style) if !done && cells >= 5 => {
                    let _ = write!(out, "{style}{word}{style:#}");
                    done = true;
                }
                _ => out.push_str(word),
            }
            rest = &rest[word_end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_choice_is_read_before_clap() {
        let args = |a: &[&str]| ColorWhen::from_args(a.iter().map(std::ffi::OsString::from));
        assert_eq!(args(&["oci-harden", "scan", "x"]), ColorWhen::Auto);
        assert_eq!(args(&["oci-harden", "--color", "never", "scan"]), ColorWhen::Never);
        assert_eq!(args(&["oci-harden", "scan", "--color=always"]), ColorWhen::Always);
        assert_eq!(args(&["oci-harden", "scan", "--", "--color=always"]), ColorWhen::Auto);
    }

    #[test]
    fn only_the_severity_cell_is_coloured_and_columns_stay() {
        let table = "img (alpine 3.20.3)\nPACKAGE  INSTALLED  FIXED  VULNERABILITY   SEVERITY  STATUS\n\
                     HIGH     1.0        1.1    CVE-2024-1      CRITICAL  fixed\n";
        let colored = color_severities(table);
        let stripped = anstream::adapter::strip_str(&colored).to_string();
        assert_eq!(stripped, table);
        // The package named HIGH (first column) is not coloured; the severity is.
        assert!(colored.contains("\n     HIGH     1.0") || colored.contains("\nHIGH     1.0"), "{colored:?}");
        assert!(colored.contains("\u{1b}[91mCRITICAL\u{1b}[0m"), "{colored:?}");
        assert_eq!(colored.matches('\u{1b}').count(), 2);
    }
}
