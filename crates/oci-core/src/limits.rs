//! Limits that bound what untrusted input may cost us.

/// Bounds applied while reading untrusted images.
///
/// The defaults are generous for real images and small enough that a hostile input
/// fails fast with a clear [`crate::Error::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest, index, config, `index.json` or registry token answer read into
    /// memory (a registry body is refused as soon as it is known to be larger).
    pub max_json_bytes: u64,
    /// Largest decompressed size of one layer.
    pub max_layer_bytes: u64,
    /// Largest ratio of decompressed to compressed bytes, checked once more than
    /// [`Limits::ratio_floor_bytes`] have been decompressed. Real layers compress 2–10×;
    /// deflate cannot exceed ~1032×, so a bomb is caught within `floor × 1032 / max_ratio`
    /// of input. A layer that is mostly zeros (a preallocated database file, say) can
    /// legitimately exceed it: raise the limit for such images.
    pub max_ratio: u64,
    /// Decompressed bytes below which the ratio is not checked.
    pub ratio_floor_bytes: u64,
    /// Largest file read whole into memory by [`crate::MergedFs`] helpers.
    pub max_file_bytes: u64,
    /// Deepest nesting of indexes.
    pub max_index_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_json_bytes: 8 << 20,
            max_layer_bytes: 64 << 30,
            max_ratio: 250,
            ratio_floor_bytes: 256 << 20,
            max_file_bytes: 256 << 20,
            max_index_depth: 8,
        }
    }
}
