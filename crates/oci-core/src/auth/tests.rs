//! Tests of credential lookup, config editing and helpers.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose;
use serde_json::Value;

use super::helpers::HELPER_PREFIX;
use super::*;

const SECRET: &str = "pa:ss:w0rd-TOPSECRET";

fn b64(s: &str) -> String {
    general_purpose::STANDARD.encode(s)
}

fn basic(username: &str, password: &str) -> Option<Credential> {
    Some(Credential::Basic { username: username.into(), password: password.into() })
}

/// Writes `json` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, json).unwrap();
    path
}

/// A store reading one file holding `json`.
fn store_with(json: &str) -> (tempfile::TempDir, CredentialStore) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "config.json", json);
    (dir, CredentialStore::with_files(vec![file]).with_helper_path(vec![]))
}

/// Writes a `docker-credential-<name>` shell script running `body` into `dir`.
fn helper(dir: &Path, name: &str, body: &str) {
    let path = dir.join(format!("{HELPER_PREFIX}{name}"));
    let mut file = fs::File::create(&path).unwrap();
    write!(file, "#!/bin/sh\n{body}\n").unwrap();
    file.set_permissions(fs::Permissions::from_mode(0o755)).unwrap();
}

/// A helper that answers `get` with `alice`/`SECRET`, naming the server URL it was
/// asked for in `ServerURL`, and logs every call to `calls.log` beside it.
const ECHO_HELPER: &str = r#"input=$(cat)
echo "$1 $input" >> "$(dirname "$0")/calls.log"
case "$1" in
get) printf '{"ServerURL":"%s","Username":"alice","Secret":"pa:ss:w0rd-TOPSECRET"}' "$input" ;;
store|erase) ;;
esac"#;

const NOT_FOUND_HELPER: &str = "cat >/dev/null; echo 'credentials not found in native keychain'; exit 1";

#[test]
fn every_key_form_matches_its_host() {
    let auth = b64(&format!("alice:{SECRET}"));
    for (key, registry) in [
        ("ghcr.io", "ghcr.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("https://ghcr.io/", "ghcr.io"),
        ("https://ghcr.io/v2/", "ghcr.io"),
        ("http://ghcr.io/v1/", "ghcr.io"),
        ("ghcr.io/v2/", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
        ("https://localhost:5000/v2/", "localhost:5000"),
        ("http://localhost:5000", "localhost:5000"),
    ] {
        let (_dir, store) = store_with(&format!(r#"{{"auths": {{"{key}": {{"auth": "{auth}"}}}}}}"#));
        assert_eq!(store.lookup(registry).unwrap(), basic("alice", SECRET), "key {key}");
        for other in ["gcr.io", "localhost", "localhost:5001", "quay.io"] {
            assert_eq!(store.lookup(other).unwrap(), None, "key {key} looked up as {other}");
        }
    }
}

#[test]
fn docker_hub_aliases_are_one_registry() {
    let names = ["docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"];
    for key in names {
        let (_dir, store) = store_with(&format!(r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#, b64("bob:pw")));
        for registry in names {
            assert_eq!(store.lookup(registry).unwrap(), basic("bob", "pw"), "key {key}, registry {registry}");
        }
        assert_eq!(store.lookup("quay.io").unwrap(), None);
    }
}

#[test]
fn auth_splits_at_the_first_colon_and_beats_username_fields() {
    let json = format!(
        r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "username": "mallory", "password": "x"}}}}}}"#,
        b64(&format!("alice:{SECRET}\0"))
    );
    let (_dir, store) = store_with(&json);
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
}

#[test]
fn unpadded_auth_is_accepted() {
    let auth = b64("ab:c").trim_end_matches('=').to_owned();
    let (_dir, store) = store_with(&format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{auth}"}}}}}}"#));
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("ab", "c"));
}

#[test]
fn username_and_password_fields() {
    let (_dir, store) = store_with(r#"{"auths": {"ghcr.io": {"username": "carol", "password": "pw"}}}"#);
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("carol", "pw"));
}

