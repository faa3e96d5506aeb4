//! LIST and LSUB patterns (RFC 3501 §6.3.8): `*` matches anything, `%`
//! anything but the hierarchy delimiter. The reference name is prefixed to
//! the pattern, as most servers do.

use mailroom_shared::name::DELIMITER;

/// Whether `name` matches `pattern` (after the reference was joined on).
/// Iterative with one backtrack point per wildcard kind, so a hostile
/// pattern like `*a*a*a*a*b` costs at most quadratic time, never
/// exponential.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    let mut percent: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                percent = None;
                pi += 1;
            }
            Some('%') => {
                percent = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == n[ni] || (c.is_ascii() && c.eq_ignore_ascii_case(&n[ni]) && is_inbox_part(&n, ni)) => {
                pi += 1;
                ni += 1;
            }
            _ => {
                if let Some((ppi, pni)) = percent
                    && n[pni] != DELIMITER
                {
                    percent = Some((ppi, pni + 1));
                    pi = ppi + 1;
                    ni = pni + 1;
                } else if let Some((spi, sni)) = star {
                    star = Some((spi, sni + 1));
                    percent = None;
                    pi = spi + 1;
                    ni = sni + 1;
                } else {
                    return false;
                }
            }
        }
    }
    p[pi..].iter().all(|&c| c == '*' || c == '%')
}

/// `INBOX` matches case-insensitively (RFC 3501 §5.1), only as the first
/// level of a name.
fn is_inbox_part(name: &[char], at: usize) -> bool {
    let first: String = name.iter().take_while(|&&c| c != DELIMITER).collect();
    first == "INBOX" && at < 5
}

/// The pattern a LIST with `reference` and `pattern` asks for.
pub fn join(reference: &str, pattern: &str) -> String {
    if reference.is_empty() || pattern.starts_with('~') {
        return pattern.to_owned();
    }
    let mut joined = reference.to_owned();
    if !joined.ends_with(DELIMITER) && !pattern.starts_with(DELIMITER) {
        joined.push(DELIMITER);
    }
    joined.push_str(pattern);
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_crosses_levels_percent_does_not() {
        let names = [
            "INBOX",
            "Projects",
            "Projects/2026",
            "Projects/2026/Q1",
            "~bob/INBOX",
            "~bob/Lists/x",
        ];
        let pick = |pattern: &str| -> Vec<&str> { names.iter().copied().filter(|n| matches(pattern, n)).collect() };
        assert_eq!(pick("*"), names);
        assert_eq!(pick("%"), ["INBOX", "Projects"]);
        assert_eq!(pick("Projects/%"), ["Projects/2026"]);
        assert_eq!(pick("Projects/*"), ["Projects/2026", "Projects/2026/Q1"]);
        assert_eq!(pick("~bob/%"), ["~bob/INBOX"]);
        assert_eq!(pick("~*"), ["~bob/INBOX", "~bob/Lists/x"]);
        assert_eq!(pick("*/Q1"), ["Projects/2026/Q1"]);
        assert_eq!(pick("%/%/Q%"), ["Projects/2026/Q1"]);
        assert_eq!(pick("inbox"), ["INBOX"]);
        assert_eq!(pick("projects"), Vec::<&str>::new());
        assert_eq!(pick(""), Vec::<&str>::new());
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let name = "a".repeat(500);
        let pattern = format!("{}b", "*a".repeat(100));
        assert!(!matches(&pattern, &name));
        let pattern = format!("{}b", "%a".repeat(100));
        assert!(!matches(&pattern, &name));
    }

    #[test]
    fn reference_names() {
        assert_eq!(join("", "*"), "*");
        assert_eq!(join("Projects", "%"), "Projects/%");
        assert_eq!(join("Projects/", "%"), "Projects/%");
        assert_eq!(join("Projects", "~bob/*"), "~bob/*");
    }
}
