//! Response bodies read whole (manifests, token answers) under a byte limit, and what a
//! failed request is called in an error message.

use futures_util::StreamExt;

/// Why a bounded body could not be had.
#[derive(Debug)]
pub(super) enum BodyError {
    /// The body is larger than the limit: announced by `Content-Length`, or counted.
    TooLarge,
    /// The connection failed (or stalled past the idle timeout) while reading.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, refusing it before it is read whole once it is known to be
/// larger than `limit`: at once when `Content-Length` says so, else as soon as the bytes
/// received pass it. At most `limit` bytes (plus one chunk) are ever held.
pub(super) async fn read_bounded(response: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Transport)?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What a transport failure was, in words: the timeouts spelt out (with their durations),
/// other errors with their causes.
pub(super) fn describe(e: &reqwest::Error, connect_timeout: std::time::Duration, idle: std::time::Duration) -> String {
    let url = e.url().map(|u| format!(" ({u})")).unwrap_or_default();
    if e.is_timeout() {
        return if e.is_connect() {
            format!("no connection within {} s (connect timeout){url}", connect_timeout.as_secs_f64())
        } else {
            format!("no data for {} s (idle timeout){url}", idle.as_secs_f64())
        };
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
