//! CVSS base scores from vector strings (v3.0/v3.1 and v2), as the FIRST specifications
//! define them.

/// The base score of a CVSS v3.x vector (`CVSS:3.1/AV:N/…`), a v2 vector (`AV:N/AC:L/Au:N/…`,
/// optionally in parentheses) or a bare number (`"7.5"`). `None` for anything else,
/// including CVSS v4 vectors and vectors missing a base metric.
pub(crate) fn base_score(input: &str) -> Option<f64> {
    let input = input.trim();
    if let Ok(score) = input.parse::<f64>() {
        return (0.0..=10.0).contains(&score).then_some(score);
    }
    if let Some(rest) = input.strip_prefix("CVSS:3.0/").or_else(|| input.strip_prefix("CVSS:3.1/")) {
        return v3(rest);
    }
    if input.starts_with("CVSS:") {
        return None;
    }
    v2(input.trim_start_matches('(').trim_end_matches(')'))
}

/// Looks a metric up in `name:value/…`; a metric given twice makes the vector invalid.
fn metric<'a>(vector: &'a str, name: &str) -> Option<&'a str> {
    let mut found = None;
    for part in vector.split('/') {
        let (key, value) = part.split_once(':')?;
        if key == name {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    found
}

fn v3(vector: &str) -> Option<f64> {
    let scope_changed = match metric(vector, "S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match metric(vector, "AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric(vector, "AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric(vector, "PR")?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric(vector, "UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |name| match metric(vector, name)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if scope_changed { 7.52 * (iss - 0.029) - 3.25 * f64::powi(iss - 0.02, 15) } else { 6.42 * iss };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if scope_changed { 1.08 * (impact + exploitability) } else { impact + exploitability };
    Some(round_up(raw.min(10.0)))
}

/// CVSS v3.1's `Roundup`: the smallest number with one decimal that is not below `x`,
/// computed on integers to avoid floating-point surprises (4.000000001 → 4.0, not 4.1).
fn round_up(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 { int_input as f64 / 100_000.0 } else { ((int_input / 10_000) + 1) as f64 / 10.0 }
}

fn v2(vector: &str) -> Option<f64> {
    let av = match metric(vector, "AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match metric(vector, "AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match metric(vector, "Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |name| match metric(vector, name)? {
        "N" => Some(0.0),
        "P" => Some(0.275),
        "C" => Some(0.660),
        _ => None,
    };
    let (c, i, a) = (cia("C")?, cia("I")?, cia("A")?);
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let score: f64 = (0.6 * impact + 0.4 * exploitability - 1.5) * f;
    Some((score * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::base_score;

    #[test]
    fn v3_base_scores_match_the_specification_examples() {
        // Scores as published by NVD / the FIRST calculator.
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 8.8),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            // Temporal metrics after the base ones are ignored.
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O", 9.8),
        ] {
            assert_eq!(base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn v2_and_numeric_scores() {
        assert_eq!(base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
        assert_eq!(base_score("(AV:N/AC:L/Au:N/C:C/I:C/A:C)"), Some(10.0));
        assert_eq!(base_score("AV:N/AC:M/Au:N/C:N/I:P/A:N"), Some(4.3));
        assert_eq!(base_score("AV:L/AC:L/Au:N/C:P/I:N/A:N"), Some(2.1));
        assert_eq!(base_score(" 7.5 "), Some(7.5));
    }

    #[test]
    fn anything_else_has_no_score() {
        for input in [
            "",
            "not-a-vector",
            "11.0",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert_eq!(base_score(input), None, "{input}");
        }
    }
}
