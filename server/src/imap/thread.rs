//! THREAD=REFERENCES (RFC 5256 §3): conversations built from Message-ID,
//! References and In-Reply-To, then joined by base subject.
//!
//! Containers live in one arena (`Vec`) and point at each other by index:
//! a message's container, or a dummy standing for a message that was
//! referenced but is not in the mailbox. Every walk up the tree is
//! bounded by the arena's size, so hostile headers cannot loop it.

use std::collections::HashMap;

use super::sort::{base_subject, is_reply_or_forward};

/// What threading needs of one message.
#[derive(Clone, Debug, Default)]
pub struct Threadable {
    pub seq: u32,
    /// The sent date (the Date header, else the arrival), UTC seconds.
    pub date: i64,
    pub subject: String,
    pub message_id: Option<String>,
    /// References, or else the first id of In-Reply-To, oldest first.
    pub references: Vec<String>,
}

impl Threadable {
    pub fn read_headers(&mut self, raw: &[u8]) {
        use mailparse::MailHeaderMap;
        let Ok((headers, _)) = mailparse::parse_headers(raw) else {
            return;
        };
        let ids = |name: &str| {
            headers
                .get_first_value(name)
                .map(|v| message_ids(&v))
                .unwrap_or_default()
        };
        self.subject = headers.get_first_value("Subject").unwrap_or_default();
        if let Some(date) = headers
            .get_first_value("Date")
            .and_then(|d| mailparse::dateparse(&d).ok())
        {
            self.date = date;
        }
        self.message_id = ids("Message-ID").into_iter().next();
        self.references = ids("References");
        if self.references.is_empty() {
            self.references = ids("In-Reply-To").into_iter().take(1).collect();
        }
    }
}

/// The `<…>` ids of a header value, without the brackets.
fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start + 1..].find('>') else { break };
        let id = rest[start + 1..start + 1 + len].trim();
        if !id.is_empty() {
            out.push(id.to_owned());
        }
        rest = &rest[start + 1 + len + 1..];
    }
    out
}

/// One node of the result: a message (its sequence number) or a dummy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub seq: Option<u32>,
    pub children: Vec<Node>,
}

#[derive(Default)]
struct Container {
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest<'a> {
    messages: &'a [Threadable],
    containers: Vec<Container>,
}

impl Forest<'_> {
    fn new_container(&mut self) -> usize {
        self.containers.push(Container::default());
        self.containers.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        for _ in 0..=self.containers.len() {
            match at {
                Some(x) if x == a => return true,
                Some(x) => at = self.containers[x].parent,
                None => return false,
            }
        }
        true // a cycle: treat as linked
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.containers[child].parent.take() {
            self.containers[parent].children.retain(|&c| c != child);
        }
    }

    /// Makes `child` a child of `parent` unless that would close a loop.
    fn link(&mut self, parent: usize, child: usize) {
        if parent == child || self.is_ancestor(child, parent) {
            return;
        }
        self.unlink(child);
        self.containers[child].parent = Some(parent);
        self.containers[parent].children.push(child);
    }

    fn date(&self, c: usize) -> (i64, u32) {
        match self.containers[c].message {
            Some(m) => (self.messages[m].date, self.messages[m].seq),
            None => self.containers[c]
                .children
                .first()
                .map_or((i64::MAX, u32::MAX), |&first| self.date(first)),
        }
    }

    fn subject(&self, c: usize) -> Option<&str> {
        match self.containers[c].message {
            Some(m) => Some(&self.messages[m].subject),
            None => self.containers[c].children.first().and_then(|&f| self.subject(f)),
        }
    }

    fn is_dummy(&self, c: usize) -> bool {
        self.containers[c].message.is_none()
    }
}

/// Threads `messages` (in sequence order) by RFC 5256 REFERENCES.
pub fn references(messages: &[Threadable]) -> Vec<Node> {
    let mut forest = Forest {
        messages,
        containers: Vec::new(),
    };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut get = |forest: &mut Forest, id: &str| -> usize {
        *by_id.entry(id.to_owned()).or_insert_with(|| forest.new_container())
    };
    // (1) containers and links.
    let mut ids: HashMap<String, ()> = HashMap::new();
    for (m, message) in messages.iter().enumerate() {
        let c = match &message.message_id {
            // A second message with an id already taken gets one of its own.
            Some(id) if ids.insert(id.clone(), ()).is_none() => get(&mut forest, id),
            _ => forest.new_container(),
        };
        forest.containers[c].message = Some(m);
        let refs: Vec<usize> = message.references.iter().map(|r| get(&mut forest, r)).collect();
        for pair in refs.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if forest.containers[b].parent.is_none() {
                forest.link(a, b);
            }
        }
        if let Some(&last) = refs.last() {
            forest.unlink(c);
            forest.link(last, c);
        }
    }
    // (2) the roots, (4) without empty dummies.
    let roots: Vec<usize> = (0..forest.containers.len())
        .filter(|&c| forest.containers[c].parent.is_none())
        .collect();
    let mut roots = prune(&mut forest, roots, true);
    // (5) roots with one base subject join.
    roots = join_by_subject(&mut forest, roots);
    // (6) dates order every level.
    sort_level(&mut forest, &mut roots);
    roots.iter().map(|&r| node(&forest, r)).collect()
}

