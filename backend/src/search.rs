//! The search query language, one for both engines, and the highlights of a found message.
//!
//! A query is words, all of which must match; `"an exact phrase"`; `-word` (or `-"a
//! phrase"`) for what must not; `word*` for any word beginning so. Everything else is a
//! separator, so `OR`, `NEAR(`, parentheses and stray quotes are plain words or nothing:
//! user input never reaches either engine's own syntax. A word is a run of letters and
//! digits, compared without case and without diacritics (`cafe` finds `café`), as SQLite's
//! `unicode61` tokenizer and the Postgres configuration of the search migration cut and fold
//! it. The parsed query is written out in each engine's syntax from these words alone.

use natter_shared::limits::{MAX_QUERY_CHARS, MAX_QUERY_TERMS, MIN_PREFIX_CHARS};
use unicode_normalization::UnicodeNormalization;

/// One thing a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The words in order: one for a word, several for a phrase (or for a word that holds
    /// punctuation, such as `don't`, which the engines see as two).
    pub words: Vec<String>,
    /// The last word is a prefix.
    pub prefix: bool,
    /// It must not match.
    pub negated: bool,
}

/// A parsed query: at least one term that must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// Why a query cannot be used, in words that say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable(pub String);

impl Query {
    /// Parses `text` (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, Unusable> {
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(Unusable(format!(
                "a search is at most {MAX_QUERY_CHARS} characters (this one has {chars}): shorten it"
            )));
        }
        let mut terms = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let (raw, prefix) = if let Some(inner) = rest.strip_prefix('"') {
                // A phrase runs to the next quote, or to the end when there is none.
                let end = inner.find('"').unwrap_or(inner.len());
                let phrase = &inner[..end];
                rest = inner.get(end + 1..).unwrap_or("");
                let prefix = rest.starts_with('*');
                (phrase, prefix)
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let word = &rest[..end];
                rest = &rest[end..];
                let trimmed = word.trim_end_matches(|c: char| !c.is_alphanumeric());
                (
                    word,
                    trimmed.len() < word.len() && word[trimmed.len()..].starts_with('*'),
                )
            };
            let words: Vec<String> = words(raw).map(|(_, _, w)| w).collect();
            if words.is_empty() {
                continue;
            }
            if prefix && words.last().map_or(0, |w| w.chars().count()) < MIN_PREFIX_CHARS {
                return Err(Unusable(format!(
                    "a prefix search (word*) needs at least {MIN_PREFIX_CHARS} letters before the *"
                )));
            }
            terms.push(Term {
                words,
                prefix,
                negated,
            });
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(Unusable(format!(
                "a search has at most {MAX_QUERY_TERMS} words and phrases: leave some out"
            )));
        }
        if !terms.iter().any(|t| !t.negated) {
            return Err(Unusable(if terms.is_empty() {
                "type a word to search for (punctuation alone finds nothing)".into()
            } else {
                "add a word that must match: a search cannot be only -exclusions".into()
            }));
        }
        Ok(Self { terms })
    }

    /// The query in FTS5 syntax: every word quoted (a quoted word is never an operator),
    /// what must match joined with AND, then each exclusion with NOT.
    pub fn fts5(&self) -> String {
        let phrase = |t: &Term| {
            let mut s = format!("\"{}\"", t.words.join(" "));
            if t.prefix {
                s.push('*');
            }
            s
        };
        let wanted: Vec<String> = self
            .terms
            .iter()
            .filter(|t| !t.negated)
            .map(phrase)
            .collect();
        let mut out = format!("({})", wanted.join(" AND "));
        for t in self.terms.iter().filter(|t| t.negated) {
            out.push_str(" NOT ");
            out.push_str(&phrase(t));
        }
        out
    }

    /// The query in Postgres `to_tsquery` syntax: each word quoted, a phrase's words joined
    /// by `<->`, a prefix marked `:*`, exclusions with `!`, all joined by `&`.
    pub fn tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                let last = t.words.len() - 1;
                let words: Vec<String> = t
                    .words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let star = if t.prefix && i == last { ":*" } else { "" };
                        format!("'{w}'{star}")
                    })
                    .collect();
                let joined = words.join(" <-> ");
                match (t.negated, words.len()) {
                    (false, 1) => joined,
                    (false, _) => format!("({joined})"),
                    (true, _) => format!("!({joined})"),
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// Where `body` matches what the query asks for: ranges of characters (not bytes),
    /// sorted, merged where they touch.
    pub fn highlights(&self, body: &str) -> Vec<[u32; 2]> {
        let found: Vec<(usize, usize, String)> = words(body).collect();
        let mut ranges: Vec<[u32; 2]> = Vec::new();
        for term in self.terms.iter().filter(|t| !t.negated) {
            let n = term.words.len();
            for at in 0..found.len().saturating_sub(n - 1) {
                let matches = term.words.iter().enumerate().all(|(i, want)| {
                    let have = &found[at + i].2;
                    if term.prefix && i == n - 1 {
                        have.starts_with(want.as_str())
                    } else {
                        have == want
                    }
                });
                if matches {
                    ranges.push([found[at].0 as u32, found[at + n - 1].1 as u32]);
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<[u32; 2]> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r[0] <= last[1] => last[1] = last[1].max(r[1]),
                _ => merged.push(r),
            }
        }
        merged
    }
}

/// The words of `text`: runs of letters and digits, each with its character range and its
/// folded form (lower case, diacritics removed).
fn words(text: &str) -> impl Iterator<Item = (usize, usize, String)> + '_ {
    let mut chars = text.chars().enumerate().peekable();
    std::iter::from_fn(move || {
        let (start, first) = chars.find(|(_, c)| c.is_alphanumeric())?;
        let mut word = String::from(first);
        let mut end = start + 1;
        while let Some(&(i, c)) = chars.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            word.push(c);
            end = i + 1;
            chars.next();
        }
        Some((start, end, fold(&word)))
    })
}

