//! `docker save` archives (placeholder: being written).

use std::io::Read;
use std::path::Path;

use crate::{BlobSource, Descriptor, Error, Image, Limits, Result};

/// A `docker save` tarball opened for reading.
#[derive(Debug)]
pub struct DockerArchive {}

impl DockerArchive {
    /// Opens an archive.
    pub fn open(path: &Path, _limits: &Limits) -> Result<DockerArchive> {
        Err(Error::NotFound { what: path.display().to_string(), hint: String::new() })
    }

    /// The manifest descriptor of `image` or the only image.
    pub fn resolve(&self, _image: Option<&str>) -> Result<Descriptor> {
        Err(Error::NotFound { what: "image".into(), hint: String::new() })
    }
}

impl BlobSource for DockerArchive {
    fn open_blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send>> {
        Err(Error::NotFound { what: d.digest.to_string(), hint: String::new() })
    }
    fn name(&self) -> String {
        String::new()
    }
}

/// Writes `image` as a `docker save` archive.
pub fn write_docker_archive(path: &Path, _image: &Image, _repo_tags: &[String]) -> Result<()> {
    Err(Error::NotFound { what: path.display().to_string(), hint: String::new() })
}