/// Drops dummies without children and splices a dummy's children into
/// its level (at the root only when it has one child).
fn prune(forest: &mut Forest, level: Vec<usize>, root: bool) -> Vec<usize> {
    let mut out = Vec::new();
    for c in level {
        let children = std::mem::take(&mut forest.containers[c].children);
        let children = prune(forest, children, false);
        forest.containers[c].children = children.clone();
        if !forest.is_dummy(c) {
            out.push(c);
        } else if children.is_empty() {
        } else if !root || children.len() == 1 {
            for &child in &children {
                forest.containers[child].parent = forest.containers[c].parent;
            }
            out.extend(children);
        } else {
            out.push(c);
        }
    }
    out
}

fn join_by_subject(forest: &mut Forest, roots: Vec<usize>) -> Vec<usize> {
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let Some(subject) = forest.subject(r).map(str::to_owned) else {
            continue;
        };
        let base = base_subject(&subject).to_uppercase();
        if base.is_empty() {
            continue;
        }
        let replace = match table.get(&base) {
            None => true,
            Some(&old) => {
                (forest.is_dummy(r) && !forest.is_dummy(old))
                    || (is_reply_or_forward(forest.subject(old).unwrap_or_default()) && !is_reply_or_forward(&subject))
            }
        };
        if replace {
            table.insert(base, r);
        }
    }
    let mut out: Vec<usize> = Vec::new();
    for &r in &roots {
        let subject = forest.subject(r).map(str::to_owned).unwrap_or_default();
        let base = base_subject(&subject).to_uppercase();
        let other = match table.get(&base) {
            Some(&other) if !base.is_empty() && other != r => other,
            _ => {
                out.push(r);
                continue;
            }
        };
        let reply = is_reply_or_forward(&subject);
        let other_reply = is_reply_or_forward(forest.subject(other).unwrap_or_default());
        match (forest.is_dummy(other), forest.is_dummy(r)) {
            // Both dummies: one family.
            (true, true) => {
                for child in std::mem::take(&mut forest.containers[r].children) {
                    forest.containers[child].parent = None;
                    forest.link(other, child);
                }
            }
            (true, false) => forest.link(other, r),
            (false, _) if reply && !other_reply => forest.link(other, r),
            _ => {
                let dummy = forest.new_container();
                forest.link(dummy, other);
                forest.link(dummy, r);
                table.insert(base, dummy);
                out.push(dummy);
            }
        }
    }
    out.retain(|&c| forest.containers[c].parent.is_none());
    out
}

fn sort_level(forest: &mut Forest, level: &mut [usize]) {
    for &c in level.iter() {
        let mut children = std::mem::take(&mut forest.containers[c].children);
        sort_level(forest, &mut children);
        forest.containers[c].children = children;
    }
    level.sort_by_key(|&c| forest.date(c));
}

fn node(forest: &Forest, c: usize) -> Node {
    Node {
        seq: forest.containers[c].message.map(|m| forest.messages[m].seq),
        children: forest.containers[c].children.iter().map(|&k| node(forest, k)).collect(),
    }
}

/// `(3 6 (4 23)(44 7 96))`: each thread in parentheses; a node's only
/// child follows it in the same list, several children each get theirs.
pub fn write(out: &mut String, threads: &[Node], number: &impl Fn(u32) -> u32) {
    for thread in threads {
        out.push('(');
        write_node(out, thread, number);
        out.push(')');
    }
}

fn write_node(out: &mut String, n: &Node, number: &impl Fn(u32) -> u32) {
    if let Some(seq) = n.seq {
        out.push_str(&number(seq).to_string());
    }
    match n.children.as_slice() {
        [] => {}
        [only] => {
            if n.seq.is_some() {
                out.push(' ');
            }
            write_node(out, only, number);
        }
        many => {
            if n.seq.is_some() {
                out.push(' ');
            }
            for child in many {
                out.push('(');
                write_node(out, child, number);
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u32, date: i64, id: Option<&str>, refs: &[&str], subject: &str) -> Threadable {
        Threadable {
            seq,
            date,
            subject: subject.into(),
            message_id: id.map(str::to_owned),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn threads(messages: &[Threadable]) -> String {
        let mut out = String::new();
        write(&mut out, &references(messages), &|s| s);
        out
    }

    #[test]
    fn the_suites_cases() {
        // A loop through References leaves the looping message a root.
        let loop_case = [
            m(1, 30, Some("a@b"), &[], ""),
            m(2, 10, Some("b@b"), &["a@b", "c@b"], ""),
            m(3, 20, Some("c@b"), &["b@b"], ""),
        ];
        assert_eq!(threads(&loop_case), "(3 2)(1)");
        let duplicate = [m(1, 1, Some("a@b"), &[], ""), m(2, 1, Some("a@b"), &[], "")];
        assert_eq!(threads(&duplicate), "(1)(2)");
        let subject = [m(1, 1, Some("a@b"), &[], "foo"), m(2, 2, Some("a@b"), &[], "Re: foo")];
        assert_eq!(threads(&subject), "(1 2)");
        let missing_parent = [m(1, 1, None, &["a@b"], ""), m(2, 2, None, &["a@b"], "")];
        assert_eq!(threads(&missing_parent), "((1)(2))");
        let tree = [
            m(1, 1, Some("a@b"), &[], ""),
            m(2, 1, Some("b@b"), &["a@b"], ""),
            m(3, 1, Some("c@b"), &["b@b"], ""),
            m(4, 1, Some("b@b"), &["a@b"], ""),
        ];
        assert_eq!(threads(&tree), "(1 (2 3)(4))");
    }

    #[test]
    fn ids_come_from_brackets() {
        assert_eq!(message_ids(" <a@b> <c@d>\r\n\t<e@f>"), ["a@b", "c@d", "e@f"]);
        assert!(message_ids("no ids <here").is_empty());
    }
}