/// Lower case without diacritics: `Café` is `cafe`.
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(words: &[&str], prefix: bool, negated: bool) -> Term {
        Term {
            words: words.iter().map(|w| w.to_string()).collect(),
            prefix,
            negated,
        }
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let q = Query::parse(r#"Café "Big plan" -draft deplo* -"old news" don't"#).unwrap();
        assert_eq!(
            q.terms,
            vec![
                term(&["cafe"], false, false),
                term(&["big", "plan"], false, false),
                term(&["draft"], false, true),
                term(&["deplo"], true, false),
                term(&["old", "news"], false, true),
                term(&["don", "t"], false, false),
            ]
        );
        assert_eq!(
            q.fts5(),
            r#"("cafe" AND "big plan" AND "deplo"* AND "don t") NOT "draft" NOT "old news""#
        );
        assert_eq!(
            q.tsquery(),
            "'cafe' & ('big' <-> 'plan') & !('draft') & 'deplo':* & !('old' <-> 'news') & ('don' <-> 't')"
        );
    }

    #[test]
    fn engine_syntax_in_the_input_is_only_words() {
        let q = Query::parse(r#"a OR b NEAR( c ) AND "unclosed"#).unwrap();
        let words: Vec<&str> = q.terms.iter().map(|t| t.words[0].as_str()).collect();
        assert_eq!(words, ["a", "or", "b", "near", "c", "and", "unclosed"]);
        assert!(q.fts5().matches('"').count().is_multiple_of(2));
    }

    #[test]
    fn unusable_queries_say_what_to_change() {
        for bad in ["", "   ", "\"", "*", "-", "()", "\0", "-alone", "-\"a b\""] {
            assert!(Query::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Query::parse("a*").unwrap_err().0.contains("at least"));
        assert!(
            Query::parse(&"x".repeat(1000))
                .unwrap_err()
                .0
                .contains("shorten")
        );
        assert!(
            Query::parse(&"w ".repeat(40))
                .unwrap_err()
                .0
                .contains("leave some out")
        );
    }

    #[test]
    fn highlights_are_character_ranges_of_every_match() {
        let q = Query::parse(r#"cafe "big plan" depl* -nope"#).unwrap();
        let body = "Le café: a BIG plan, big, deploys; nope";
        let spans: Vec<String> = q
            .highlights(body)
            .iter()
            .map(|[s, e]| {
                body.chars()
                    .skip(*s as usize)
                    .take((e - s) as usize)
                    .collect()
            })
            .collect();
        assert_eq!(spans, ["café", "BIG plan", "deploys"]);
    }
}