#[test]
fn identity_token_wins_over_auth() {
    let json = format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "identitytoken": "tok"}}}}}}"#, b64("u:p"));
    let (_dir, store) = store_with(&json);
    assert_eq!(store.lookup("ghcr.io").unwrap(), Some(Credential::IdentityToken("tok".into())));
}

#[test]
fn empty_entry_without_helper_is_anonymous() {
    let (_dir, store) = store_with(r#"{"auths": {"ghcr.io": {}, "quay.io": null}, "credHelpers": {}}"#);
    assert_eq!(store.lookup("ghcr.io").unwrap(), None);
    assert_eq!(store.lookup("quay.io").unwrap(), None);
}

#[test]
fn repository_scoped_keys_most_specific_first() {
    let json = format!(
        r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/org": {{"auth": "{}"}},
            "quay.io/org/app": {{"auth": "{}"}}, "docker.io/library": {{"auth": "{}"}}}}}}"#,
        b64("host:1"),
        b64("org:2"),
        b64("app:3"),
        b64("lib:4"),
    );
    let (_dir, store) = store_with(&json);
    let lookup = |name: &str| store.lookup_image(&name.parse().unwrap()).unwrap();
    assert_eq!(lookup("quay.io/org/app:1"), basic("app", "3"));
    assert_eq!(lookup("quay.io/org/other"), basic("org", "2"));
    assert_eq!(lookup("quay.io/orgx/app"), basic("host", "1"));
    assert_eq!(lookup("debian"), basic("lib", "4"));
    assert_eq!(lookup("someone/app"), None);
    // A registry lookup sees host keys only; a `host/namespace` argument sees namespaces.
    assert_eq!(store.lookup("quay.io").unwrap(), basic("host", "1"));
    assert_eq!(store.lookup("quay.io/org").unwrap(), basic("org", "2"));
}

#[test]
fn first_file_with_a_credential_wins() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |user: &str| format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#, b64(&format!("{user}:p")));
    let first = write(dir.path(), "first.json", &entry("first"));
    let second = write(dir.path(), "second.json", &entry("second"));
    let third = write(dir.path(), "third.json", &entry("third"));
    let empty = write(dir.path(), "empty.json", r#"{"auths": {"ghcr.io": {}}}"#);
    let missing = dir.path().join("missing.json");

    let store = |files: &[&PathBuf]| CredentialStore::with_files(files.iter().map(|f| f.to_path_buf()).collect());
    assert_eq!(store(&[&first, &second, &third]).lookup("ghcr.io").unwrap(), basic("first", "p"));
    assert_eq!(store(&[&missing, &second, &third]).lookup("ghcr.io").unwrap(), basic("second", "p"));
    assert_eq!(store(&[&missing, &empty, &third]).lookup("ghcr.io").unwrap(), basic("third", "p"));
    assert_eq!(store(&[&missing, &empty]).lookup("ghcr.io").unwrap(), None);
    assert_eq!(store(&[]).lookup("ghcr.io").unwrap(), None);
}

