//! The server administration page's actions: the page writes them into
//! its forms and the server reads them back, both from this one list.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminOp {
    AddDomain,
    AddDomainAlias,
    RemoveDomainAlias,
    SetDomainQuota,
    CreatePublic,
    SetExternal,
    InternalInbox,
    AddAccount,
    DeleteAccount,
    ResetPassword,
    MakeAdmin,
    UnmakeAdmin,
    AddAlias,
    RemoveAlias,
    SetQuota,
    InboxFile,
    InboxStore,
    AddRule,
    DeleteRule,
    /// Anything else a form (or a stranger) sent: refused with a message.
    #[serde(other)]
    Unknown,
}

impl AdminOp {
    /// The value a form's `op` field carries.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminOp::AddDomain => "add_domain",
            AdminOp::AddDomainAlias => "add_domain_alias",
            AdminOp::RemoveDomainAlias => "remove_domain_alias",
            AdminOp::SetDomainQuota => "set_domain_quota",
            AdminOp::CreatePublic => "create_public",
            AdminOp::SetExternal => "set_external",
            AdminOp::InternalInbox => "internal_inbox",
            AdminOp::AddAccount => "add_account",
            AdminOp::DeleteAccount => "delete_account",
            AdminOp::ResetPassword => "reset_password",
            AdminOp::MakeAdmin => "make_admin",
            AdminOp::UnmakeAdmin => "unmake_admin",
            AdminOp::AddAlias => "add_alias",
            AdminOp::RemoveAlias => "remove_alias",
            AdminOp::SetQuota => "set_quota",
            AdminOp::InboxFile => "inbox_file",
            AdminOp::InboxStore => "inbox_store",
            AdminOp::AddRule => "add_rule",
            AdminOp::DeleteRule => "delete_rule",
            AdminOp::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_reads_back_as_itself_and_strangers_as_unknown() {
        let all = [
            AdminOp::AddDomain,
            AdminOp::AddDomainAlias,
            AdminOp::RemoveDomainAlias,
            AdminOp::SetDomainQuota,
            AdminOp::CreatePublic,
            AdminOp::SetExternal,
            AdminOp::InternalInbox,
            AdminOp::AddAccount,
            AdminOp::DeleteAccount,
            AdminOp::ResetPassword,
            AdminOp::MakeAdmin,
            AdminOp::UnmakeAdmin,
            AdminOp::AddAlias,
            AdminOp::RemoveAlias,
            AdminOp::SetQuota,
            AdminOp::InboxFile,
            AdminOp::InboxStore,
            AdminOp::AddRule,
            AdminOp::DeleteRule,
        ];
        for op in all {
            let json = format!("\"{}\"", op.as_str());
            assert_eq!(serde_json::from_str::<AdminOp>(&json).unwrap(), op);
        }
        assert_eq!(
            serde_json::from_str::<AdminOp>("\"drop_tables\"").unwrap(),
            AdminOp::Unknown
        );
    }
}
