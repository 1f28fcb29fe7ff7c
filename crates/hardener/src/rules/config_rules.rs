//! Config and manifest rules: `labels`, `annotations`, `env`, `healthcheck`, `volumes`.

use serde_json::{Value, json};

use super::RuleKind;
use oci_core::ConfigChange;

use super::eval::{Cx, Fix};
use super::parse::parse_duration_ns;

pub(super) fn run(cx: &mut Cx) -> Result<(), String> {
    let config = cx.input.config;
    match &cx.rule.kind {
        RuleKind::Labels { set } => {
            let labels = config.labels();
            for (k, v) in set {
                let current = labels.iter().find(|(lk, _)| lk == k).map(|(_, lv)| *lv);
                if current != Some(v.as_str()) {
                    cx.find(None, format!("label {k} is {current:?}; set to {v:?}"));
                    cx.fixes.push(Fix::Config(ConfigChange::SetLabel(k.clone(), v.clone())));
                }
            }
        }
        RuleKind::Annotations { set } => {
            let manifest = cx.input.fs.image().manifest();
            for (k, v) in set {
                let current = manifest.annotations.as_ref().and_then(|a| a.get(k));
                if current != Some(v) {
                    cx.find(None, format!("annotation {k} is {current:?}; set to {v:?}"));
                    cx.fixes.push(Fix::Annotation { key: k.clone(), value: v.clone() });
                }
            }
        }
        RuleKind::Env { set, unset } => {
            let env = config.env();
            let get = |name: &str| env.iter().find_map(|e| e.strip_prefix(name)?.strip_prefix('='));
            for (k, v) in set {
                let current = get(k);
                if current != Some(v.as_str()) {
                    cx.find(None, format!("environment {k} is {current:?}; set to {v:?}"));
                    cx.fixes.push(Fix::Config(ConfigChange::SetEnv(k.clone(), v.clone())));
                }
            }
            for k in unset {
                if get(k).is_some() {
                    cx.find(None, format!("environment {k} is set; removed"));
                    cx.fixes.push(Fix::Config(ConfigChange::UnsetEnv(k.clone())));
                }
            }
        }
        RuleKind::Healthcheck { test, interval, timeout, retries } => {
            if !cx.input.media_type_is_docker {
                cx.skip = Some(
                    "HEALTHCHECK is not part of the OCI image config (Docker images only); skipped for this OCI image"
                        .into(),
                );
                return Ok(());
            }
            let mut want = json!({ "Test": test });
            let ns = |d: &Option<String>| d.as_deref().and_then(parse_duration_ns);
            if let Some(i) = ns(interval) {
                want["Interval"] = json!(i);
            }
            if let Some(t) = ns(timeout) {
                want["Timeout"] = json!(t);
            }
            if let Some(r) = retries {
                want["Retries"] = json!(r);
            }
            let current = config.runtime().and_then(|r| r.get("Healthcheck"));
            if current != Some(&want) {
                let what = if current.is_some() { "differs" } else { "is missing" };
                cx.find(None, format!("Healthcheck {what}; set to {want}"));
                cx.fixes.push(Fix::Config(ConfigChange::Healthcheck(want)));
            }
        }
        RuleKind::Volumes { deny } => {
            let mut volumes: Vec<String> = config
                .runtime()
                .and_then(|r| r.get("Volumes"))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            volumes.sort();
            for v in volumes {
                let norm = format!("/{}", v.trim_matches('/'));
                let denied = deny.iter().find(|d| norm == **d || norm.starts_with(&format!("{d}/")) || *d == "/");
                if let Some(d) = denied
                    && !cx.rule.allow.contains(&v)
                {
                    cx.find(Some(&norm), format!("volume {v} exposes the host's {d}; removed from the config"));
                    cx.fixes.push(Fix::Config(ConfigChange::RemoveVolume(v)));
                }
            }
        }
        _ => unreachable!("dispatched by kind"),
    }
    Ok(())
}
