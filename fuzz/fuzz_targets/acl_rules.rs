//! Fuzzes ACL rule parsing (`ACL SETUSER` rules, the ACL file's lines): arbitrary rules
//! never panic, and a user's description, read back as rules, describes the same user
//! (what `ACL SAVE` then `ACL LOAD` relies on).
#![no_main]

use flashdb_core::acl::{merge_selector_args, RuleContext, UserRules};
use libfuzzer_sys::fuzz_target;

fn build(words: &[&[u8]], ctx: RuleContext) -> Option<UserRules> {
    let ops = merge_selector_args(words).ok()?;
    let mut user = UserRules::new(ctx);
    for op in &ops {
        user.apply(op, ctx).ok()?;
    }
    Some(user)
}

fuzz_target!(|data: &[u8]| {
    let (ctx, data) = match data.split_first() {
        Some((b, rest)) => (RuleContext { pubsub_all: b & 1 == 1 }, rest),
        None => return,
    };
    let words: Vec<&[u8]> = data.split(|&c| c == b' ').filter(|w| !w.is_empty()).collect();
    let Some(user) = build(&words, ctx) else { return };
    let described = user.describe();
    // Parentheses or quotes inside patterns cannot be told from selector syntax, in
    // Redis's format as here; first arguments are shown as text.
    if !data.is_ascii() || data.iter().any(|c| b"()\"'".contains(c)) {
        return;
    }
    let again: Vec<&[u8]> = described.split(|&c| c == b' ').filter(|w| !w.is_empty()).collect();
    let reread = build(&again, ctx).expect("a description is valid rules");
    assert_eq!(
        String::from_utf8_lossy(&reread.describe()),
        String::from_utf8_lossy(&described)
    );
});