#[test]
fn environment_order() {
    let env: HashMap<&str, &str> = [
        ("REGISTRY_AUTH_FILE", "/override/auth.json"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("XDG_CONFIG_HOME", "/cfg"),
        ("DOCKER_CONFIG", "/dockercfg"),
    ]
    .into();
    let files = |keys: &[&str]| {
        let var = |name: &str| keys.contains(&name).then(|| env[name].into());
        auth_files(&var, Some("/home/u".into()))
    };
    let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
    assert_eq!(
        files(&["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"]),
        paths(&["/override/auth.json", "/cfg/containers/auth.json", "/dockercfg/config.json"])
    );
    assert_eq!(
        files(&["XDG_RUNTIME_DIR"]),
        paths(&[
            "/run/user/1000/containers/auth.json",
            "/home/u/.config/containers/auth.json",
            "/home/u/.docker/config.json"
        ])
    );
    assert_eq!(auth_files(&|_| None, None), Vec::<PathBuf>::new());
    assert_eq!(docker_config_path(&|_| Some("".into()), Some("/h".into())), Some("/h/.docker/config.json".into()));
}

#[test]
fn missing_file_is_skipped_but_malformed_ones_are_errors() {
    let (dir, store) = store_with("");
    assert_eq!(store.lookup("ghcr.io").unwrap(), None, "an empty file is an empty configuration");
    let missing = CredentialStore::with_files(vec![dir.path().join("nope.json")]);
    assert_eq!(missing.lookup("ghcr.io").unwrap(), None);

    for json in [
        "{not json",
        "[]",
        r#"{"auths": []}"#,
        r#"{"auths": {"ghcr.io": "x"}}"#,
        r#"{"credHelpers": {"ghcr.io": 1}}"#,
        r#"{"credsStore": true}"#,
    ] {
        let file = write(dir.path(), "bad.json", json);
        let err = CredentialStore::with_files(vec![file.clone()]).lookup("ghcr.io").unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{json}: {err}");
    }
    let unreadable = CredentialStore::with_files(vec![dir.path().to_owned()]);
    let err = unreadable.lookup("ghcr.io").unwrap_err().to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn bad_entries_are_errors_naming_file_and_registry_but_not_the_secret() {
    for (entry, reason) in [
        (format!(r#"{{"auth": "{SECRET}!"}}"#), "not valid base64"),
        (format!(r#"{{"auth": "{}"}}"#, b64("TOPSECRETnocolon")), "no colon"),
        (format!(r#"{{"auth": "{}"}}"#, b64(":TOPSECRET")), "empty username"),
        (r#"{"auth": 123456789}"#.to_owned(), "`auth` is not a string"),
        (r#"{"password": ["TOPSECRET"], "username": "u"}"#.to_owned(), "`password` is not a string"),
    ] {
        let (_dir, store) = store_with(&format!(r#"{{"auths": {{"https://ghcr.io": {entry}}}}}"#));
        let err = store.lookup("ghcr.io").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Invalid { .. }), "{message}");
        assert!(message.contains(reason), "{message}");
        assert!(message.contains("ghcr.io") && message.contains("config.json"), "{message}");
        assert!(!message.contains("TOPSECRET") && !message.contains("123456789"), "{message}");
        assert!(!format!("{err:?}").contains("TOPSECRET"), "{err:?}");
    }
}

#[test]
fn cred_helpers_beat_creds_store_and_auths() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "fake", ECHO_HELPER);
    helper(bin.path(), "other", "echo other helper was asked >&2; exit 1");
    let json = format!(
        r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}, "credsStore": "other", "credHelpers": {{"ghcr.io": "fake"}}}}"#,
        b64("inline:pw")
    );
    let (_dir, store) = store_with(&json);
    let store = store.with_helper_path(vec![bin.path().to_owned()]);
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
    let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
    assert_eq!(calls, "get ghcr.io\n");
}

#[test]
fn inline_credential_beats_creds_store_and_empty_entry_asks_it() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "fake", ECHO_HELPER);
    let json = format!(
        r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{}}}}, "credsStore": "fake"}}"#,
        b64("inline:pw")
    );
    let (_dir, store) = store_with(&json);
    let store = store.with_helper_path(vec![bin.path().to_owned()]);
    assert_eq!(store.lookup("quay.io").unwrap(), basic("inline", "pw"));
    assert_eq!(store.lookup("docker.io").unwrap(), basic("alice", SECRET));
    // credsStore holds credentials for registries without an entry too (ECR's helper).
    assert_eq!(store.lookup("localhost:5000").unwrap(), basic("alice", SECRET));
    let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
    assert_eq!(calls, "get https://index.docker.io/v1/\nget localhost:5000\n");
}

#[test]
fn helper_token_username_means_identity_token() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "tok", r#"cat >/dev/null; echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh"}'"#);
    let (_dir, store) = store_with(r#"{"credHelpers": {"ghcr.io": "tok"}}"#);
    let store = store.with_helper_path(vec![bin.path().to_owned()]);
    assert_eq!(store.lookup("ghcr.io").unwrap(), Some(Credential::IdentityToken("refresh".into())));
}

