//! Opens an image in an OCI layout, prints its manifest and walks its merged filesystem.
//!
//! ```sh
//! cargo run --example walk_layout -- oci:examples/alpine:3.20
//! ```

#![allow(clippy::print_stdout)]

use oci_core::{EntryKind, ImageSource, MergedFs, Reference};

fn main() -> oci_core::Result<()> {
    let reference: Reference =
        std::env::args().nth(1).unwrap_or_else(|| "oci:examples/alpine:3.20".to_owned()).parse()?;
    let source = ImageSource::open(&reference)?;
    let image = source.image(None)?;

    println!("{reference} is {}", image.digest());
    println!("{}", String::from_utf8_lossy(image.raw_manifest().bytes()));

    let fs = MergedFs::build(&image)?;
    let (mut files, mut dirs, mut links, mut bytes) = (0, 0, 0, 0);
    for (path, node) in fs.iter() {
        match node.meta.kind {
            EntryKind::Dir => dirs += 1,
            EntryKind::Symlink | EntryKind::Hardlink => links += 1,
            _ => {
                files += 1;
                bytes += node.meta.size;
            }
        }
        if node.meta.mode & 0o6000 != 0 && node.meta.kind == EntryKind::File {
            println!("setuid/setgid: /{path} {}", node.meta.mode_string());
        }
    }
    println!("{files} files ({bytes} bytes), {dirs} directories, {links} links");
    if let Ok(release) = fs.read("/etc/os-release") {
        println!("--- /etc/os-release\n{}", String::from_utf8_lossy(&release));
    }
    Ok(())
}
