//! The layering is kept by the compiler, and this test keeps the compiler
//! keeping it: the store is a private module of the service, so nothing
//! outside `server/src/service/` may name `store::` or one of the store's
//! types, and `server/src/lib.rs` must not export it. (Were someone to
//! make the module public again, this fails before the leak spreads.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file without its comments, string and character
/// literals (which may mention anything), as identifier and `::` tokens.
fn tokens(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if let Some(len) = raw_string(rest) {
            i += len;
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if let Some(len) = char_literal(rest) {
            i += len;
        } else if rest.starts_with("::") {
            out.push("::".to_owned());
            i += 2;
        } else if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(rest[..len].to_owned());
            i += len;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// `r"…"`, `r#"…"#`, `br"…"`: its length.
fn raw_string(s: &str) -> Option<usize> {
    let after_prefix = s.strip_prefix("br").or_else(|| s.strip_prefix('r'))?;
    let hashes = after_prefix.len() - after_prefix.trim_start_matches('#').len();
    let body = after_prefix[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(s.len() - body.len() + end + close.len())
}

/// `'x'`, `'\n'`, `'"'` (not a lifetime such as `'a`): its length.
fn char_literal(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('\'')?;
    let first = rest.chars().next()?;
    let len = if first == '\\' {
        rest[1..].find('\'')? + 2
    } else {
        first.len_utf8()
    };
    rest[len..].starts_with('\'').then_some(len + 2)
}

/// The types the store declares (`pub struct`, `pub enum`, `pub type`,
/// `pub trait`), whatever module of it they are in.
fn store_types() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&server_src().join("service/store"), &mut files);
    let mut names = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read a store file");
        let words = tokens(&source);
        for w in words.windows(3) {
            if w[0] == "pub" && ["struct", "enum", "type", "trait"].contains(&w[1].as_str()) {
                names.insert(w[2].clone());
            }
        }
    }
    // `store::Result` is caught by its path; the bare name is everyone's.
    names.remove("Result");
    names
}

/// What in `source` names the store: `store::…` or one of `types`.
fn leaks(source: &str, types: &BTreeSet<String>) -> Vec<String> {
    let words = tokens(source);
    let mut found = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if w == "store" && words.get(i + 1).is_some_and(|n| n == "::") {
            found.push("store::".to_owned());
        } else if types.contains(w) {
            found.push(w.clone());
        }
    }
    found
}

#[test]
fn nothing_outside_the_service_names_the_store() {
    let types = store_types();
    assert!(types.contains("Store") && types.contains("AccountRow"), "{types:?}");
    let src = server_src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(src.join("service"))) {
        let source = std::fs::read_to_string(file).expect("read a source file");
        let found = leaks(&source, &types);
        if !found.is_empty() {
            offenders.push(format!("{}: {found:?}", file.strip_prefix(&src).unwrap().display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "the store is the service's alone:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_library_does_not_export_the_store() {
    let lib = std::fs::read_to_string(server_src().join("lib.rs")).expect("read lib.rs");
    let words = tokens(&lib);
    for w in words.windows(2) {
        assert!(!(w[0] == "mod" && w[1] == "store"), "lib.rs declares the store module");
    }
    assert!(leaks(&lib, &store_types()).is_empty(), "lib.rs names the store");
}

/// The check itself finds what it is for, and only that.
#[test]
fn the_check_sees_leaks_but_not_words() {
    let types: BTreeSet<String> = ["Store", "AccountRow"].map(String::from).into();
    assert_eq!(leaks("use crate::service::store::Thing;", &types), ["store::"]);
    assert_eq!(leaks("fn f(a: &AccountRow) {}", &types), ["AccountRow"]);
    let harmless = "// the Store, store::x\n/* AccountRow */ let s = \"store::Store\"; \
                    let r = r#\"AccountRow\"#; let c = '\"'; fn g<'a>(x: &'a str) {} let store = 1;";
    assert!(leaks(harmless, &types).is_empty(), "{:?}", leaks(harmless, &types));
}
