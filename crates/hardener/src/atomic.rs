//! How `hardener` writes a file: through oci-core's one atomic writer
//! ([`oci_core::AtomicFile`]: a temporary file in the same directory, synced, renamed over
//! the destination, then the directory synced). A failure leaves the destination as it
//! was and removes the temporary file.

use std::io::{BufWriter, Write};
use std::path::Path;

use oci_core::{AtomicFile, FileMode};

use crate::{Error, Result};

/// Writes `path` atomically with the bytes `write` produces (streamed: never held whole).
/// `private` files are created 0600, others 0666 less the umask.
pub(crate) fn write_file_atomic(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mode = if private { FileMode::Private } else { FileMode::Public };
    let file = AtomicFile::create(path, mode)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    // Dropping the AtomicFile on failure removes its temporary file.
    write(&mut out).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let file = out.into_inner().map_err(|e| Error::io(format!("writing {}", path.display()), e.into_error()))?;
    file.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_file_atomic(&path, false, |out| out.write_all(b"one")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let err = write_file_atomic(&path, false, |out| {
            out.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["f"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            write_file_atomic(&dir.path().join("p"), true, |out| out.write_all(b"s")).unwrap();
            assert_eq!(fs::metadata(dir.path().join("p")).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
