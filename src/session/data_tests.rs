use super::*;

fn read_all(rule: BareNewlines, input: &[u8]) -> (usize, Option<Outcome>) {
    let mut r = DataReader::new(rule, 1000);
    match r.ingest(input) {
        (used, true) => (used, Some(r.finish().0)),
        (used, false) => (used, None),
    }
}

#[test]
fn reading_stops_right_after_the_terminator() {
    let input = b"a\r\n.\r\nQUIT\r\n";
    let (used, outcome) = read_all(BareNewlines::Normalize, input);
    assert_eq!(used, 6);
    assert_eq!(outcome, Some(Outcome::Body(b"a\r\n".to_vec())));
}

#[test]
fn a_terminator_split_over_every_chunk_boundary_is_still_found() {
    let input = b"l1\r\n..l2\r\n.\r\n";
    for cut in 1..input.len() {
        let mut r = DataReader::new(BareNewlines::Normalize, 1000);
        let (used, done) = r.ingest(&input[..cut]);
        assert_eq!((used, done), (cut, false), "cut {cut}");
        let (used, done) = r.ingest(&input[cut..]);
        assert_eq!((used, done), (input.len() - cut, true), "cut {cut}");
        assert_eq!(r.finish().0, Outcome::Body(b"l1\r\n.l2\r\n".to_vec()));
    }
}

#[test]
fn a_message_over_the_limit_is_read_to_its_end_and_reported_too_big() {
    let mut input = vec![b'x'; 1500];
    input.extend_from_slice(b"\r\n.\r\n");
    let (used, outcome) = read_all(BareNewlines::Normalize, &input);
    assert_eq!(used, input.len());
    assert_eq!(outcome, Some(Outcome::TooBig { size: 1502 }));
}

#[test]
fn hop_count_counts_received_fields_in_the_header_section_only() {
    let body = b"Received: a\r\nreceived: b\r\nSubject: x\r\n\r\nReceived: not a header\r\n";
    assert_eq!(hop_count(body), 2);
}

#[test]
fn a_body_past_the_shared_memory_budget_is_read_to_its_end_and_reported() {
    let budget = super::super::budget::MemoryBudget::new(100);
    let mut r = DataReader::new(BareNewlines::Normalize, 1000).with_memory(budget.reservation());
    let mut input = vec![b'x'; 150];
    input.extend_from_slice(b"\r\n.\r\n");
    assert_eq!(r.ingest(&input), (input.len(), true));
    assert_eq!(r.finish().0, Outcome::OverBudget);
    assert_eq!(budget.used(), 0, "given back");
}
