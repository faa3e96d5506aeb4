//! RFC 4314 access rights as a set.
//!
//! The eleven rights of RFC 4314 §2.1 are kept 1:1 (no lossy mapping), in the
//! RFC's canonical order `lrswipkxtea`. The obsolete RFC 2086 rights are
//! accepted on input only: `c` means `k` and `d` means `t e` (RFC 4314 §2.1.1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One RFC 4314 right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Right {
    /// `l`: the mailbox is visible to LIST.
    Lookup,
    /// `r`: SELECT, STATUS, FETCH, SEARCH, COPY from.
    Read,
    /// `s`: keep the `\Seen` flag.
    Seen,
    /// `w`: write flags other than `\Seen` and `\Deleted`.
    Write,
    /// `i`: APPEND and COPY into.
    Insert,
    /// `p`: send mail to the mailbox's submission address (delivery).
    Post,
    /// `k`: create child mailboxes.
    CreateMailbox,
    /// `x`: delete or rename the mailbox.
    DeleteMailbox,
    /// `t`: set or clear `\Deleted`.
    DeleteMessage,
    /// `e`: EXPUNGE.
    Expunge,
    /// `a`: administer: change the ACL.
    Administer,
}

impl Right {
    /// All rights in RFC 4314's canonical order.
    pub const ALL: [Right; 11] = [
        Right::Lookup,
        Right::Read,
        Right::Seen,
        Right::Write,
        Right::Insert,
        Right::Post,
        Right::CreateMailbox,
        Right::DeleteMailbox,
        Right::DeleteMessage,
        Right::Expunge,
        Right::Administer,
    ];

    pub fn letter(self) -> char {
        b"lrswipkxtea"[self as usize] as char
    }

    pub fn from_letter(c: char) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.letter() == c)
    }

    /// A one-line meaning, for forms and error messages.
    pub fn meaning(self) -> &'static str {
        match self {
            Right::Lookup => "see the mailbox in folder lists",
            Right::Read => "open it and read messages",
            Right::Seen => "keep messages' read/unread state",
            Right::Write => "set flags and keywords other than read and deleted",
            Right::Insert => "add messages (append, copy into)",
            Right::Post => "send mail straight into it",
            Right::CreateMailbox => "create sub-folders",
            Right::DeleteMailbox => "delete or rename the folder",
            Right::DeleteMessage => "mark messages deleted",
            Right::Expunge => "expunge deleted messages",
            Right::Administer => "change who may do what (sharing)",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of rights.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rights(u16);

/// A rights string with a character that is no right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an access right (valid: lrswipkxtea, and the obsolete c, d)")]
pub struct BadRight(pub char);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const ALL: Rights = Rights((1 << 11) - 1);
    /// Preset *read*: see, open, keep one's read state.
    pub const READ: Rights = Rights::of(&[Right::Lookup, Right::Read, Right::Seen]);
    /// Preset *read-write*: also flag, add and delete messages.
    pub const READ_WRITE: Rights = Rights::of(&[
        Right::Lookup,
        Right::Read,
        Right::Seen,
        Right::Write,
        Right::Insert,
        Right::Post,
        Right::DeleteMessage,
        Right::Expunge,
    ]);
    /// Preset *full*: all eleven rights.
    pub const FULL: Rights = Rights::ALL;

    /// The presets by the names the web's forms use.
    pub const PRESETS: [(&'static str, Rights); 3] = [
        ("read", Rights::READ),
        ("read-write", Rights::READ_WRITE),
        ("full", Rights::FULL),
    ];

    /// The preset these rights are, if they are one.
    pub fn preset(self) -> Option<&'static str> {
        Rights::PRESETS.iter().find(|(_, r)| *r == self).map(|(name, _)| *name)
    }

    /// The rights of the preset called `name`.
    pub fn from_preset(name: &str) -> Option<Rights> {
        Rights::PRESETS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    pub const fn of(rights: &[Right]) -> Rights {
        let mut bits = 0u16;
        let mut i = 0;
        while i < rights.len() {
            bits |= 1 << rights[i] as u16;
            i += 1;
        }
        Rights(bits)
    }

    /// Parses a rights string, accepting `c` and `d` (RFC 4314 §2.1.1).
    /// Any other character is an error; nothing is guessed.
    pub fn parse(s: &str) -> Result<Rights, BadRight> {
        let mut rights = Rights::NONE;
        for c in s.chars() {
            rights = rights
                | match c {
                    'c' => Rights::of(&[Right::CreateMailbox]),
                    'd' => Rights::of(&[Right::DeleteMessage, Right::Expunge]),
                    _ => Right::from_letter(c).ok_or(BadRight(c))?.into(),
                };
        }
        Ok(rights)
    }

    pub fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn contains_all(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    pub fn without(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }
}

impl From<Right> for Rights {
    fn from(r: Right) -> Rights {
        Rights(r.bit())
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

impl std::ops::BitOr<Right> for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Right) -> Rights {
        Rights(self.0 | rhs.bit())
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter().try_for_each(|r| write!(f, "{}", r.letter()))
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({self})")
    }
}

impl std::str::FromStr for Rights {
    type Err = BadRight;
    fn from_str(s: &str) -> Result<Rights, BadRight> {
        Rights::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_right_round_trips_through_its_letter() {
        for r in Right::ALL {
            let set = Rights::parse(&r.letter().to_string()).unwrap();
            assert_eq!(set, Rights::from(r));
            assert_eq!(set.to_string(), r.letter().to_string());
        }
    }

    #[test]
    fn canonical_order_whatever_the_input_order() {
        assert_eq!(Rights::parse("aetxkpiwsrl").unwrap().to_string(), "lrswipkxtea");
        assert_eq!(Rights::parse("lrxtws").unwrap().to_string(), "lrswxt");
    }

    #[test]
    fn obsolete_c_and_d_are_mapped() {
        assert_eq!(Rights::parse("c").unwrap().to_string(), "k");
        assert_eq!(Rights::parse("d").unwrap().to_string(), "te");
        assert_eq!(Rights::parse("lrcd").unwrap().to_string(), "lrkte");
    }

    #[test]
    fn unknown_letters_are_rejected() {
        assert_eq!(Rights::parse("lrz"), Err(BadRight('z')));
        assert_eq!(Rights::parse("L"), Err(BadRight('L')));
        assert_eq!(Rights::parse("l r"), Err(BadRight(' ')));
    }

    #[test]
    fn presets() {
        assert_eq!(Rights::READ.to_string(), "lrs");
        assert_eq!(Rights::READ_WRITE.to_string(), "lrswipte");
        assert_eq!(Rights::FULL.to_string(), "lrswipkxtea");
        assert_eq!(Rights::parse("").unwrap(), Rights::NONE);
        for (name, rights) in Rights::PRESETS {
            assert_eq!(rights.preset(), Some(name));
            assert_eq!(Rights::from_preset(name), Some(rights));
        }
        assert_eq!(Rights::parse("lr").unwrap().preset(), None);
        assert_eq!(Rights::from_preset("everything"), None);
    }
}
