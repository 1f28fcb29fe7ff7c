//! `docker-credential-*` helper programs: finding them, running them, reading their
//! answers without ever showing a secret.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Credential, TOKEN_USERNAME, server_url};
use crate::error::IoContext;
use crate::{Error, Result};

/// Helpers are programs named `docker-credential-<name>`.
pub(super) const HELPER_PREFIX: &str = "docker-credential-";

/// Which setting named a helper, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Setting {
    CredHelpers,
    CredsStore,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::CredHelpers => "credHelpers",
            Setting::CredsStore => "credsStore",
        })
    }
}

/// A `docker-credential-<name>` program named by a configuration file.
pub(super) struct Helper<'a> {
    pub(super) name: &'a str,
    pub(super) setting: Setting,
    pub(super) file: &'a Path,
}

impl Helper<'_> {
    pub(super) fn program(&self) -> String {
        format!("{HELPER_PREFIX}{}", self.name)
    }

    /// Asks the helper for `host`'s credential (`get`, the server URL on stdin, JSON
    /// `{"ServerURL","Username","Secret"}` on stdout).
    pub(super) fn get(&self, helper_dirs: Option<&[PathBuf]>, host: &str) -> Result<Option<Credential>> {
        let Some(stdout) = self.run(helper_dirs, "get", host, server_url(host).as_bytes(), None)? else {
            return Ok(None);
        };
        let what = || format!("the output of {} get for {host}", self.program());
        // A `Value`, checked by hand: serde's type errors would quote the secret.
        let reply: Value = serde_json::from_slice(&stdout).map_err(|source| Error::Json { what: what(), source })?;
        let field = |name: &str| match reply.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Error::Invalid { what: what(), reason: format!("`{name}` is not a string") }),
        };
        if !reply.is_object() {
            return Err(Error::Invalid { what: what(), reason: "not a JSON object".into() });
        }
        Ok(match (field("Username")?, field("Secret")?) {
            (_, "") => None,
            (TOKEN_USERNAME, token) => Some(Credential::IdentityToken(token.to_owned())),
            (username, password) => {
                Some(Credential::Basic { username: username.to_owned(), password: password.to_owned() })
            }
        })
    }

    /// Runs `docker-credential-<name> <action>` with `input` on stdin. Returns its stdout,
    /// or `None` if it answered "credentials not found". `secret` is blanked out of any
    /// failure message.
    pub(super) fn run(
        &self,
        helper_dirs: Option<&[PathBuf]>,
        action: &str,
        host: &str,
        input: &[u8],
        secret: Option<&str>,
    ) -> Result<Option<Vec<u8>>> {
        let program = self.program();
        let valid_name = self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name || self.name.starts_with('.') {
            return Err(Error::Invalid {
                what: format!("{} in {}", self.setting, self.file.display()),
                reason: format!("{:?} is not a credential helper name", self.name),
            });
        }
        let not_found = || Error::NotFound {
            what: format!("credential helper {program}"),
            hint: format!(
                " on the PATH (named by {} in {}): install it, or remove the setting",
                self.setting,
                self.file.display()
            ),
        };
        let path = find_program(&program, helper_dirs).ok_or_else(not_found)?;
        let context = || format!("running {program} {action} for {host}");
        let mut child = match spawn(Command::new(&path).arg(action)) {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(Error::io(context(), e)),
        };
        // The input is a URL or a small JSON document: it fits in the pipe, so writing it
        // all before reading the output cannot deadlock. A helper may exit unread.
        let mut stdin = child.stdin.take().expect("stdin is piped");
        match stdin.write_all(input) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(Error::io(context(), e)),
            _ => drop(stdin),
        }
        let output = child.wait_with_output().context(context)?;
        if output.status.success() {
            return Ok(Some(output.stdout));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if [&stdout, &stderr].iter().any(|s| s.to_ascii_lowercase().contains("credentials not found")) {
            return Ok(None);
        }
        let mut message = if stdout.trim().is_empty() { stderr.trim() } else { stdout.trim() }.to_owned();
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            // As given, and as it appears inside the JSON the helper may echo back.
            let quoted = Value::String(secret.to_owned()).to_string();
            message = message.replace(secret, "<redacted>").replace(&quoted[1..quoted.len() - 1], "<redacted>");
        }
        if let Some((cut, _)) = message.char_indices().nth(300) {
            message.truncate(cut);
            message.push('…');
        }
        let detail =
            if message.is_empty() { output.status.to_string() } else { format!("{}: {message}", output.status) };
        Err(self.failure(action, host, &detail))
    }

    pub(super) fn failure(&self, action: &str, host: &str, detail: &str) -> Error {
        Error::io(
            format!(
                "running {} {action} for {host} (named by {} in {})",
                self.program(),
                self.setting,
                self.file.display()
            ),
            io::Error::other(detail.to_owned()),
        )
    }
}

/// Spawns with piped standard streams, retrying briefly while the program is busy being
/// written (`ETXTBSY`: another thread forked while it had the file open for writing).
fn spawn(command: &mut Command) -> io::Result<std::process::Child> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            result => return result,
        }
    }
}

/// The first executable file named `program` in `dirs`, else in `$PATH` (absolute entries
/// only: an empty or relative entry would run a program from the current directory).
pub(super) fn find_program(program: &str, dirs: Option<&[PathBuf]>) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf>;
    let dirs = match dirs {
        Some(dirs) => dirs,
        None => {
            path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
            &path_dirs
        }
    };
    dirs.iter().filter(|dir| dir.is_absolute()).map(|dir| dir.join(program)).find(|candidate| {
        fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}