#[test]
fn helper_not_found_falls_through_to_next_file() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "empty", NOT_FOUND_HELPER);
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "a.json", r#"{"auths": {"ghcr.io": {}}, "credsStore": "empty"}"#);
    let second = write(dir.path(), "b.json", &format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#, b64("b:pw")));
    let store = CredentialStore::with_files(vec![first.clone()]).with_helper_path(vec![bin.path().to_owned()]);
    assert_eq!(store.lookup("ghcr.io").unwrap(), None);
    let store = CredentialStore::with_files(vec![first, second]).with_helper_path(vec![bin.path().to_owned()]);
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("b", "pw"));
}

#[test]
fn failing_helper_is_an_error_naming_it() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "broken", "cat >/dev/null; echo 'keychain is locked' >&2; exit 3");
    helper(bin.path(), "garbage", "cat >/dev/null; echo 'not json'");
    for (name, expected) in [("broken", "keychain is locked"), ("garbage", "malformed JSON")] {
        let (_dir, store) = store_with(&format!(r#"{{"credHelpers": {{"ghcr.io": "{name}"}}}}"#));
        let store = store.with_helper_path(vec![bin.path().to_owned()]);
        let err = store.lookup("ghcr.io").unwrap_err().to_string();
        assert!(err.contains(&format!("docker-credential-{name}")) && err.contains(expected), "{err}");
    }
}

#[test]
fn missing_helper_is_a_clear_error() {
    let (_dir, store) = store_with(r#"{"credsStore": "desktop"}"#);
    let err = store.lookup("ghcr.io").unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("docker-credential-desktop") && message.contains("credsStore"), "{message}");

    let (_dir, store) = store_with(r#"{"credsStore": "../../bin/sh"}"#);
    let err = store.lookup("ghcr.io").unwrap_err().to_string();
    assert!(err.contains("not a credential helper name"), "{err}");
}

#[test]
fn login_then_lookup_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let docker_dir = dir.path().join("new/.docker");
    let config = docker_dir.join("config.json");
    login(&config, "localhost:5000", "alice", SECRET).unwrap();
    assert_eq!(fs::metadata(&docker_dir).unwrap().permissions().mode() & 0o777, 0o700);

    // Unknown keys, in order, and other entries survive; an older spelling is replaced.
    let before = format!(
        r#"{{"psFormat": "table", "auths": {{"https://ghcr.io/v2/": {{"auth": "{}"}}, "quay.io": {{"auth": "{}"}}}},
            "plugins": {{"x": {{"y": "z"}}}}, "currentContext": "default"}}"#,
        b64("old:old"),
        b64("q:q"),
    );
    fs::write(&config, before).unwrap();
    login(&config, "ghcr.io", "alice", SECRET).unwrap();

    assert_eq!(fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
    let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    let keys: Vec<_> = written.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["psFormat", "auths", "plugins", "currentContext"]);
    assert_eq!(written["plugins"]["x"]["y"], "z");
    let auths: Vec<_> = written["auths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(auths, ["quay.io", "ghcr.io"]);
    assert_eq!(written["auths"]["ghcr.io"], serde_json::json!({"auth": b64(&format!("alice:{SECRET}"))}));
    let leftovers: Vec<_> = fs::read_dir(&docker_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["config.json"], "no temporary files left behind");

    let store = CredentialStore::with_files(vec![config.clone()]);
    assert_eq!(store.lookup("ghcr.io").unwrap(), basic("alice", SECRET));
    assert_eq!(store.lookup("quay.io").unwrap(), basic("q", "q"));
}

#[test]
fn login_to_docker_hub_uses_dockers_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", r#"{"auths": {"docker.io": {"auth": "b2xkOm9sZA=="}}}"#);
    login(&config, "index.docker.io", "bob", "pw").unwrap();
    let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written, serde_json::json!({"auths": {DOCKER_HUB_SERVER: {"auth": b64("bob:pw")}}}));
    let store = CredentialStore::with_files(vec![config]);
    assert_eq!(store.lookup("docker.io").unwrap(), basic("bob", "pw"));
}

#[test]
fn login_through_a_symlink_writes_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = write(dir.path(), "real.json", "{}");
    let link = dir.path().join("config.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    login(&link, "ghcr.io", "a", "b").unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(fs::read_to_string(&target).unwrap().contains(&b64("a:b")));
}

