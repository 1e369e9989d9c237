//! Text for the search scenario: message bodies whose words follow a Zipf-like law (a few
//! words in most messages, most words in few), plus ticket numbers that each appear in about
//! twenty messages of a million; and the searches run against them, common and rare.

/// Words by rank: a few real ones first, then made-up ones from syllables.
fn word(rank: usize) -> String {
    const COMMON: [&str; 24] = [
        "the", "plan", "deploy", "meeting", "build", "release", "review", "today", "team",
        "server", "client", "update", "please", "check", "thanks", "issue", "merge", "branch",
        "design", "test", "ship", "draft", "notes", "lunch",
    ];
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "du", "ga", "ho", "ji", "be", "fu",
        "ze", "wa", "xi", "co", "ly",
    ];
    if let Some(w) = COMMON.get(rank) {
        return (*w).to_owned();
    }
    let mut n = rank;
    let mut out = String::new();
    for _ in 0..3 {
        out.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    out
}

/// How many different words the bodies use.
const VOCABULARY: usize = 8_000;
/// How many different ticket numbers: each in about twenty of a million messages.
const TICKETS: u64 = 50_000;

/// A small, fast, deterministic generator (xorshift64*), seeded per message.
struct Rng(u64);

impl Rng {
    fn new(sender: usize, seq: usize) -> Self {
        Self(((sender as u64) << 32 ^ seq as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The body of message `seq` of `sender`: 6 to 13 words, ranks drawn log-uniformly (word `k`
/// about as often as 1/k), and one message in two names a ticket.
pub fn body(sender: usize, seq: usize) -> String {
    let mut rng = Rng::new(sender, seq);
    let count = 6 + (rng.next() % 8) as usize;
    let mut words: Vec<String> = (0..count)
        .map(|_| {
            let rank = ((VOCABULARY as f64).powf(rng.unit()) as usize).saturating_sub(1);
            word(rank)
        })
        .collect();
    if rng.next().is_multiple_of(2) {
        words.push(format!("ticket{}", rng.next() % TICKETS));
    }
    words.join(" ")
}

/// The searches of the scenario, from the most common words to the rarest, with a phrase,
/// a prefix, an exclusion and filters' worth of words in between.
pub fn queries() -> Vec<String> {
    let w = word;
    vec![
        w(0),
        w(1),
        format!("{} {}", w(2), w(3)),
        format!("\"{} {}\"", w(0), w(1)),
        "pl*".to_owned(),
        format!("{} -{}", w(4), w(0)),
        w(10),
        w(20),
        format!("{} {}", w(5), w(15)),
        w(60),
        w(150),
        format!("{}*", &w(200)[..4]),
        w(400),
        w(1_000),
        w(3_000),
        w(7_000),
        "ticket123".to_owned(),
        "ticket4567 the".to_owned(),
        "\"ticket31337\"".to_owned(),
        "nosuchwordanywhere".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_deterministic_and_common_words_are_common() {
        assert_eq!(body(3, 4), body(3, 4));
        let bodies: Vec<String> = (0..10_000).map(|i| body(i % 100, i / 100)).collect();
        let with = |w: &str| {
            bodies
                .iter()
                .filter(|b| b.split(' ').any(|x| x == w))
                .count()
        };
        assert!(with("the") > 3_000, "{}", with("the"));
        assert!(with(&word(3_000)) < 50);
        assert_eq!(queries().len(), 20);
    }
}
