use super::*;

#[test]
fn a_quoted_local_part_is_written_back_with_its_quotes_and_escapes() {
    let m = Mailbox::parse(r#""victim@target.test"@dest.test"#).unwrap();
    assert_eq!(m.local(), "victim@target.test");
    assert_eq!(m.domain(), "dest.test");
    assert_eq!(m.to_string(), r#""victim@target.test"@dest.test"#);
    let m = Mailbox::parse(r#""a\"b\\c"@x.test"#).unwrap();
    assert_eq!(m.local(), r#"a"b\c"#);
    assert_eq!(Mailbox::parse(&m.to_string()).unwrap(), m);
}

#[test]
fn a_needlessly_quoted_local_part_is_written_plain() {
    assert_eq!(
        Mailbox::parse(r#""bob"@x.test"#).unwrap().to_string(),
        "bob@x.test"
    );
}

#[test]
fn quoted_local_parts_with_brackets_spaces_or_controls_are_refused() {
    for (path, want) in [
        (
            r#""victim@target.test> ORCPT=rfc822;x"@dest.test"#,
            MailboxError::UnsafeQuoted,
        ),
        (r#""a AUTH=<x>"@dest.test"#, MailboxError::UnsafeQuoted),
        ("\"a\0b\"@x.test", MailboxError::Control),
        ("\"a\x1b[2Jb\"@x.test", MailboxError::Control),
        ("\"a\x07\"@x.test", MailboxError::Control),
        ("\"open@x.test", MailboxError::Unterminated),
    ] {
        assert_eq!(Mailbox::parse(path), Err(want), "{path:?}");
    }
}

#[test]
fn plain_addresses_source_routes_literals_and_idn_parse() {
    assert_eq!(
        Mailbox::parse("a.b+c@x.test").unwrap().to_string(),
        "a.b+c@x.test"
    );
    assert_eq!(
        Mailbox::parse("@r1,@r2:u@x.test").unwrap().to_string(),
        "u@x.test"
    );
    assert_eq!(
        Mailbox::parse("u@[127.0.0.1]").unwrap().domain(),
        "[127.0.0.1]"
    );
    assert_eq!(Mailbox::parse("jörg@bücher.test").unwrap().local(), "jörg");
    for bad in [
        "nodomain",
        "@x.test",
        "a@",
        "a b@x.test",
        "a@x y.test",
        "a@<x>",
    ] {
        assert!(Mailbox::parse(bad).is_err(), "{bad}");
    }
}
