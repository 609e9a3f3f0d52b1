//! The message catalog: every text a person reads in their own language (English, French,
//! German), from one Project Fluent file per language under `locales/`, embedded in the binary.
//! Owns the languages and the lookup; never decides what to say (the stages pick a message id)
//! and never fails: a missing text falls back to English, then to the id itself.
//!
//! Fluent rather than match arms: translators edit one plain file per language, and
//! `catalog::tests` proves that every id exists in all three.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// The languages smarthost speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
    De,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Fr, Lang::De];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
        }
    }

    /// The first language of an HTTP `Accept-Language` list (or a locale such as `fr_CH.UTF-8`)
    /// that smarthost speaks; English when none.
    pub fn negotiate(accept: &str) -> Lang {
        accept
            .split(',')
            .filter_map(|part| part.split(';').next()?.trim().parse().ok())
            .next()
            .unwrap_or_default()
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.to_ascii_lowercase().get(..2) {
            Some("en") => Ok(Lang::En),
            Some("fr") => Ok(Lang::Fr),
            Some("de") => Ok(Lang::De),
            _ => Err(format!("unknown language `{s}` (en, fr or de)")),
        }
    }
}

/// The Fluent source of each language, in `Lang::ALL` order.
pub const SOURCES: [&str; 3] = [
    include_str!("../locales/en.ftl"),
    include_str!("../locales/fr.ftl"),
    include_str!("../locales/de.ftl"),
];

type Bundle = FluentBundle<FluentResource>;

static BUNDLES: LazyLock<Vec<Bundle>> = LazyLock::new(|| {
    Lang::ALL
        .iter()
        .zip(SOURCES)
        .map(|(lang, source)| bundle(*lang, source))
        .collect()
});

fn bundle(lang: Lang, source: &str) -> Bundle {
    let id = lang.code().parse().expect("a literal language id");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks around each value would end up in terminals and logs.
    bundle.set_use_isolating(false);
    // A syntax error drops only the broken entry; the catalog test fails on it.
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
    // Duplicate ids keep the first; the catalog test fails on them too.
    let _ = bundle.add_resource(resource);
    bundle
}

/// The text of `id` (or of its attribute `attr`, as in `problem-x.fix`) in `lang`, with the
/// named arguments filled in.
pub fn text(lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
    lookup(lang, id, args)
        .or_else(|| lookup(Lang::En, id, args))
        .unwrap_or_else(|| id.to_string())
}

fn lookup(lang: Lang, id: &str, args: &[(&str, &str)]) -> Option<String> {
    let bundle = &BUNDLES[lang as usize];
    let (name, attr) = match id.split_once('.') {
        Some((n, a)) => (n, Some(a)),
        None => (id, None),
    };
    let message = bundle.get_message(name)?;
    let pattern = match attr {
        Some(a) => message.get_attribute(a)?.value(),
        None => message.value()?,
    };
    let mut fluent_args = FluentArgs::new();
    for (k, v) in args {
        fluent_args.set(*k, *v);
    }
    let mut errors = Vec::new();
    let out = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
    errors.is_empty().then(|| out.into_owned())
}

/// Every id the catalog of `lang` holds, attributes as `id.attr` (for tests and the console).
pub fn ids(lang: Lang) -> Vec<String> {
    let resource =
        FluentResource::try_new(SOURCES[lang as usize].to_string()).unwrap_or_else(|(r, _)| r);
    let mut out = Vec::new();
    for entry in resource.entries() {
        if let fluent_syntax::ast::Entry::Message(m) = entry {
            if m.value.is_some() {
                out.push(m.id.name.to_string());
            }
            for a in &m.attributes {
                out.push(format!("{}.{}", m.id.name, a.id.name));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_file_parses_without_an_error() {
        for (lang, source) in Lang::ALL.iter().zip(SOURCES) {
            let parsed = FluentResource::try_new(source.to_string());
            assert!(parsed.is_ok(), "{lang:?}: {:?}", parsed.err().map(|e| e.1));
        }
    }

    #[test]
    fn every_id_exists_in_english_french_and_german() {
        let en = ids(Lang::En);
        assert!(!en.is_empty());
        for lang in [Lang::Fr, Lang::De] {
            assert_eq!(ids(lang), en, "{lang:?} differs from English");
        }
    }

    #[test]
    fn no_id_is_defined_twice() {
        for lang in Lang::ALL {
            let ids = ids(lang);
            let mut unique = ids.clone();
            unique.dedup();
            assert_eq!(ids.len(), unique.len(), "{lang:?}");
        }
    }

    #[test]
    fn arguments_are_filled_in_without_isolation_marks() {
        let t = text(
            Lang::En,
            "problem-tls-failed.what",
            &[("hp", "mail.example:587")],
        );
        assert_eq!(t, "the TLS handshake with mail.example:587 failed");
    }

    #[test]
    fn an_unknown_id_reads_as_itself() {
        assert_eq!(text(Lang::De, "no-such-id", &[]), "no-such-id");
    }

    #[test]
    fn the_browser_language_picks_the_first_spoken_one() {
        assert_eq!(Lang::negotiate("it-CH, fr-CH;q=0.9, en;q=0.8"), Lang::Fr);
        assert_eq!(Lang::negotiate("de-DE"), Lang::De);
        assert_eq!(Lang::negotiate("ja"), Lang::En);
        assert_eq!(Lang::negotiate(""), Lang::En);
    }
}
