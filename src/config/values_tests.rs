//! The config value types, parsed from what people write.

use super::*;

#[test]
fn cresus_port_string_is_parsed_into_typed_values() {
    let p: PortSpec = "587 AUTH:CRAM_MD5 CONN:SSL_TLS".parse().unwrap();
    assert_eq!(p.port, Some(587));
    assert_eq!(p.auth, Some(AuthMode::CramMd5));
    assert_eq!(p.conn, Some(ConnMode::SslTls));
}

#[test]
fn cresus_batch_words_are_parsed() {
    let p: PortSpec = "587 LIMITE:12 WAIT:15.5".parse().unwrap();
    assert_eq!(p.batch_size, Some(12));
    assert_eq!(p.batch_wait, Some(Duration::from_millis(15_500)));
}

#[test]
fn unknown_word_in_port_string_is_named() {
    let e = "587 AUTH:LOGIN FAST:YES".parse::<PortSpec>().unwrap_err();
    assert!(e.contains("`FAST:YES`"), "{e}");
    let e = "587 AUTH:KERBEROS".parse::<PortSpec>().unwrap_err();
    assert!(e.contains("`KERBEROS`"), "{e}");
}

#[test]
fn rates_are_parsed_with_their_unit() {
    assert_eq!(
        "30/min".parse::<Rate>().unwrap(),
        Rate {
            count: 30,
            per: Duration::from_secs(60)
        }
    );
    assert_eq!(
        "2/s".parse::<Rate>().unwrap(),
        Rate {
            count: 2,
            per: Duration::from_secs(1)
        }
    );
    assert!("0/min".parse::<Rate>().is_err());
    assert!("fast".parse::<Rate>().is_err());
}

#[test]
fn sizes_accept_decimal_and_binary_units() {
    assert_eq!("35MB".parse::<ByteSize>().unwrap().0, 35_000_000);
    assert_eq!("1KiB".parse::<ByteSize>().unwrap().0, 1024);
    assert_eq!("1000".parse::<ByteSize>().unwrap().0, 1000);
    assert!("12parsecs".parse::<ByteSize>().is_err());
}

#[test]
fn durations_accept_fractions_and_units() {
    assert_eq!(
        "15.5s".parse::<DurationValue>().unwrap().0,
        Duration::from_millis(15_500)
    );
    assert_eq!(
        "5m".parse::<DurationValue>().unwrap().0,
        Duration::from_secs(300)
    );
    assert_eq!(
        "5d".parse::<DurationValue>().unwrap().0,
        Duration::from_secs(432_000)
    );
    assert!("soon".parse::<DurationValue>().is_err());
}

#[test]
fn networks_match_their_members_only() {
    let n: Network = "127.0.0.0/8".parse().unwrap();
    assert!(n.contains("127.1.2.3".parse().unwrap()));
    assert!(n.contains("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!n.contains("10.0.0.1".parse().unwrap()));
    let h: Network = "::1".parse().unwrap();
    assert!(h.contains("::1".parse().unwrap()));
    assert!(!h.contains("::2".parse().unwrap()));
}
