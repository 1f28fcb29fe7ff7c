//! Package version schemes and their ordering.

mod apk;
mod dpkg;
#[cfg(test)]
mod tests;

pub use apk::ApkVersion;
pub use dpkg::DpkgVersion;
