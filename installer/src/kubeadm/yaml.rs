//! kubeadm's YAML: what `kubeadmutil.MarshalToYaml` writes (JSON through `sigs.k8s.io/yaml`, that
//! is go-yaml v2): block style, sequences not indented under their key, keys in go-yaml's
//! "natural" order, YAML 1.1 look-alikes quoted (`"true"`, `"2381"`, `""`), `'…'` when a plain
//! scalar would misparse.
//!
//! Known gap: go-yaml folds plain scalars containing spaces past column 80; we never fold (no
//! generated value has spaces).

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// The YAML of a JSON document, as `sigs.k8s.io/yaml.Marshal` writes it.
pub fn to_yaml(doc: &Value) -> String {
    let mut out = String::new();
    match doc {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0, false),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize, mut inline_first: bool) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| key_order(a, b));
    for key in keys {
        if !inline_first {
            out.push_str(&" ".repeat(indent));
        }
        inline_first = false;
        out.push_str(&key_scalar(key));
        out.push(':');
        match &map[key] {
            Value::Object(child) if !child.is_empty() => {
                out.push('\n');
                mapping(out, child, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false);
            }
            value => {
                out.push(' ');
                out.push_str(&inline(value, indent));
                out.push('\n');
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize, mut inline_first: bool) {
    for item in items {
        if !inline_first {
            out.push_str(&" ".repeat(indent));
        }
        inline_first = false;
        out.push_str("- ");
        match item {
            Value::Object(child) if !child.is_empty() => mapping(out, child, indent + 2, true),
            Value::Array(child) if !child.is_empty() => sequence(out, child, indent + 2, true),
            value => {
                out.push_str(&inline(value, indent));
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection on the current line; multi-line strings become `|` blocks
/// indented below `indent`.
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.contains('\n') && block_allowed(s) => literal(s, indent + 2),
        Value::String(s) => string_scalar(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn literal(s: &str, indent: usize) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let mut out = format!("|{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    out
}

fn block_allowed(s: &str) -> bool {
    let analysis = analyze(s);
    !analysis.special && !analysis.trailing_space && !analysis.space_break
}

fn key_scalar(key: &str) -> String {
    // Keys are "simple keys": never block scalars.
    if key.contains('\n') { double_quoted(key) } else { string_scalar(key) }
}

fn string_scalar(s: &str) -> String {
    if !resolves_to_string(s) {
        return double_quoted(s);
    }
    let analysis = analyze(s);
    if analysis.plain_allowed() {
        s.to_owned()
    } else if analysis.single_allowed() {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        double_quoted(s)
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// libyaml's `yaml_emitter_analyze_scalar`, for block context.
#[derive(Default)]
struct Analysis {
    block_indicators: bool,
    leading_space: bool,
    trailing_space: bool,
    line_breaks: bool,
    space_break: bool,
    special: bool,
}

impl Analysis {
    fn plain_allowed(&self) -> bool {
        !(self.block_indicators || self.leading_space || self.trailing_space || self.line_breaks || self.special || self.space_break)
    }

    fn single_allowed(&self) -> bool {
        !(self.special || self.space_break)
    }
}

fn analyze(s: &str) -> Analysis {
    let mut a = Analysis::default();
    if s.starts_with("---") || s.starts_with("...") {
        a.block_indicators = true;
    }
    let chars: Vec<char> = s.chars().collect();
    let blank = |c: Option<&char>| matches!(c, None | Some(' ' | '\t' | '\n' | '\r'));
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_blank = blank(chars.get(i + 1));
        let preceded_by_blank = i == 0 || blank(chars.get(i - 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => a.block_indicators = true,
                '?' | ':' | '-' if followed_by_blank => a.block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_blank => a.block_indicators = true,
                '#' if preceded_by_blank => a.block_indicators = true,
                _ => {}
            }
        }
        if (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}' {
            a.special = true;
        }
        if c == '\n' || c == '\r' {
            a.line_breaks = true;
            if i > 0 && chars[i - 1] == ' ' {
                a.space_break = true;
            }
        }
        if c == ' ' {
            if i == 0 {
                a.leading_space = true;
            }
            if i + 1 == chars.len() {
                a.trailing_space = true;
            }
        }
    }
    a
}

/// Whether go-yaml v2 reads `s`, unquoted, back as a string (`resolve` + `isBase60Float`).
fn resolves_to_string(s: &str) -> bool {
    const NON_STRINGS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
        "-.inf", "-.Inf", "-.INF", "<<",
    ];
    if NON_STRINGS.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
        return true;
    }
    !(is_int(s) || is_float(s) || is_base60(s) || is_timestamp(s))
}

fn is_int(s: &str) -> bool {
    let plain = s.replace('_', "");
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let digits = |rest: &str, radix: u32| !rest.is_empty() && rest.chars().all(|c| c.is_digit(radix));
    if let Some(rest) = unsigned.strip_prefix("0x").or_else(|| unsigned.strip_prefix("0X")) {
        return digits(rest, 16);
    }
    if let Some(rest) = unsigned.strip_prefix("0b").or_else(|| unsigned.strip_prefix("0B")) {
        return digits(rest, 2);
    }
    if let Some(rest) = unsigned.strip_prefix("0o").or_else(|| unsigned.strip_prefix("0O")) {
        return digits(rest, 8);
    }
    if unsigned.len() > 1 && unsigned.starts_with('0') {
        return digits(&unsigned[1..], 8);
    }
    digits(unsigned, 10)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` (after dropping `_`, as go-yaml).
fn is_float(s: &str) -> bool {
    let plain = s.replace('_', "");
    let rest = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let all_digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => !fraction.is_empty() && all_digits(fraction),
        Some((whole, fraction)) => !whole.is_empty() && all_digits(whole) && all_digits(fraction),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60(s: &str) -> bool {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or_default();
    let sexagesimal: Vec<&str> = parts.collect();
    head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_')
        && !sexagesimal.is_empty()
        && sexagesimal
            .iter()
            .all(|p| matches!(p.len(), 1 | 2) && p.chars().all(|c| c.is_ascii_digit()) && (p.len() == 1 || p.as_bytes()[0] <= b'5'))
        && fraction.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// go-yaml's `parseTimestamp` accepts `YYYY-M-D` optionally followed by a time; we quote
/// anything with that date prefix.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or_default();
    let Some(after) = parts.next() else { return false };
    let day_len = after.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &after[day_len..];
    matches!(month.len(), 1 | 2)
        && month.bytes().all(|c| c.is_ascii_digit())
        && matches!(day_len, 1 | 2)
        && (tail.is_empty() || tail.starts_with(['T', 't', ' ']))
}

/// go-yaml v2's `keyList.Less`: letters after non-letters, digit runs compared as numbers.
fn key_order(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let nonzero_before = ar[..i].iter().rev().take_while(|c| c.is_ascii_digit()).any(|c| *c != '0');
            if nonzero_before {
                an = 1;
                bn = 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.saturating_mul(10).saturating_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.saturating_mul(10).saturating_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_yaml;

    #[test]
    fn quotes_what_go_yaml_quotes() {
        let doc = json!({
            "a": "", "b": "true", "c": "2381", "d": "100m", "e": "*", "f": "--x=*,y", "g": "a: b", "h": "yes",
            "i": "1.5", "j": "0777", "k": "2024-01-02", "l": "12:30", "m": " lead", "nn": "it's", "o": "https://1.2.3.4:2379",
            "p": "InternalIP,ExternalIP,Hostname", "q": "08", "r": "-", "s": "- x", "t": "a #b", "u": "a#b", "v": "1e3", "w": "0x1F",
        });
        let expected = "a: \"\"\nb: \"true\"\nc: \"2381\"\nd: 100m\ne: '*'\nf: --x=*,y\ng: 'a: b'\nh: \"yes\"\ni: \"1.5\"\nj: \"0777\"\n\
k: \"2024-01-02\"\nl: \"12:30\"\nm: ' lead'\nnn: it's\no: https://1.2.3.4:2379\np: InternalIP,ExternalIP,Hostname\nq: \"08\"\nr: '-'\n\
s: '- x'\nt: 'a #b'\nu: a#b\nv: \"1e3\"\nw: \"0x1F\"\n";
        assert_eq!(to_yaml(&doc), expected);
    }

    #[test]
    fn lays_out_blocks_like_go_yaml() {
        let doc = json!({"spec": {"containers": [{"name": "x", "command": ["a", "b"], "env": []}], "status": {}}, "x": null, "y": "v"});
        assert_eq!(
            to_yaml(&doc),
            "spec:\n  containers:\n  - command:\n    - a\n    - b\n    env: []\n    name: x\n  status: {}\nx: null\n\"y\": v\n"
        );
        assert_eq!(to_yaml(&json!({"s": "one\ntwo"})), "s: |-\n  one\n  two\n");
    }

    #[test]
    fn orders_keys_naturally() {
        let doc = json!({"a10": 1, "a9": 2, "a.b": 3, "ab": 4, "B": 5});
        assert_eq!(to_yaml(&doc), "B: 5\na.b: 3\na9: 2\na10: 1\nab: 4\n");
    }
}