#[test]
fn login_with_a_helper_stores_through_it() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "fake", ECHO_HELPER);
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.json", r#"{"credsStore": "fake"}"#);
    login_with(&config, "docker.io", "alice", SECRET, Some(&[bin.path().to_owned()])).unwrap();

    let written = fs::read_to_string(&config).unwrap();
    assert!(!written.contains("TOPSECRET") && !written.contains(&b64(&format!("alice:{SECRET}"))), "{written}");
    let written: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(written, serde_json::json!({"credsStore": "fake", "auths": {DOCKER_HUB_SERVER: {}}}));
    let calls = fs::read_to_string(bin.path().join("calls.log")).unwrap();
    let (action, input) = calls.trim_end().split_once(' ').unwrap();
    assert_eq!(action, "store");
    let input: Value = serde_json::from_str(input).unwrap();
    assert_eq!(input, serde_json::json!({"ServerURL": DOCKER_HUB_SERVER, "Username": "alice", "Secret": SECRET}));
}

#[test]
fn login_refuses_what_cannot_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    for (registry, username, password) in
        [("ghcr.io", "", SECRET), ("ghcr.io", "a:b", SECRET), ("ghcr.io", "a", ""), ("quay.io/org", "a", SECRET)]
    {
        let err = login(&config, registry, username, password).unwrap_err().to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
    }
    assert!(!config.exists());
}

#[test]
fn logout_removes_every_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let json = format!(
        r#"{{"auths": {{"https://ghcr.io": {{"auth": "{0}"}}, "ghcr.io": {{"auth": "{0}"}}, "ghcr.io/org": {{"auth": "{0}"}},
            "quay.io": {{"auth": "{0}"}}}}, "other": 1}}"#,
        b64("u:p")
    );
    let config = write(dir.path(), "config.json", &json);
    assert!(logout(&config, "ghcr.io").unwrap());
    let written: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    let auths: Vec<_> = written["auths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(auths, ["ghcr.io/org", "quay.io"]);
    assert_eq!(written["other"], 1);
    assert!(!logout(&config, "ghcr.io").unwrap());
    assert!(!logout(&dir.path().join("missing.json"), "ghcr.io").unwrap());
    assert!(!dir.path().join("missing.json").exists());
}

#[test]
fn logout_erases_from_the_helper() {
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "fake", ECHO_HELPER);
    helper(bin.path(), "empty", NOT_FOUND_HELPER);
    let dir = tempfile::tempdir().unwrap();
    let dirs = [bin.path().to_owned()];
    let config = write(dir.path(), "config.json", r#"{"credsStore": "fake", "credHelpers": {"quay.io": "empty"}}"#);
    assert!(logout_with(&config, "registry-1.docker.io", Some(&dirs)).unwrap());
    assert_eq!(fs::read_to_string(bin.path().join("calls.log")).unwrap(), "erase https://index.docker.io/v1/\n");
    assert!(!logout_with(&config, "quay.io", Some(&dirs)).unwrap());
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let credentials = [
        Credential::Basic { username: "alice".into(), password: SECRET.into() },
        Credential::IdentityToken(SECRET.into()),
    ];
    for credential in credentials {
        let debug = format!("{credential:?} {credential:#?}");
        assert!(!debug.contains("TOPSECRET") && debug.contains("redacted"), "{debug}");
    }
    let config =
        DockerConfig::parse("c.json", &format!(r#"{{"auths": {{"x": {{"auth": "{}"}}}}}}"#, b64(SECRET))).unwrap();
    assert!(!format!("{config:?}").contains(&b64(SECRET)));

    // A helper that echoes what it is given when it fails.
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "echo", "cat; exit 1");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "config.json", r#"{"credsStore": "echo"}"#);
    let err = login_with(&file, "ghcr.io", "alice", SECRET, Some(&[bin.path().to_owned()])).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("docker-credential-echo store") && message.contains("<redacted>"), "{message}");
    assert!(!message.contains("TOPSECRET") && !format!("{err:?}").contains("TOPSECRET"), "{message}");
    assert_eq!(fs::read_to_string(&file).unwrap(), r#"{"credsStore": "echo"}"#, "unchanged after a failure");
}
