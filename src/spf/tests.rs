use super::verdict::decide;
use super::*;
use crate::config::Egress;

fn verdict(result: SpfResult) -> Verdict {
    let mut v = Verdict::new(
        "example.com",
        "o365",
        "Microsoft 365",
        &Egress::Include("spf.protection.outlook.com".into()),
    );
    v.result = result;
    v.ips = vec!["40.92.0.0".parse().unwrap()];
    v
}

fn config(mode: SpfMode) -> SpfConfig {
    SpfConfig {
        mode,
        ..SpfConfig::default()
    }
}

#[test]
fn reject_mode_refuses_fail_with_550_5_7_23_naming_domain_and_include() {
    let Decision::Refuse(r) = decide(&config(SpfMode::Reject), verdict(SpfResult::Fail)) else {
        panic!("a fail must be refused")
    };
    assert_eq!(
        r.reply().to_wire(),
        "550 5.7.23 SPF: example.com does not authorize Microsoft 365: add \
         include:spf.protection.outlook.com to its SPF record\r\n"
    );
}

#[test]
fn reject_mode_refuses_a_broken_record_with_5_7_24() {
    let Decision::Refuse(r) = decide(&config(SpfMode::Reject), verdict(SpfResult::PermError))
    else {
        panic!()
    };
    assert_eq!((r.reply().code, r.reply().status), (550, Some("5.7.24")));
}

#[test]
fn a_dns_error_is_never_a_rejection_only_a_try_later() {
    let Decision::Refuse(r) = decide(&config(SpfMode::Reject), verdict(SpfResult::TempError))
    else {
        panic!()
    };
    assert_eq!((r.reply().code, r.reply().status), (451, Some("4.4.3")));
    assert!(matches!(
        decide(&config(SpfMode::Warn), verdict(SpfResult::TempError)),
        Decision::Relay { header: Some(_) }
    ));
}

#[test]
fn reject_mode_relays_the_results_not_in_reject_on() {
    for r in [
        SpfResult::SoftFail,
        SpfResult::Neutral,
        SpfResult::None,
        SpfResult::Pass,
    ] {
        assert!(
            matches!(
                decide(&config(SpfMode::Reject), verdict(r)),
                Decision::Relay { header: Some(_) }
            ),
            "{r}"
        );
    }
}

#[test]
fn warn_mode_relays_a_fail_with_its_header() {
    assert!(matches!(
        decide(&config(SpfMode::Warn), verdict(SpfResult::Fail)),
        Decision::Relay { header: Some(_) }
    ));
}

#[test]
fn the_header_is_one_folded_field_with_the_fix_on_its_second_line() {
    let h = verdict(SpfResult::Fail).header();
    assert_eq!(
        h,
        "X-Smarthost-SPF: fail domain=example.com; upstream=o365; ip=40.92.0.0\r\n\t(example.com \
         does not authorize Microsoft 365: add include:spf.protection.outlook.com to its SPF \
         record)\r\n"
    );
    assert_eq!(
        verdict(SpfResult::Pass).header(),
        "X-Smarthost-SPF: pass domain=example.com; upstream=o365; ip=40.92.0.0\r\n"
    );
}

#[test]
fn the_null_sender_and_addresses_without_a_domain_are_not_checked() {
    assert_eq!(sender_domain(""), None);
    assert_eq!(sender_domain("postmaster"), None);
    assert_eq!(
        sender_domain("a@Example.COM").as_deref(),
        Some("example.com")
    );
    assert_eq!(
        sender_domain("a@bücher.example").as_deref(),
        Some("xn--bcher-kva.example")
    );
}
