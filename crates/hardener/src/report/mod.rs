//! Scan reports for people (a table) and for tools: Trivy-compatible JSON, SARIF 2.1.0 and
//! CycloneDX 1.5. Every format is deterministic for a given report.

use std::fmt::Write as _;

mod cyclonedx;
mod sarif;
mod trivy;
mod vex;

pub use cyclonedx::{
    BomAffects, BomAnalysis, BomComponent, BomMetadata, BomProperty, BomRating, BomSource, BomTools, BomVulnerability,
    CycloneDxBom, to_cyclonedx,
};
pub use sarif::to_sarif;
pub use trivy::{
    TrivyCustom, TrivyImageConfig, TrivyLayer, TrivyMetadata, TrivyOs, TrivyPkgIdentifier, TrivyReport, TrivyResult,
    TrivyVulnerability, from_trivy_json, to_trivy_json,
};
pub use vex::{
    OPENVEX_CONTEXT, VexDocument, VexProduct, VexStatement, VexStatus, VexSubcomponent, VexVulnerability, oci_purl,
    to_openvex,
};

use crate::scan::ScanReport;
use crate::{OsInfo, Package, PackageFormat, Severity};

/// Parses a severity name as Trivy writes it (case-insensitive).
pub fn parse_severity(s: &str) -> Option<Severity> {
    Some(match s.to_ascii_uppercase().as_str() {
        "UNKNOWN" => Severity::Unknown,
        "LOW" => Severity::Low,
        "MEDIUM" => Severity::Medium,
        "HIGH" => Severity::High,
        "CRITICAL" => Severity::Critical,
        _ => return None,
    })
}

/// The package URL of an installed package (`pkg:deb/debian/NAME@VER?arch=…&distro=…`).
pub fn purl(p: &Package, os: Option<&OsInfo>) -> String {
    let (kind, namespace) = match p.format {
        PackageFormat::Dpkg => ("deb", os.map_or("debian", |o| o.id.as_str())),
        PackageFormat::Apk => ("apk", os.map_or("alpine", |o| o.id.as_str())),
    };
    let mut q = Vec::new();
    if let Some(a) = &p.architecture {
        q.push(format!("arch={}", encode(a)));
    }
    if let Some(o) = os {
        let distro = match (&o.codename, &o.version_id) {
            (Some(c), _) if p.format == PackageFormat::Dpkg => format!("{}-{}", o.id, c),
            (_, Some(v)) => format!("{}-{}", o.id, v),
            _ => o.id.clone(),
        };
        q.push(format!("distro={}", encode(&distro)));
    }
    let query = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
    format!("pkg:{kind}/{namespace}/{}@{}{query}", encode(&p.name), encode(&p.version))
}

/// Percent-encodes what package URLs reserve (`:` in epochs becomes `%3A`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'+') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A fixed-width table: package, installed, fixed, vulnerability, severity, status, and
/// a summary line. Warnings are not included: the CLI prints them on standard error.
pub fn to_table(report: &ScanReport) -> String {
    let mut out = String::new();
    if let Some(os) = &report.os {
        let _ = writeln!(out, "{} ({} {})", report.target, os.id, os.version_id.as_deref().unwrap_or("?"));
    } else {
        let _ = writeln!(out, "{}", report.target);
    }
    let rows: Vec<[String; 6]> = report
        .findings
        .iter()
        .map(|f| {
            [
                f.package.clone(),
                f.installed_version.clone(),
                f.fixed_version.clone().unwrap_or_default(),
                f.vulnerability_id.clone(),
                f.severity.as_str().to_owned(),
                match f.note() {
                    Some(note) => format!("{} ({note})", f.status.as_str()),
                    None => f.status.as_str().to_owned(),
                },
            ]
        })
        .collect();
    let header = ["PACKAGE", "INSTALLED", "FIXED", "VULNERABILITY", "SEVERITY", "STATUS"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&header));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    let mut counts = [0usize; 5];
    for f in &report.findings {
        counts[f.severity as usize] += 1;
    }
    let _ = writeln!(
        out,
        "\n{} packages, {} findings (CRITICAL {}, HIGH {}, MEDIUM {}, LOW {}, UNKNOWN {})",
        report.packages.len(),
        report.findings.len(),
        counts[Severity::Critical as usize],
        counts[Severity::High as usize],
        counts[Severity::Medium as usize],
        counts[Severity::Low as usize],
        counts[Severity::Unknown as usize]
    );
    if let crate::Coverage::NotScanned { reason, .. } = &report.coverage {
        let _ = writeln!(
            out,
            "NOT SCANNED: {reason}. The packages were not matched against any advisory: \
             0 findings does not mean no vulnerabilities."
        );
    }
    out
}

fn os_type(report: &ScanReport) -> &str {
    report.os.as_ref().map_or("unknown", |o| o.id.as_str())
}
