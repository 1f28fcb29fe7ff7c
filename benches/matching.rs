//! Criterion benchmark of advisory matching: `hardener::match_packages` of a Debian-sized
//! inventory (200 binary packages from 120 source packages) against a database holding 30
//! advisories for each of 3,420 source packages (~100k records, the scale of bookworm in
//! the Debian tracker). Measured in packages matched per second; the work per package is
//! an index lookup and one dpkg version comparison per advisory of its source.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hardener::{
    Advisory, AdvisoryDb, AdvisoryStatus, Ecosystem, OsFamily, OsInfo, Package, PackageFormat, Severity, match_packages,
};

fn database() -> AdvisoryDb {
    let mut db = AdvisoryDb::new();
    for p in 0..3420 {
        for k in 0..30 {
            db.insert(Advisory {
                id: format!("CVE-2024-{:06}", p * 30 + k),
                aliases: vec![format!("DSA-{p}-{k}")],
                ecosystem: Ecosystem::Debian { release: "12".into() },
                package: format!("src{p}"),
                status: if k % 3 == 0 {
                    AdvisoryStatus::Affected
                } else {
                    AdvisoryStatus::Fixed { version: format!("1:{k}.{p}-{}+deb12u1", k % 5) }
                },
                severity: Severity::Medium,
                summary: None,
                note: None,
                source: "bench".into(),
            });
        }
    }
    db
}

fn inventory() -> Vec<Package> {
    (0..200)
        .map(|i| Package {
            name: format!("bin{i}"),
            version: format!("1:{}.{}-2+b1", i % 30, i),
            architecture: Some("amd64".into()),
            source_name: format!("src{}", i % 120),
            source_version: format!("1:{}.{}-2", i % 30, i),
            format: PackageFormat::Dpkg,
            layer: Some(0),
            db_path: "/var/lib/dpkg/status".into(),
            status: Some("installed".into()),
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let db = database();
    let packages = inventory();
    let os = OsInfo {
        id: "debian".into(),
        version_id: Some("12".into()),
        codename: Some("bookworm".into()),
        pretty_name: None,
        family: OsFamily::Debian,
        distroless: false,
        eol: None,
    };
    let mut g = c.benchmark_group("match_packages");
    g.throughput(Throughput::Elements(packages.len() as u64));
    g.bench_function("200 packages vs 100k advisories", |b| {
        b.iter(|| match_packages(black_box(&os), black_box(&packages), black_box(&db)).0.len())
    });
    g.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
